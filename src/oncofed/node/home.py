"""A node's home folder: its configuration, its secrets and its store, in one place a steward
can back up.

    PATH/node.yaml     id, name, country; the hub it trusts; its guard policy; its analysis allow-list
    PATH/secret.key    the pseudonymisation key, readable by the owner only
    PATH/node.key      the node's Ed25519 signing key, readable by the owner only
    PATH/store.duckdb  the node store
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pycountry
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oncofed import ids
from oncofed.auth import keys
from oncofed.auth.visas import TrustConfig
from oncofed.errors import NotANodeError, OncofedError
from oncofed.node.ratelimit import RateLimit
from oncofed.privacy.policy import GuardPolicy
from oncofed.privacy.pseudonym import SECRET_BYTES, Pseudonymiser, new_secret
from oncofed.store.store import Store

CONFIG, SECRET, KEY, STORE = "node.yaml", "secret.key", "node.key", "store.duckdb"


class HubTrust(BaseModel):
    """The hub whose researchers' tokens and requests this node accepts."""

    model_config = ConfigDict(extra="forbid")
    id: str
    public_key: str  # Ed25519, base64url
    url: str | None = None  # where the relay agent polls


class NodeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = ""
    name: str
    country: str  # ISO 3166-1 alpha-2
    created_at: datetime
    hub: HubTrust | None = None
    guard: GuardPolicy = Field(default_factory=GuardPolicy)
    analyses: list[str] | None = None  # allow-list of analysis names; None: every registered one
    visas: TrustConfig | None = None  # whose permits (GA4GH visas) open record-level access; None: nobody's
    rate: RateLimit = Field(default_factory=RateLimit)  # how often one caller may ask

    @field_validator("country")
    @classmethod
    def _iso_country(cls, v: str) -> str:
        if pycountry.countries.get(alpha_2=v.upper()) is None:
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 country code (such as DE, NL, FR)")
        return v.upper()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("a node needs a name")
        return v.strip()

    @model_validator(mode="after")
    def _id(self) -> NodeConfig:
        if not self.id:
            self.id = ids.slugify(self.name, "node")
        if not ids.SLUG.fullmatch(self.id):
            raise ValueError(f"bad node id {self.id!r}: expected {ids.RULE}")
        return self


@dataclass(frozen=True)
class NodeHome:
    path: Path
    config: NodeConfig
    pseudonyms: Pseudonymiser
    private_key: keys.PrivateKey

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def store_path(self) -> Path:
        return self.path / STORE

    @property
    def public_key(self) -> str:
        return keys.public_b64(self.private_key)

    def store(self, *, read_only: bool = False) -> Store:
        return Store.open(self.store_path, read_only=read_only)

    def info(self) -> dict:
        """What a hub needs to register this node."""
        return {"id": self.id, "name": self.config.name, "country": self.config.country,
                "public_key": self.public_key}

    def save(self, config: NodeConfig) -> NodeHome:
        (self.path / CONFIG).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
        return NodeHome(self.path, config, self.pseudonyms, self.private_key)


def init(path: Path, name: str, country: str, node_id: str | None = None) -> NodeHome:
    """Make a new node: config, fresh secrets, an empty store at the latest schema."""
    try:
        config = NodeConfig(id=node_id or "", name=name, country=country, created_at=datetime.now(timezone.utc))
    except ValidationError as e:
        raise OncofedError("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())) from None
    if path.exists() and any(path.iterdir()):
        raise OncofedError(f"{path} exists and is not empty; a node needs a folder of its own")
    path.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    fd = os.open(path / SECRET, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    private_key = keys.generate()
    keys.save_private(private_key, path / KEY)
    Store.open(path / STORE).close()
    return NodeHome(path, config, Pseudonymiser(secret), private_key).save(config)


def load(path: Path) -> NodeHome:
    if not (path / CONFIG).is_file():
        raise NotANodeError(f"{path} is not an oncofed node (no {CONFIG}); create one with `oncofed node init`")
    try:
        config = NodeConfig.model_validate(yaml.safe_load((path / CONFIG).read_text()))
    except (ValidationError, yaml.YAMLError) as e:
        raise NotANodeError(f"{path / CONFIG} is not a valid node configuration: {e}") from None
    try:
        secret = bytes.fromhex((path / SECRET).read_text().strip())
    except (OSError, ValueError):
        raise NotANodeError(f"{path / SECRET} is missing or unreadable") from None
    if len(secret) != SECRET_BYTES:
        raise NotANodeError(f"{path / SECRET} does not hold a {SECRET_BYTES}-byte secret")
    if not (path / KEY).is_file():
        raise NotANodeError(f"{path / KEY} is missing: the node cannot sign its answers")
    return NodeHome(path, config, Pseudonymiser(secret), keys.load_private(path / KEY))
