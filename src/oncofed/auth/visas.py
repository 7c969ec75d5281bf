"""GA4GH Passports and Visas (Passport spec v1.2): the hub's DACs sign ControlledAccessGrants
visas, and every clearinghouse — a node, before it releases records — decides with
``controlled_datasets`` which datasets a Passport (or a bare list of visas) opens.

The clearinghouse trusts nothing it was not told to (``TrustConfig``): a visa counts only if
its issuer, the key that signed it, and the assertion source it speaks for are all trusted;
an untrusted visa is ignored with a reason, never the whole Passport. Only RS256 and ES256 are
accepted. ``conditions`` are evaluated (DNF with ``const:``, ``pattern:``, ``split_pattern:``),
visas of other identities count only through trusted ``LinkedIdentities`` visas, ``value`` and
``source`` compare exactly.

Expiry follows rule (B) of the spec: a grant holds while ``now + ttl < exp`` of every visa and
link it rests on. That rule needs working revocation, so an issuer that publishes a revocation
list (``revocations_url``) is believed only while the clearinghouse holds a current list from
it: a stale list fails closed. Everything here is pure — keys behind an allow-listed ``jku``
are fetched beforehand (``oidc.refresh_visa_keys``), never while deciding.

Errors and reasons never include a token: tokens are credentials, and reasons reach logs.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, unquote

import jwt
from pydantic import BaseModel, ConfigDict, Field

from oncofed.auth import keys
from oncofed.auth.tokens import TokenError

VISA_TYP = "vnd.ga4gh.visa+jwt"
PASSPORT_TYP = "vnd.ga4gh.passport+jwt"
REVOCATIONS_TYP = "vnd.oncofed.revocations+jwt"
CONTROLLED, LINKED = "ControlledAccessGrants", "LinkedIdentities"
AUTHORITIES = ("self", "peer", "system", "so", "dac")
MAX_VALUE = 255  # URL-typed values are opaque identifiers of at most 255 characters
LEEWAY_S = 60.0  # clock difference tolerated for iat/nbf (never for exp: access ends at exp)
CLAUSE_CLAIMS = ("value", "source", "by", "sub", "iss")  # what a condition clause may test besides type


class VisaError(TokenError):
    """A Passport or revocation list that fails validation: the request is refused (401)."""


class _Ignored(Exception):
    """One visa that does not count; the message says why."""


@dataclass(frozen=True)
class Identity:
    issuer: str
    subject: str


class TrustedIssuer(BaseModel):
    """One party whose signed statements a clearinghouse believes, and how far."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(description="the `iss` of its visas (and Passports)")
    keys: list[dict] = Field([], description="its public JWKs, obtained out of band")
    jku: list[str] = Field([], description="key-set URLs it may name in a `jku` header (the allow-list)")
    sources: list[str] = Field([], description="assertion sources it may speak for; `?` and `*` are wildcards")
    passports: bool = Field(False, description="trusted to sign Passports (as a Broker), not only visas")
    grant_by: list[str] = Field(["dac"], description="authorities (`by`) accepted for ControlledAccessGrants")
    revocations_url: str | None = Field(
        None, description="where it publishes its signed revocation list; if set, its visas count only "
                          "while a current list from it is held")
    also_known_as: list[str] = Field(
        [], description="issuer names under which it issues tokens for the same subjects (an oncofed hub "
                        "signs researcher tokens as its id and visas as its URL)")


class TrustConfig(BaseModel):
    """What a clearinghouse trusts; ``fetched`` holds key sets already loaded from allow-listed
    ``jku`` URLs (by URL), so that deciding never fetches."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuers: list[TrustedIssuer] = []
    fetched: dict[str, list[dict]] = {}
    leeway_s: float = LEEWAY_S

    def issuer(self, iss: str) -> TrustedIssuer | None:
        return next((t for t in self.issuers if t.issuer == iss), None)

    def with_keys(self, url: str, jwks: Mapping[str, object]) -> TrustConfig:
        """This config with the key set found at an allow-listed ``url``."""
        if not any(url in t.jku for t in self.issuers):
            raise ValueError(f"{url} is on no trusted issuer's jku allow-list")
        found = jwks.get("keys")
        if not isinstance(found, list):
            raise ValueError(f"{url} did not serve a JWKS ({{'keys': [...]}})")
        return self.model_copy(update={"fetched": {**self.fetched, url: [k for k in found if isinstance(k, dict)]}})

    def canonical(self, identity: Identity) -> Identity:
        """An identity under its trusted issuer's visa name (a hub token's id → the hub's URL)."""
        for t in self.issuers:
            if identity.issuer in t.also_known_as:
                return Identity(t.issuer, identity.subject)
        return identity


@dataclass(frozen=True)
class RevocationList:
    """Visa ids an issuer has revoked, as of ``issued_at``; believed until ``expires_at``."""

    issuer: str
    issued_at: float
    expires_at: float
    revoked: frozenset[str]


@dataclass(frozen=True)
class Grant:
    """Access to one dataset, and the permit (visa) that gives it."""

    dataset: str  # the visa's value: the dataset's persistent identifier
    source: str  # the DAC that granted it
    by: str
    issuer: str
    subject: str
    permit: str | None  # the visa's jti
    asserted: int
    expires_at: float  # the earliest exp of the visas and links it rests on


@dataclass(frozen=True)
class Ignored:
    """A visa that did not count, and why (index: its position in the Passport)."""

    index: int
    reason: str
    issuer: str | None = None
    type: str | None = None
    permit: str | None = None


@dataclass(frozen=True)
class Decision:
    holder: Identity
    grants: dict[str, Grant]  # dataset identifier → grant
    ignored: tuple[Ignored, ...]


@dataclass(frozen=True)
class _Visa:
    index: int
    issuer: str
    subject: str
    jti: str | None
    exp: float
    type: str
    value: str
    source: str
    by: str | None
    asserted: int
    conditions: tuple[tuple[dict[str, str], ...], ...] | None
    trusted: TrustedIssuer

    @property
    def identity(self) -> Identity:
        return Identity(self.issuer, self.subject)

    def claim(self, name: str) -> str | None:
        return {"value": self.value, "source": self.source, "by": self.by, "sub": self.subject,
                "iss": self.issuer}.get(name)


# oncofed's identifiers ----------------------------------------------------------------------------


def dataset_value(hub_url: str, node_id: str, dataset_id: str) -> str:
    """The identifier a hub's grants carry for a node's dataset (the visa's value): the URL of
    the dataset's page in the hub's catalogue. A node compares it with the one it computes
    from its own hub's URL, so a grant naming another issuer's URL never opens its data."""
    return f"{hub_url.rstrip('/')}/catalogue/{node_id}/{dataset_id}"


def dac_source(hub_url: str, node_id: str, dataset_id: str) -> str:
    """The URL of the data access committee that decides on a dataset (the visa's source)."""
    return f"{hub_url.rstrip('/')}/dacs/{node_id}/{dataset_id}"


# signing ------------------------------------------------------------------------------------------


def issue_visa(key: keys.VisaKey, *, issuer: str, subject: str, jku: str, type: str, value: str, source: str,
               by: str | None, asserted: float, expires_at: float, now: float | None = None,
               jti: str | None = None, conditions: list[list[dict[str, str]]] | None = None) -> str:
    """A Visa Document Token (ES256, typ vnd.ga4gh.visa+jwt, kid and jku in the header)."""
    if len(value) > MAX_VALUE:
        raise ValueError(f"a visa value has at most {MAX_VALUE} characters")
    if by is not None and by not in AUTHORITIES:
        raise ValueError(f"unknown authority {by!r}; expected one of {', '.join(AUTHORITIES)}")
    if conditions is not None:
        try:
            _conditions(conditions)
        except _Ignored as e:
            raise ValueError(str(e)) from None
    iat = int(time.time() if now is None else now)
    visa = {"type": type, "asserted": int(asserted), "value": value, "source": source}
    if by is not None:
        visa["by"] = by
    if conditions:
        visa["conditions"] = conditions
    payload = {"iss": issuer, "sub": subject, "iat": iat, "exp": int(expires_at), "jti": jti or str(uuid.uuid4()),
               "ga4gh_visa_v1": visa}
    return _sign(key, payload, VISA_TYP, jku)


def linked_identities(others: Iterable[Identity]) -> str:
    """The value of a LinkedIdentities visa: ``<url-encoded sub>,<url-encoded iss>`` pairs joined by ``;``."""
    return ";".join(f"{quote(i.subject, safe='')},{quote(i.issuer, safe='')}" for i in others)


def issue_passport(key: keys.VisaKey, *, issuer: str, subject: str, jku: str, visas: Sequence[str],
                   ttl_s: float, now: float | None = None) -> str:
    """A Passport JWT carrying ``visas`` (JWS strings), valid for ``ttl_s``."""
    iat = int(time.time() if now is None else now)
    payload = {"iss": issuer, "sub": subject, "iat": iat, "exp": iat + int(ttl_s), "jti": str(uuid.uuid4()),
               "ga4gh_passport_v1": list(visas)}
    return _sign(key, payload, PASSPORT_TYP, jku)


def issue_revocations(key: keys.VisaKey, *, issuer: str, jku: str, revoked: Iterable[str], ttl_s: float,
                      now: float | None = None) -> str:
    """The issuer's signed list of revoked visa ids; a clearinghouse believes it for ``ttl_s``."""
    iat = int(time.time() if now is None else now)
    payload = {"iss": issuer, "iat": iat, "exp": iat + int(ttl_s), "revoked": sorted(set(revoked))}
    return _sign(key, payload, REVOCATIONS_TYP, jku)


def _sign(key: keys.VisaKey, payload: dict, typ: str, jku: str) -> str:
    header = {"typ": typ, "kid": keys.visa_jwk(key)["kid"], "jku": jku}
    return jwt.encode(payload, key, algorithm="ES256", headers=header)


# verifying ----------------------------------------------------------------------------------------


def verify_revocations(token: str, trust: TrustConfig, now: float | None = None) -> RevocationList:
    """A revocation list signed by a trusted issuer that publishes one; VisaError otherwise."""
    now = time.time() if now is None else now
    try:
        _, payload, trusted = _verify(token, trust, now, typs=(REVOCATIONS_TYP,), with_subject=False)
    except _Ignored as e:
        raise VisaError(f"the revocation list is not valid: {e}") from None
    revoked = payload.get("revoked")
    if trusted.revocations_url is None:
        raise VisaError(f"{trusted.issuer} is not trusted to publish revocations")
    if not isinstance(revoked, list) or not all(isinstance(j, str) for j in revoked):
        raise VisaError("the revocation list is malformed (`revoked` must be a list of visa ids)")
    return RevocationList(trusted.issuer, payload["iat"], payload["exp"], frozenset(revoked))


def controlled_datasets(passport: str | Sequence[str], trust: TrustConfig, *, now: float,
                        revocations: Iterable[RevocationList] = (), holder: Identity | None = None,
                        ttl_s: float = 0.0) -> Decision:
    """Which datasets ``holder`` may reach at record level for the next ``ttl_s`` seconds.

    ``passport``: a Passport JWT, or the bare visas (e.g. from a Broker's UserInfo). ``holder``:
    who is asking, as the clearinghouse authenticated them (default: the Passport's subject;
    required with bare visas). A Passport that fails validation raises VisaError; a visa that
    does not count is listed in ``ignored`` with its reason.
    """
    limit = math.inf
    if isinstance(passport, str):
        try:
            _, payload, trusted = _verify(passport, trust, now, typs=(PASSPORT_TYP,))
        except _Ignored as e:
            raise VisaError(f"the passport is not valid: {e}") from None
        if not trusted.passports:
            raise VisaError(f"{trusted.issuer} is not trusted to issue passports")
        tokens = payload.get("ga4gh_passport_v1")
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise VisaError("the passport is malformed (ga4gh_passport_v1 must be a list of visa JWTs)")
        holder = holder or Identity(payload["iss"], payload["sub"])
        limit = payload["exp"]
    elif holder is None:
        raise ValueError("bare visas need the holder's identity")
    else:
        tokens = list(passport)
    holder = trust.canonical(holder)
    current = _current_lists(revocations, now)
    valid, ignored = [], []
    for index, token in enumerate(tokens):
        try:
            valid.append(_visa(index, token, trust, now, current))
        except _Ignored as e:
            ignored.append(_ignored(index, token, str(e)))
    reach = _linked(holder, valid, trust, limit)
    grants: dict[str, Grant] = {}
    for v in valid:
        if v.type != CONTROLLED:
            continue
        try:
            grant = _grant(v, valid, reach, now, ttl_s)
        except _Ignored as e:
            ignored.append(Ignored(v.index, str(e), v.issuer, v.type, v.jti))
            continue
        if grant.dataset not in grants or grants[grant.dataset].expires_at < grant.expires_at:
            grants[grant.dataset] = grant
    return Decision(holder, grants, tuple(sorted(ignored, key=lambda i: i.index)))


def _grant(v: _Visa, valid: list[_Visa], reach: dict[Identity, float], now: float, ttl_s: float) -> Grant:
    if v.identity not in reach:
        raise _Ignored(f"it was issued to {v.subject!r} at {v.issuer}, an identity the holder is not linked to "
                       "by a trusted LinkedIdentities visa")
    if v.by is None:
        raise _Ignored("it has no `by`: the granting authority is unknown")
    if v.by not in v.trusted.grant_by:
        raise _Ignored(f"it was granted by {v.by!r}; this clearinghouse accepts grants by "
                       f"{', '.join(v.trusted.grant_by) or 'nobody'} from {v.issuer}")
    limit = min(v.exp, reach[v.identity])
    if v.conditions is not None:
        limit = min(limit, _conditions_limit(v.conditions, valid, reach))
    if not now + ttl_s < limit:
        raise _Ignored("it (or a visa or link it rests on) expires before the access would end")
    return Grant(v.value, v.source, v.by, v.issuer, v.subject, v.jti, v.asserted, limit)


def _conditions_limit(conditions, valid: list[_Visa], reach: dict[Identity, float]) -> float:
    """The latest time until which some alternative holds: each of its clauses matched by a
    valid visa of the holder without conditions of its own (all claims of one clause by the
    same visa)."""
    usable = [v for v in valid if v.conditions is None and v.identity in reach]
    best = -math.inf
    for alternative in conditions:
        limits = []
        for clause in alternative:
            matches = [min(v.exp, reach[v.identity]) for v in usable if _clause_matches(clause, v)]
            if not matches:
                break
            limits.append(max(matches))
        else:
            best = max(best, min(limits))
    if best == -math.inf:
        raise _Ignored("its conditions are not met by the other visas in the passport")
    return best


def _clause_matches(clause: Mapping[str, str], v: _Visa) -> bool:
    if clause["type"] != v.type:
        return False
    return all(name in CLAUSE_CLAIMS and _match(spec, v.claim(name)) for name, spec in clause.items() if name != "type")


def _match(spec: str, actual: str | None) -> bool:
    """One clause claim: ``const:`` exact, ``pattern:`` with ``?``/``*``, ``split_pattern:`` any
    ``;``-separated part; an unknown prefix matches nothing."""
    if actual is None:
        return False
    kind, sep, want = spec.partition(":")
    if not sep:
        return False
    if kind == "const":
        return actual == want
    if kind == "pattern":
        return _glob(want).fullmatch(actual) is not None
    if kind == "split_pattern":
        return any(_glob(want).fullmatch(part) for part in actual.split(";"))
    return False


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern:
    # `?` one character, `*` any run, everything else literal (the spec has no escaping)
    return re.compile("".join("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern), re.DOTALL)


def _linked(holder: Identity, valid: list[_Visa], trust: TrustConfig, limit: float) -> dict[Identity, float]:
    """The identities that are the holder, each with the time its link to the holder lasts
    (the best chain of trusted LinkedIdentities visas, each link as long as its visa)."""
    edges: list[tuple[Identity, Identity, float]] = []
    for v in valid:
        if v.type != LINKED or v.conditions is not None:
            continue
        for other in _pairs(v.value):
            edges.append((v.identity, trust.canonical(other), v.exp))
    reach = {holder: limit}
    changed = True
    while changed:
        changed = False
        for a, b, exp in edges:
            for x, y in ((a, b), (b, a)):
                if x in reach and min(reach[x], exp) > reach.get(y, -math.inf):
                    reach[y] = min(reach[x], exp)
                    changed = True
    return reach


def _pairs(value: str) -> list[Identity]:
    pairs = []
    for part in value.split(";"):
        sub, sep, iss = part.partition(",")
        if sep and sub and iss:
            pairs.append(Identity(unquote(iss), unquote(sub)))
    return pairs


def _current_lists(revocations: Iterable[RevocationList], now: float) -> dict[str, frozenset[str]]:
    """Revoked ids by issuer, from every list still current (a revocation never lapses before
    its permit ends, so joining lists is always safe)."""
    current: dict[str, frozenset[str]] = {}
    for r in revocations:
        if r.expires_at > now:
            current[r.issuer] = current.get(r.issuer, frozenset()) | r.revoked
    return current


def _visa(index: int, token: str, trust: TrustConfig, now: float, revocations: dict[str, frozenset[str]]) -> _Visa:
    header, payload, trusted = _verify(token, trust, now, typs=(None, "JWT", VISA_TYP))
    scope = payload.get("scope")
    if isinstance(scope, str) and "openid" in scope.split():
        raise _Ignored("it is a visa access token (scope openid), a deprecated form not accepted here")
    if "jku" not in header and scope is None:
        raise _Ignored("it has neither a jku header nor a scope claim")
    claim = payload.get("ga4gh_visa_v1")
    if not isinstance(claim, dict):
        raise _Ignored("it has no ga4gh_visa_v1 object")
    kind, value, source, asserted = (claim.get(k) for k in ("type", "value", "source", "asserted"))
    if not all(isinstance(x, str) and x for x in (kind, value, source)) or not _is_int(asserted):
        raise _Ignored("its ga4gh_visa_v1 lacks type, value, source or asserted (or has them of the wrong kind)")
    if len(value) > MAX_VALUE:
        raise _Ignored(f"its value is longer than {MAX_VALUE} characters")
    if asserted > now + trust.leeway_s:
        raise _Ignored("it was asserted in the future")
    if not any(_glob(p).fullmatch(source) for p in trusted.sources):
        raise _Ignored(f"its source {source} is not one {trusted.issuer} is trusted to speak for")
    conditions = None
    if "conditions" in claim and claim["conditions"] not in (None, []):
        conditions = _conditions(claim["conditions"])
    jti = payload.get("jti")
    if trusted.revocations_url is not None:
        current = revocations.get(trusted.issuer)
        if current is None:
            raise _Ignored(f"there is no current revocation list from {trusted.issuer} "
                           f"(fetch it from {trusted.revocations_url})")
        if not isinstance(jti, str):
            raise _Ignored("it has no jti, so it cannot be checked against revocations")
        if jti in current:
            raise _Ignored("it has been revoked")
    by = claim.get("by") if claim.get("by") in AUTHORITIES else None
    return _Visa(index, trusted.issuer, payload["sub"], jti if isinstance(jti, str) else None, payload["exp"],
                 kind, value, source, by, asserted, conditions, trusted)


def _conditions(raw: object) -> tuple[tuple[dict[str, str], ...], ...]:
    """Conditions in disjunctive normal form, checked for shape (not for meaning: a clause
    naming an unknown claim or prefix simply never matches)."""
    ok = (isinstance(raw, list) and raw and all(
        isinstance(alt, list) and alt and all(
            isinstance(c, dict) and isinstance(c.get("type"), str) and len(c) >= 2
            and all(isinstance(k, str) and isinstance(v, str) for k, v in c.items())
            for c in alt)
        for alt in raw))
    if not ok:
        raise _Ignored("its conditions are not a list of alternatives, each a non-empty list of clauses "
                       "{type, claim: 'prefix:value'}")
    return tuple(tuple(dict(c) for c in alt) for alt in raw)


def _verify(token: str, trust: TrustConfig, now: float, typs: tuple[str | None, ...],
            with_subject: bool = True) -> tuple[dict, dict, TrustedIssuer]:
    """Header and payload of a JWS signed by a trusted issuer with a trusted key, valid now."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise _Ignored("it is not a signed JWT") from None
    alg = header.get("alg")
    if alg not in keys.GA4GH_ALGORITHMS:
        raise _Ignored(f"it is signed with {alg!r}; only {' and '.join(keys.GA4GH_ALGORITHMS)} are accepted")
    if header.get("typ") not in typs:
        raise _Ignored(f"its type {header.get('typ')!r} is not {' or '.join(repr(t) for t in typs if t)}")
    iss = unverified.get("iss")
    trusted = trust.issuer(iss) if isinstance(iss, str) else None
    if trusted is None:
        raise _Ignored(f"its issuer {iss!r} is not trusted" if isinstance(iss, str) else "it names no issuer")
    key = _key(header, alg, trusted, trust)
    try:
        payload = jwt.decode(token, key, algorithms=[alg], options={
            "verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False})
    except jwt.InvalidSignatureError:
        raise _Ignored("its signature is not valid") from None
    except jwt.InvalidTokenError:
        raise _Ignored("it is malformed") from None
    for claim in ("iat", "exp"):
        if not _is_number(payload.get(claim)):
            raise _Ignored(f"it lacks a numeric {claim!r}")
    if payload["iat"] > now + trust.leeway_s or payload.get("nbf", -math.inf) > now + trust.leeway_s:
        raise _Ignored("it is not valid yet (iat or nbf in the future)")
    if payload["exp"] <= now:
        raise _Ignored("it has expired")
    if payload["iat"] > payload["exp"]:
        raise _Ignored("it expires before it was issued")
    if with_subject and not isinstance(payload.get("sub"), str):
        raise _Ignored("it lacks a `sub`")
    return header, payload, trusted


def _key(header: dict, alg: str, trusted: TrustedIssuer, trust: TrustConfig):
    """The trusted key named by the header: the issuer's out-of-band keys and those loaded from
    its allow-listed jku URLs. A jku off the allow-list is refused, never fetched."""
    jku = header.get("jku")
    if jku is not None and jku not in trusted.jku:
        raise _Ignored(f"its jku {jku!r} is not on the allow-list for {trusted.issuer}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise _Ignored("its header names no key (kid)")
    candidates = list(trusted.keys)
    for url in trusted.jku:
        candidates += trust.fetched.get(url, [])
    jwk = next((k for k in candidates if k.get("kid") == kid), None)
    if jwk is None:
        loaded = [u for u in trusted.jku if u in trust.fetched]
        hint = "" if jku is None or jku in loaded else f"; the key set at {jku} has not been loaded"
        raise _Ignored(f"its key {kid!r} is not a trusted key of {trusted.issuer}{hint}")
    try:
        return keys.ga4gh_verifier(jwk, alg)
    except keys.KeyFormatError as e:
        raise _Ignored(f"its key {kid!r} cannot verify it: {e}") from None


def _ignored(index: int, token: str, reason: str) -> Ignored:
    """An ignored visa described by what it claims (unverified: for the reason only)."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return Ignored(index, reason)
    claim = payload.get("ga4gh_visa_v1") if isinstance(payload.get("ga4gh_visa_v1"), dict) else {}
    return Ignored(index, reason, _text(payload.get("iss")), _text(claim.get("type")), _text(payload.get("jti")))


def _text(x: object) -> str | None:
    return x if isinstance(x, str) else None


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
