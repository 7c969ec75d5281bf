"""Tokens of external OpenID Connect issuers (a university's or ELIXIR's login), accepted by
their published keys (JWKS), and the documents through which oncofed publishes its own keys.

An issuer is trusted only when configured (``Issuer``): its tokens must carry its ``iss``, the
configured audience, and a signature by one of its keys — fetched from its configured JWKS URL
(cached, at most once a minute when an unknown key id appears, backing off after failures) or
given inline. Only RS256 and ES256 are accepted, as the GA4GH AAI profile requires.

Errors never include the token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from oncofed import web
from oncofed.auth import keys
from oncofed.auth.tokens import TokenError
from oncofed.auth.visas import TrustConfig

LEEWAY_S = 60.0
CACHE_S = 300.0  # how long a fetched key set is used before it is fetched again
REFETCH_S = 60.0  # at most this often for a key id the cached set lacks (key rotation)
BACKOFF_MAX_S = 3600.0
MAX_SUBJECT = 255  # OIDC Core §2: `sub` is at most 255 ASCII characters


class OidcError(TokenError):
    """A token of an external issuer that proves nothing (401); says why, without the token."""


class Issuer(BaseModel):
    """An external OIDC issuer this hub or node accepts researcher tokens from."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    issuer: str = Field(description="its `iss`, exactly as in its tokens")
    audience: str = Field(description="the `aud` its tokens must carry for us (our client id)")
    jwks_uri: str | None = Field(None, description="where it publishes its keys")
    keys: list[dict] = Field([], description="its public JWKs, given inline instead of (or besides) jwks_uri")

    @model_validator(mode="after")
    def _has_keys(self) -> Issuer:
        if not self.jwks_uri and not self.keys:
            raise ValueError(f"issuer {self.issuer}: give jwks_uri or inline keys")
        return self


@dataclass(frozen=True)
class ExternalIdentity:
    issuer: str
    subject: str
    name: str | None
    expires_at: float


@dataclass
class _Entry:
    jwks: list[dict]
    fetched_at: float


class JwksCache:
    """Key sets fetched over HTTP(S), by URL, shared by every verification in a process."""

    def __init__(self, client: httpx.Client | None = None, timeout_s: float = 5.0):
        self._client = client or web.client(timeout=timeout_s)
        self._entries: dict[str, _Entry] = {}
        self._failures: dict[str, tuple[int, float]] = {}  # url → (failures in a row, next attempt)
        self._lock = threading.Lock()

    def keys(self, url: str, kid: str | None = None, now: float | None = None) -> list[dict]:
        """The keys published at ``url``: cached, fetched again when stale, or when ``kid`` is
        not among them and the last fetch is over a minute old. Raises OidcError if the set
        cannot be had."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._entries.get(url)
            stale = entry is None or now - entry.fetched_at > CACHE_S
            missing = entry is not None and kid is not None and all(k.get("kid") != kid for k in entry.jwks)
            if stale or (missing and now - entry.fetched_at > REFETCH_S):
                failures, next_try = self._failures.get(url, (0, 0.0))
                if now >= next_try:
                    try:
                        entry = self._entries[url] = _Entry(self._fetch(url), now)
                        self._failures.pop(url, None)
                    except OidcError:
                        delay = min(REFETCH_S * 2 ** failures, BACKOFF_MAX_S)
                        self._failures[url] = (failures + 1, now + delay)
                        if entry is None:
                            raise
                elif entry is None:
                    raise OidcError(f"the keys at {url} could not be fetched recently; retrying later")
            return entry.jwks

    def _fetch(self, url: str) -> list[dict]:
        try:
            response = self._client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise OidcError(f"cannot fetch the keys at {url}: {e}") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise OidcError(f"{url} does not serve a JWKS ({{'keys': [...]}})")
        return [k for k in data["keys"] if isinstance(k, dict)]

    def close(self) -> None:
        self._client.close()


def verify(token: str, issuers: Sequence[Issuer], cache: JwksCache, now: float | None = None,
           leeway_s: float = LEEWAY_S) -> ExternalIdentity:
    """Who an external issuer's token names, or OidcError saying what is wrong."""
    now = time.time() if now is None else now
    try:
        header = jwt.get_unverified_header(token)
        iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise OidcError("the token is malformed (not a signed JWT)") from None
    issuer = next((i for i in issuers if i.issuer == iss), None)
    if issuer is None:
        raise OidcError(f"the token's issuer {iss!r} is not one this service trusts" if isinstance(iss, str)
                        else "the token names no issuer")
    alg = header.get("alg")
    if alg not in keys.GA4GH_ALGORITHMS:
        raise OidcError(f"the token is signed with {alg!r}; only {' and '.join(keys.GA4GH_ALGORITHMS)} are accepted")
    kid = header.get("kid")
    candidates = list(issuer.keys) + (cache.keys(issuer.jwks_uri, kid if isinstance(kid, str) else None)
                                      if issuer.jwks_uri else [])
    jwk = next((k for k in candidates if kid is not None and k.get("kid") == kid), None)
    if jwk is None and kid is None and len(candidates) == 1:
        jwk = candidates[0]  # an issuer with a single key may leave kid out
    if jwk is None:
        raise OidcError(f"the token is signed by a key {issuer.issuer} does not publish")
    try:
        key = keys.ga4gh_verifier(jwk, alg)
    except keys.KeyFormatError as e:
        raise OidcError(f"the token's key cannot verify it: {e}") from None
    try:
        claims = jwt.decode(token, key, algorithms=[alg], audience=issuer.audience, issuer=issuer.issuer,
                            leeway=leeway_s, options={"require": ["iss", "sub", "aud", "iat", "exp"],
                                                      "verify_exp": False, "verify_iat": False, "verify_nbf": False})
    except jwt.InvalidSignatureError:
        raise OidcError("the token's signature is not valid") from None
    except jwt.InvalidAudienceError:
        raise OidcError(f"the token is not meant for {issuer.audience!r}") from None
    except jwt.MissingRequiredClaimError as e:
        raise OidcError(f"the token lacks the {e.claim!r} claim") from None
    except jwt.InvalidTokenError:
        raise OidcError("the token is malformed") from None
    # times checked against ``now`` here, not the clock inside the JWT library
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (exp, iat, nbf)):
        raise OidcError("the token's times (iat, exp, nbf) are not numbers")
    if exp <= now - leeway_s:
        raise OidcError("the token has expired; sign in again")
    if iat > now + leeway_s or nbf > now + leeway_s:
        raise OidcError("the token is not valid yet: check the clocks of issuer and verifier")
    sub, name = claims["sub"], claims.get("name")
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUBJECT or "\x00" in sub:
        raise OidcError(f"the token's subject is empty, longer than {MAX_SUBJECT} characters or not text")
    name = name.replace("\x00", "") if isinstance(name, str) else None
    return ExternalIdentity(issuer.issuer, sub, name, exp)


def refresh_visa_keys(trust: TrustConfig, cache: JwksCache) -> TrustConfig:
    """The trust config with the key sets of every allow-listed ``jku`` loaded: the one place
    a clearinghouse fetches visa keys, and only from URLs on the allow-list. A set that cannot
    be fetched keeps its last copy (the visas it signs stay unverifiable until then)."""
    for url in sorted({u for t in trust.issuers for u in t.jku}):
        try:
            trust = trust.with_keys(url, {"keys": cache.keys(url)})
        except OidcError:
            continue
    return trust


def jwks(*public_keys: Mapping[str, object]) -> dict:
    """A JWKS document of public JWKs."""
    return {"keys": [dict(k) for k in public_keys]}


def discovery(issuer: str, *, passport_endpoint: str, revocations_endpoint: str, trust_endpoint: str) -> dict:
    """The hub's OpenID Provider metadata (``/.well-known/openid-configuration``): where its keys
    are, and (GA4GH / oncofed extensions) where Passports, revocations and its trust config are."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "scopes_supported": ["openid", "ga4gh_passport_v1"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "EdDSA"],
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "jti", "ga4gh_passport_v1"],
        "ga4gh_passport_endpoint": passport_endpoint,
        "oncofed_revocations_endpoint": revocations_endpoint,
        "oncofed_visa_trust_endpoint": trust_endpoint,
    }
