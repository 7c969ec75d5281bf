"""A node's home folder: its configuration, its secret and its store, in one place a steward
can back up.

    PATH/node.yaml     name, country, creation time (later: guard policy, hub key)
    PATH/secret.key    the pseudonymisation key, readable by the owner only
    PATH/store.duckdb  the node store
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pycountry
import yaml
from pydantic import BaseModel, ValidationError, field_validator

from oncofed.errors import NotANodeError, OncofedError
from oncofed.privacy.pseudonym import SECRET_BYTES, Pseudonymiser, new_secret
from oncofed.store.store import Store

CONFIG, SECRET, STORE = "node.yaml", "secret.key", "store.duckdb"


class NodeConfig(BaseModel):
    name: str
    country: str  # ISO 3166-1 alpha-2
    created_at: datetime

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


@dataclass(frozen=True)
class NodeHome:
    path: Path
    config: NodeConfig
    pseudonyms: Pseudonymiser

    @property
    def store_path(self) -> Path:
        return self.path / STORE

    def store(self, *, read_only: bool = False) -> Store:
        return Store.open(self.store_path, read_only=read_only)


def init(path: Path, name: str, country: str) -> NodeHome:
    """Make a new node: config, a fresh secret, an empty store at the latest schema."""
    try:
        config = NodeConfig(name=name, country=country, created_at=datetime.now(timezone.utc))
    except ValidationError as e:
        raise OncofedError("; ".join(err["msg"].removeprefix("Value error, ") for err in e.errors())) from None
    if path.exists() and any(path.iterdir()):
        raise OncofedError(f"{path} exists and is not empty; a node needs a folder of its own")
    path.mkdir(parents=True, exist_ok=True)
    secret = new_secret()
    fd = os.open(path / SECRET, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    (path / CONFIG).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    Store.open(path / STORE).close()
    return NodeHome(path, config, Pseudonymiser(secret))


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
    return NodeHome(path, config, Pseudonymiser(secret))
