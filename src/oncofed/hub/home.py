"""The hub's home folder: its configuration and its signing key.

    PATH/hub.yaml   id, name, database URL (SQLite in the folder unless told otherwise)
    PATH/hub.key    the hub's Ed25519 private key: signs researcher tokens and requests to nodes
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from oncofed import ids
from oncofed.auth import keys
from oncofed.errors import OncofedError

CONFIG, KEY = "hub.yaml", "hub.key"


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    db: str

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not ids.SLUG.fullmatch(v):
            raise ValueError(f"bad hub id {v!r}: expected {ids.RULE}")
        return v


@dataclass(frozen=True)
class HubHome:
    path: Path
    config: HubConfig
    private_key: keys.PrivateKey

    @property
    def public_key(self) -> str:
        return keys.public_b64(self.private_key)

    def info(self) -> dict:
        """What a node needs to trust this hub."""
        return {"id": self.config.id, "name": self.config.name, "public_key": self.public_key}


def init(path: Path, name: str, hub_id: str | None = None, db: str | None = None) -> HubHome:
    if path.exists() and any(path.iterdir()):
        raise OncofedError(f"{path} exists and is not empty; a hub needs a folder of its own")
    try:
        config = HubConfig(id=hub_id or ids.slugify(name, "hub"), name=name,
                           db=db or f"sqlite:///{(path / 'hub.db').resolve()}")
    except ValidationError as e:
        raise OncofedError(e.errors()[0]["msg"].removeprefix("Value error, ")) from None
    path.mkdir(parents=True, exist_ok=True)
    private_key = keys.generate()
    keys.save_private(private_key, path / KEY)
    (path / CONFIG).write_text(yaml.safe_dump(config.model_dump(), sort_keys=False))
    return HubHome(path, config, private_key)


def load(path: Path) -> HubHome:
    if not (path / CONFIG).is_file():
        raise OncofedError(f"{path} is not an oncofed hub (no {CONFIG}); create one with `oncofed hub init`")
    try:
        config = HubConfig.model_validate(yaml.safe_load((path / CONFIG).read_text()))
    except (ValidationError, yaml.YAMLError) as e:
        raise OncofedError(f"{path / CONFIG} is not a valid hub configuration: {e}") from None
    return HubHome(path, config, keys.load_private(path / KEY))

