"""What a data steward says about a dataset (``meta.yaml``) and about the node's catalogue,
validated at the boundary and kept in the node store.

Only what the data cannot tell is typed here. Counts, ages, coding systems, data types and
versions are read from the store when the catalogue is built (``catalogue.facts``), so they
can never disagree with the data.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pycountry
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oncofed.errors import IngestError
from oncofed.model import duo
from oncofed.model.curie import EXAMPLE, is_curie

# The EU data-theme vocabulary (publications.europa.eu/resource/authority/data-theme).
EU_THEMES = {
    "AGRI": "Agriculture, fisheries, forestry and food", "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport", "ENER": "Energy", "ENVI": "Environment",
    "GOVE": "Government and public sector", "HEAL": "Health", "INTR": "International issues",
    "JUST": "Justice, legal system and public safety", "OP_DATPRO": "Provisional data",
    "REGI": "Regions and cities", "SOCI": "Population and society", "TECH": "Science and technology",
    "TRAN": "Transport",
}
ACCESS_RIGHTS = ("public", "restricted", "non-public")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_IRI = re.compile(r"https?://\S+")
_SPDX = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _iri(v: str) -> str:
    if not _IRI.fullmatch(v):
        raise ValueError(f"{v!r} is not an http(s) IRI")
    return v


def _licence(v: str | None) -> str | None:
    if v is not None and not (_IRI.fullmatch(v) or _SPDX.fullmatch(v)):
        raise ValueError(f"{v!r} is neither an SPDX licence id nor an http(s) IRI")
    return v


def _languages(v: list[str]) -> list[str]:
    for code in v:
        if pycountry.languages.get(alpha_2=code.lower()) is None:
            raise ValueError(f"{code!r} is not an ISO 639-1 language code")
    return [c.lower() for c in v]


def _country(code: str) -> str:
    if pycountry.countries.get(alpha_2=code.upper()) is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code")
    return code.upper()


class Agent(_Strict):
    name: str = Field(min_length=1, description="the organisation's name")
    url: str | None = Field(None, description="its web address, http(s)")
    email: str | None = Field(None, description="an e-mail address")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return v if v is None else _iri(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not _EMAIL.fullmatch(v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v


class Contact(Agent):
    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not self.email and not self.url:
            raise ValueError("a contact point needs an email or a url")
        return self


class Period(_Strict):
    start: date | None = Field(None, description="a date, YYYY-MM-DD")
    end: date | None = Field(None, description="a date, YYYY-MM-DD")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.start is None and self.end is None:
            raise ValueError("a period needs a start or an end")
        if self.start and self.end and self.start > self.end:
            raise ValueError("the period ends before it starts")
        return self


class DatasetDescription(_Strict):
    """meta.yaml: every field optional; what is missing falls back to the dataset's own
    registration (title, description, DUO, licence, contact) or is left out."""

    title: str | None = Field(None, min_length=1, description="a human title")
    description: str | None = Field(None, min_length=1, description="what the dataset holds, in prose")
    keywords: list[str] = Field([], description="a list of keywords")
    themes: list[str] = Field(["HEAL"], description=f"EU data themes: {', '.join(EU_THEMES)}")
    publisher: Agent | None = Field(None, description="{name, url, email}")
    contact_point: Contact | None = Field(None, description="{name, email and/or url}")
    licence: str | None = Field(None, description="an SPDX licence id (CC-BY-4.0) or a licence IRI")
    access_rights: str = Field("restricted", description=f"one of {', '.join(ACCESS_RIGHTS)}")
    duo: list[str] | None = Field(None, description="DUO data-use codes, e.g. DUO:0000042")
    duo_diseases: list[str] = Field([], description=f"diseases a DUO:0000007 consent covers, {EXAMPLE}")
    spatial: list[str] = Field([], description="ISO 3166-1 alpha-2 country codes")
    temporal: Period | None = Field(None, description="{start, end} dates")
    language: list[str] = Field(["en"], description="ISO 639-1 language codes, e.g. en")
    documentation: list[str] = Field([], description="http(s) IRIs of documentation pages")
    # HealthDCAT-AP
    health_theme: list[str] = Field([], description="http(s) IRIs of health themes (e.g. Wikidata items)")
    health_category: list[str] = Field([], description="http(s) IRIs of EHDS health data categories")
    population_coverage: str | None = Field(None, min_length=1, description="who the data covers, in prose")
    legal_basis: list[str] = Field([], description="http(s) IRIs of legal bases (DPV, e.g. https://w3id.org/dpv#Consent)")
    hdab: Agent | None = Field(None, description="the health data access body: {name, url, email}")
    applicable_legislation: list[str] = Field([], description="http(s) IRIs (ELI) of applicable legislation")

    @field_validator("themes")
    @classmethod
    def _themes(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if t not in EU_THEMES]
        if bad:
            raise ValueError(f"{bad[0]!r} is not an EU data theme")
        return v

    @field_validator("licence")
    @classmethod
    def _licence(cls, v: str | None) -> str | None:
        return _licence(v)

    @field_validator("access_rights")
    @classmethod
    def _access(cls, v: str) -> str:
        if v not in ACCESS_RIGHTS:
            raise ValueError(f"{v!r} is not an access right")
        return v

    @field_validator("duo")
    @classmethod
    def _duo(cls, v: list[str] | None) -> list[str] | None:
        try:
            return v if v is None else duo.check_codes(v)
        except duo.DuoError as e:
            raise ValueError(str(e)) from None

    @field_validator("duo_diseases")
    @classmethod
    def _curies(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not is_curie(c)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a CURIE")
        return v

    @field_validator("spatial")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        return [_country(c) for c in v]

    @field_validator("language")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        return _languages(v)

    @field_validator("documentation", "health_theme", "health_category", "legal_basis", "applicable_legislation")
    @classmethod
    def _iris(cls, v: list[str]) -> list[str]:
        return [_iri(x) for x in v]


class CatalogueSettings(_Strict):
    """catalogue.yaml: the node's catalogue as a whole; everything defaults from node.yaml."""

    base_url: str | None = Field(None, description="where the node's FAIR Data Point is reached, http(s)")
    title: str | None = Field(None, min_length=1, description="the catalogue's title")
    description: str | None = Field(None, min_length=1, description="the catalogue's description")
    publisher: Agent | None = Field(None, description="{name, url, email}")
    homepage: str | None = Field(None, description="an http(s) IRI")
    licence: str | None = Field(None, description="an SPDX licence id or a licence IRI, for the metadata")
    language: list[str] = Field(["en"], description="ISO 639-1 language codes")

    @field_validator("licence")
    @classmethod
    def _licence(cls, v: str | None) -> str | None:
        return _licence(v)

    @field_validator("language")
    @classmethod
    def _languages(cls, v: list[str]) -> list[str]:
        return _languages(v)

    @field_validator("base_url", "homepage")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return v if v is None else _iri(v).rstrip("/")


M = TypeVar("M", bound=BaseModel)


def read(path: Path, model: type[M]) -> M:
    """A YAML file as ``model``, or IngestError naming the file, the field and what it expects."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise IngestError(f"cannot read the file: {e.strerror}", file=str(path)) from None
    except yaml.YAMLError as e:
        raise IngestError(f"not valid YAML: {e}", file=str(path)) from None
    if not isinstance(data, dict):
        raise IngestError("expected a YAML mapping of fields", file=str(path), expected="field: value lines")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        names = [p for p in err["loc"] if isinstance(p, str)]
        got = None if err["type"] == "missing" else err.get("input")
        raise IngestError(err["msg"].removeprefix("Value error, "), file=str(path),
                          field=".".join(map(str, err["loc"])) or None, expected=_expected(model, names),
                          got=got) from None


def _expected(model: type[BaseModel], names: list[str]) -> str | None:
    """What the field at ``names`` takes (its description), following nested models."""
    current: type[BaseModel] | None = model
    description = None
    for name in names:
        if current is None:
            break
        if name not in current.model_fields:
            return f"one of the fields {', '.join(current.model_fields)}"
        field = current.model_fields[name]
        description = field.description
        current = next((a for a in getattr(field.annotation, "__args__", (field.annotation,))
                        if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return description


# the node store ------------------------------------------------------------------------------


def save(con: duckdb.DuckDBPyConnection, dataset_id: str, description: DatasetDescription) -> None:
    con.execute("INSERT OR REPLACE INTO dataset_descriptions VALUES (?, ?, now())",
                [dataset_id, description.model_dump_json(exclude_unset=True)])


def saved(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[DatasetDescription, datetime]]:
    """dataset id → (its description, when it was given)."""
    rows = con.execute("SELECT dataset_id, description, described_at FROM dataset_descriptions").fetchall()
    return {r[0]: (DatasetDescription.model_validate(json.loads(r[1])), r[2]) for r in rows}


def save_settings(con: duckdb.DuckDBPyConnection, settings: CatalogueSettings) -> None:
    con.execute("INSERT OR REPLACE INTO catalogue_settings VALUES (1, ?, now())",
                [settings.model_dump_json(exclude_unset=True)])


def settings(con: duckdb.DuckDBPyConnection) -> CatalogueSettings:
    rows = con.execute("SELECT settings FROM catalogue_settings").fetchall()
    return CatalogueSettings.model_validate(json.loads(rows[0][0])) if rows else CatalogueSettings()
