"""Who is calling the hub and what they may do: hub tokens for local accounts, tokens of
configured external OIDC issuers, the roles of users, and the hub's own visa identity.

    PATH/identity.yaml  the hub's public URL (the `iss` of its visas), external OIDC issuers
    PATH/visa.key       the ES256 key that signs visas, Passports and revocation lists (made on first use)

Every hub user is a researcher; roles add to that: ``dac`` for one dataset (scope
``node/dataset``), ``steward`` of one node (scope ``node``), ``admin`` of the hub. A user who
signs in with an external issuer's token becomes a hub user on first sight, linked to that
{issuer, subject}, and has the roles given to that user.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import yaml
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, delete, select
from sqlalchemy.exc import IntegrityError

from oncofed import ids
from oncofed.auth import keys, oidc, tokens, visas
from oncofed.errors import OncofedError
from oncofed.hub.home import HubHome
from oncofed.hub.store import HubStore, HubStoreError, now, users

CONFIG, VISA_KEY = "identity.yaml", "visa.key"
ROLES = ("researcher", "dac", "steward", "admin")
JWKS_PATH = "/.well-known/jwks.json"
REVOCATIONS_PATH = "/api/access/revocations"

metadata = MetaData()

user_roles = Table(
    "user_roles", metadata,
    Column("user_id", String(64), nullable=False),
    Column("role", String(20), nullable=False),
    Column("scope", String(140), nullable=False),  # "" | node | node/dataset
    Column("granted_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("user_id", "role", "scope"),
)

external_identities = Table(
    "external_identities", metadata,
    Column("issuer", String(500), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("user_id", String(64), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("issuer", "subject"),
)


class IdentityError(OncofedError):
    pass


class IdentityConfig(BaseModel):
    """identity.yaml"""

    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, description="the hub's public base URL, e.g. https://hub.example.org")
    issuers: list[oidc.Issuer] = Field([], description="external OIDC issuers whose tokens the hub accepts")
    passport_ttl_s: int = Field(3600, ge=60, le=86400, description="how long a Passport the hub issues lasts")
    revocations_ttl_s: int = Field(600, ge=10, le=86400,
                                   description="how long a clearinghouse may rely on one revocation list")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v.rstrip("/") if v else v


def load_config(path: Path) -> IdentityConfig:
    file = path / CONFIG
    if not file.is_file():
        return IdentityConfig()
    try:
        return IdentityConfig.model_validate(yaml.safe_load(file.read_text()) or {})
    except (ValidationError, yaml.YAMLError) as e:
        raise IdentityError(f"{file} is not a valid identity configuration: {e}") from None


def save_config(path: Path, config: IdentityConfig) -> None:
    (path / CONFIG).write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_defaults=True), sort_keys=False))


def visa_key(path: Path) -> keys.VisaKey:
    """The hub's visa key, made the first time it is needed (several workers may race: one
    writes it, the others read it)."""
    file = path / VISA_KEY
    if not file.exists():
        try:
            keys.save_private(keys.generate_visa_key(), file)
        except FileExistsError:
            pass
    return keys.load_visa_key(file)


def parse_scope(role: str, scope: str | None) -> str:
    """A role's scope in its one spelling, or IdentityError saying what the role needs."""
    if role not in ROLES:
        raise IdentityError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "researcher":
        raise IdentityError("every hub user is a researcher already; no need to grant it")
    parts = (scope or "").split("/") if scope else []
    if role == "dac" and not (len(parts) == 2 and all(ids.SLUG.fullmatch(p) for p in parts)):
        raise IdentityError("a DAC member decides for one dataset: give it as NODE/DATASET")
    if role == "steward" and not (len(parts) == 1 and ids.SLUG.fullmatch(parts[0])):
        raise IdentityError("a steward looks after one node: give its id")
    if role == "admin" and parts:
        raise IdentityError("the admin role is for the whole hub and takes no scope")
    return "/".join(parts)


@dataclass(frozen=True)
class Caller:
    """An authenticated user of the hub and their roles."""

    user_id: str
    name: str
    roles: frozenset[tuple[str, str]]
    external: oidc.ExternalIdentity | None = None  # the external identity this call was made with

    @property
    def is_admin(self) -> bool:
        return ("admin", "") in self.roles

    def is_dac(self, node: str, dataset: str) -> bool:
        return ("dac", f"{node}/{dataset}") in self.roles

    def is_steward(self, node: str) -> bool:
        return ("steward", node) in self.roles

    def role_list(self) -> list[dict]:
        return [{"role": "researcher", "scope": ""}] + [{"role": r, "scope": s} for r, s in sorted(self.roles)]


class Identities:
    """Roles and external identities of hub users, in the hub's database."""

    def __init__(self, store: HubStore):
        self.store = store

    def grant(self, user_id: str, role: str, scope: str | None = None) -> None:
        scope = parse_scope(role, scope)
        if self.store.user(user_id) is None:
            raise IdentityError(f"unknown user {user_id!r}")
        if scope:
            try:
                self.store.node(scope.split("/")[0])
            except HubStoreError as e:
                raise IdentityError(f"{e}; register the node before naming its DAC or steward") from None
        with self.store._write() as c:  # the hub store's writer (SQLite: one at a time)
            held = c.execute(select(user_roles.c.user_id).where(
                user_roles.c.user_id == user_id, user_roles.c.role == role, user_roles.c.scope == scope)).first()
            if held is None:
                c.execute(user_roles.insert().values(user_id=user_id, role=role, scope=scope, granted_at=now()))

    def remove(self, user_id: str, role: str, scope: str | None = None) -> bool:
        scope = parse_scope(role, scope)
        with self.store._write() as c:
            done = c.execute(delete(user_roles).where(
                user_roles.c.user_id == user_id, user_roles.c.role == role, user_roles.c.scope == scope))
        return done.rowcount == 1

    def roles(self, user_id: str) -> frozenset[tuple[str, str]]:
        with self.store.engine.connect() as c:
            rows = c.execute(select(user_roles.c.role, user_roles.c.scope).where(user_roles.c.user_id == user_id)).all()
        return frozenset((r.role, r.scope) for r in rows)

    def members(self, role: str, scope: str) -> list[str]:
        with self.store.engine.connect() as c:
            return list(c.execute(select(user_roles.c.user_id).where(
                user_roles.c.role == role, user_roles.c.scope == scope).order_by(user_roles.c.user_id)).scalars())

    def user_for(self, identity: oidc.ExternalIdentity) -> str:
        """The hub user behind an external identity, made on first sight."""
        found = self._linked(identity)
        if found is not None:
            return found
        user_id = uuid.uuid4().hex[:16]
        try:
            with self.store._write() as c:
                t = now()
                c.execute(users.insert().values(id=user_id, name=(identity.name or identity.subject)[:200],
                                                level="registered", disabled=False, created_at=t))
                c.execute(external_identities.insert().values(issuer=identity.issuer, subject=identity.subject,
                                                              user_id=user_id, created_at=t))
        except IntegrityError:  # another request linked it first
            found = self._linked(identity)
            if found is None:
                raise
            return found
        return user_id

    def _linked(self, identity: oidc.ExternalIdentity) -> str | None:
        with self.store.engine.connect() as c:
            return c.execute(select(external_identities.c.user_id).where(
                external_identities.c.issuer == identity.issuer,
                external_identities.c.subject == identity.subject)).scalar()


@dataclass
class HubIdentity:
    """The hub's identity service: authenticates callers, holds the visa key, and says what a
    clearinghouse must trust to believe this hub's visas."""

    hub: HubHome
    store: HubStore
    config: IdentityConfig = field(init=False)
    visa_key: keys.VisaKey = field(init=False)
    identities: Identities = field(init=False)
    jwks_cache: oidc.JwksCache = field(init=False)

    def __post_init__(self) -> None:
        self.config = load_config(self.hub.path)
        self.visa_key = visa_key(self.hub.path)
        self.identities = Identities(self.store)
        self.jwks_cache = oidc.JwksCache()

    @property
    def url(self) -> str:
        """The hub's public URL: the issuer of its visas. Needed to issue any."""
        if not self.config.url:
            raise IdentityError("this hub has no public URL configured, so it cannot sign visas; the operator "
                                "sets it with `oncofed hub identity PATH --url https://…`")
        return self.config.url

    @property
    def jku(self) -> str:
        return self.url + JWKS_PATH

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller of a request with this Authorization header; TokenError (401) if none."""
        if not authorization or not authorization.startswith("Bearer "):
            raise tokens.TokenError("this needs a token: Authorization: Bearer <token>")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except (jwt.InvalidTokenError, ValueError, TypeError):
            raise tokens.TokenError("the token is malformed (not a signed JWT)") from None
        external = None
        if iss == self.hub.config.id:
            user_id = tokens.verify(token, [self.hub.public_key], issuer=self.hub.config.id).subject
        else:
            external = oidc.verify(token, self.config.issuers, self.jwks_cache)
            user_id = self.identities.user_for(external)
        user = self.store.user(user_id)
        if user is None or user["disabled"]:
            raise tokens.TokenError("this token's user is unknown or disabled")
        return Caller(user_id, user["name"], self.identities.roles(user_id), external)

    def public_jwks(self) -> dict:
        """The hub's public keys: Ed25519 for its researcher tokens, ES256 for its visas."""
        return oidc.jwks(keys.public_jwk(self.hub.private_key), keys.visa_jwk(self.visa_key))

    def trust(self) -> visas.TrustConfig:
        """What a node must trust to believe this hub's visas, Passports and revocations."""
        return visas.TrustConfig(issuers=[visas.TrustedIssuer(
            issuer=self.url, keys=[keys.visa_jwk(self.visa_key)], jku=[self.jku],
            sources=[self.url, visas.dac_source(self.url, "*", "*")], passports=True, grant_by=["dac"],
            revocations_url=self.url + REVOCATIONS_PATH, also_known_as=[self.hub.config.id])])

    def close(self) -> None:
        self.jwks_cache.close()


_making = threading.Lock()


def of(app: FastAPI) -> HubIdentity:
    """The app's identity service, made on first use (after the hub's store exists)."""
    service = getattr(app.state, "identity", None)
    if service is None:
        with _making:
            service = getattr(app.state, "identity", None)
            if service is None:
                service = app.state.identity = HubIdentity(app.state.hub, app.state.store)
    return service
