"""A Beacon v2 query as one model, whichever way it came: GET query parameters or a POST
``beaconRequestBody``.

Parsing checks everything that can be checked without the store, and a malformed request is
a BeaconError (400) naming the field, so a hub can refuse a bad query before it reaches any
node. ``BeaconQuery.to_body`` gives the query back as a POST body: the form a hub forwards
to nodes, which parse it with ``parse_body`` like any other client's.

Coordinates are the Beacon's: ``start`` 0-based inclusive, ``end`` 0-based exclusive (see
``beacon.variants`` for how they meet the store's 1-based VCF positions).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from oncofed.beacon.errors import BeaconError

API_VERSION = "v2.1.1"  # the framework release of the conformance schemas
# the HTTP header in which a researcher presents their GA4GH Passport (a JWT), beside their token
PASSPORT_HEADER = "X-GA4GH-Passport"
DEFAULT_LIMIT = 10
MAX_LIMIT = 1000  # the largest page: limit=0 ("all") and larger limits are capped here
CUSTOM_PREFIX = "oncofed:"  # custom filters (``beacon.filters``); ONCOFED: (upper case) codes are terms

Granularity = Literal["boolean", "count", "record"]
IncludeResultsets = Literal["ALL", "HIT", "MISS", "NONE"]
# "!" is the schema's "not equal"; "!=" is accepted as its common spelling.
Operator = Literal["=", "!", "!=", "<", "<=", ">", ">="]

BASES = re.compile(r"[ACGTUNRYSWKMBDHV.\-]*")
_ALPHANUMERIC = re.compile(r"(?P<id>[^<>=!]+?)(?P<op><=|>=|!=|=|<|>|!)(?P<value>.*)")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OntologyFilter(_Model):
    id: str
    includeDescendantTerms: bool = True
    # Only exact matching is implemented; other similarities return the exact matches.
    similarity: Literal["exact", "high", "medium", "low"] = "exact"
    scope: str | None = None

    def text(self) -> str:
        return self.id


class AlphanumericFilter(_Model):
    id: str
    operator: Operator = "="
    value: str | int | float
    scope: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _not_bool(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("expected a number or text, not true/false")
        return v

    def text(self) -> str:
        return f"{self.id}{self.operator}{self.value}"


class CustomFilter(_Model):
    id: str
    scope: str | None = None

    def text(self) -> str:
        return self.id


Filter = OntologyFilter | AlphanumericFilter | CustomFilter


class VariantParameters(_Model):
    """The ``g_variant`` request parameters (default model), as received; all optional."""

    assemblyId: str | None = None
    referenceName: str | None = None
    start: tuple[int, ...] | None = None
    end: tuple[int, ...] | None = None
    referenceBases: str | None = None
    alternateBases: str | None = None
    variantType: str | None = None
    variantMinLength: int | None = Field(None, ge=0)
    variantMaxLength: int | None = Field(None, ge=1)
    geneId: str | None = None
    aminoacidChange: str | None = None
    genomicAlleleShortForm: str | None = None
    mateName: str | None = None

    @field_validator("start", "end", mode="before")
    @classmethod
    def _positions(cls, v: object) -> object:
        if isinstance(v, int | str) and not isinstance(v, bool):
            v = [v]
        if isinstance(v, list | tuple):
            if not 1 <= len(v) <= 2:
                raise ValueError("expected one or two positions")
            for x in v:
                if isinstance(x, bool) or not ((isinstance(x, int) and x >= 0)
                                               or (isinstance(x, str) and x.strip().isdigit())):
                    raise ValueError("expected 0-based positions: whole numbers, never negative")
        return v

    @field_validator("referenceBases", "alternateBases")
    @classmethod
    def _bases(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.upper()
        if not BASES.fullmatch(v):
            raise ValueError("expected bases (A, C, G, T, N or IUPAC codes), '-' or '.'")
        return v

    @field_validator("assemblyId", "referenceName", "variantType", "geneId", "aminoacidChange",
                     "genomicAlleleShortForm", "mateName")
    @classmethod
    def _text(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v.strip() if v is not None else v

    @model_validator(mode="after")
    def _query_shape(self) -> VariantParameters:
        start, end = self.start, self.end
        if end is not None and start is None:
            raise ValueError("end: needs start (a range or bracket query gives both)")
        if start is not None and self.referenceName is None:
            raise ValueError("referenceName: needed with start (which chromosome?)")
        if start is not None and len(start) == 1 and end is None and self.alternateBases is None:
            raise ValueError("alternateBases: a sequence query (start without end) needs it")
        if start is not None and end is not None:
            if len(start) != len(end):
                raise ValueError("end: give one value with one start (range query) "
                                 "or two with two (bracket query)")
            if len(start) == 1 and start[0] >= end[0]:
                raise ValueError("end: must be greater than start (end is exclusive)")
            if len(start) == 2 and (start[0] > start[1] or end[0] > end[1]):
                raise ValueError("start, end: each bracket goes from its lower to its upper bound")
        if (self.variantMinLength is not None and self.variantMaxLength is not None
                and self.variantMinLength > self.variantMaxLength):
            raise ValueError("variantMinLength: must not exceed variantMaxLength")
        return self

    def given(self) -> dict[str, Any]:
        """The parameters the request set, in Beacon's form."""
        out = self.model_dump(exclude_none=True)
        for key in ("start", "end"):
            if key in out:
                out[key] = list(out[key])
        return out


class BeaconQuery(_Model):
    """What a Beacon request asks, independent of its route (entry type, id)."""

    filters: tuple[Filter, ...] = ()
    variant: VariantParameters = VariantParameters()
    datasets: tuple[str, ...] | None = None  # requestParameters.datasets.datasetIds: only these
    skip: int = Field(0, ge=0)  # pages to skip (the spec's "number of pages")
    limit: int = Field(DEFAULT_LIMIT, ge=0)  # page size; 0: as many as the Beacon allows
    granularity: Granularity | None = None  # requested; None: the finest the caller may see
    include_resultsets: IncludeResultsets = "HIT"
    test_mode: bool = False
    requested_schemas: tuple[str, ...] = ()
    api_version: str = API_VERSION

    @property
    def page_size(self) -> int:
        return MAX_LIMIT if self.limit == 0 else min(self.limit, MAX_LIMIT)

    @property
    def offset(self) -> int:
        return self.skip * self.page_size

    def summary(self) -> dict[str, Any]:
        """``receivedRequestSummary``: the request as this Beacon understood it."""
        out: dict[str, Any] = {
            "apiVersion": self.api_version,
            "requestedSchemas": [{"schema": s} for s in self.requested_schemas],
            "filters": [f.text() for f in self.filters],
            "pagination": {"skip": self.skip, "limit": self.page_size},
            "requestedGranularity": self.granularity or "record",
            "includeResultsetResponses": self.include_resultsets,
            "testMode": self.test_mode,
        }
        if self.request_parameters():
            out["requestParameters"] = self.request_parameters()
        return out

    def request_parameters(self) -> dict[str, Any]:
        """requestParameters in the framework's form: an object per group (the default
        model's ``g_variant``; ``datasets`` as the reference implementation names it)."""
        out: dict[str, Any] = {}
        if self.variant.given():
            out["g_variant"] = self.variant.given()
        if self.datasets is not None:
            out["datasets"] = {"datasetIds": list(self.datasets)}
        return out

    def to_body(self) -> dict[str, Any]:
        """The query as a ``beaconRequestBody`` (what a hub forwards to nodes)."""
        query: dict[str, Any] = {
            "filters": [f.model_dump(exclude_defaults=True) | {"id": f.id} for f in self.filters],
            "includeResultsetResponses": self.include_resultsets,
            "pagination": {"skip": self.skip, "limit": self.limit},
            "testMode": self.test_mode,
        }
        if self.granularity:
            query["requestedGranularity"] = self.granularity
        if self.request_parameters():
            query["requestParameters"] = self.request_parameters()
        meta = {"apiVersion": self.api_version,
                "requestedSchemas": [{"schema": s} for s in self.requested_schemas]}
        return {"meta": meta, "query": query}


# --- filters -------------------------------------------------------------------------------


def parse_filter(item: object) -> Filter:
    """One filter from its object form or its short text form: ``NCIT:C4872`` (a term),
    ``oncofed:has:variants`` (custom), ``age<50`` / ``age>=P50Y`` (alphanumeric)."""
    if isinstance(item, str):
        text = item.strip()
        if not text:
            raise BeaconError("filters: an empty filter")
        m = _ALPHANUMERIC.fullmatch(text)
        if m:
            item = {"id": m["id"].strip(), "operator": m["op"], "value": m["value"].strip()}
        else:
            item = {"id": text}
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"].strip():
        raise BeaconError(f"filters: expected a term id or a filter object with an 'id', got {_short(item)}")
    if "operator" in item or "value" in item:
        model: type[_Model] = AlphanumericFilter
    elif item["id"].startswith(CUSTOM_PREFIX):
        model = CustomFilter
    else:
        model = OntologyFilter
    return _parse(model, item, f"filters[{item['id']}].")


# --- GET ----------------------------------------------------------------------------------

_VARIANT_GET = {name: name for name in VariantParameters.model_fields}
_VARIANT_GET |= {"geneid": "geneId", "allele": "genomicAlleleShortForm"}  # the OpenAPI's names
_LISTS = {"filters", "start", "end", "requestedSchema"}
_GET = {"filters", "skip", "limit", "requestedGranularity", "includeResultsetResponses", "testMode",
        "requestedSchema", "apiVersion", *_VARIANT_GET}


def parse_get(params: Iterable[tuple[str, str]]) -> BeaconQuery:
    """A query from GET parameters (repeatable or comma-separated lists)."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        if name not in _GET:
            raise BeaconError(f"{name}: unknown query parameter; this Beacon reads "
                              f"{', '.join(sorted(_GET, key=str.lower))}")
        values.setdefault(name, []).append(value)
    for name, got in values.items():
        if name not in _LISTS and len(got) > 1:
            raise BeaconError(f"{name}: given {len(got)} times, expected once")

    def listed(name: str) -> list[str]:
        return [part.strip() for v in values.get(name, []) for part in v.split(",") if part.strip()]

    def one(name: str) -> str | None:
        return values[name][0] if name in values else None

    variant: dict[str, Any] = {}
    for name, field in _VARIANT_GET.items():
        if name in values:
            if field in variant:
                raise BeaconError(f"{name}: given twice (as {name} and {field})")
            variant[field] = listed(name) if field in ("start", "end") else one(name)
    query: dict[str, Any] = {
        "filters": [parse_filter(f) for f in listed("filters")],
        "variant": _parse(VariantParameters, variant),
        "requested_schemas": listed("requestedSchema"),
    }
    for name in ("skip", "limit"):
        if name in values:
            query[name] = _count(_integer(one(name), name), name)
    if "requestedGranularity" in values:
        query["granularity"] = one("requestedGranularity")
    if "includeResultsetResponses" in values:
        query["include_resultsets"] = one("includeResultsetResponses")
    if "testMode" in values:
        query["test_mode"] = _boolean(one("testMode"), "testMode")
    if "apiVersion" in values:
        query["api_version"] = one("apiVersion")
    return _parse(BeaconQuery, query)


# --- POST ---------------------------------------------------------------------------------

_BODY = {"$schema", "meta", "query"}
_META = {"$schema", "apiVersion", "requestedSchemas"}
_QUERY = {"requestParameters", "filters", "includeResultsetResponses", "pagination",
          "requestedGranularity", "testMode"}


def parse_body(body: bytes | str | dict | None) -> BeaconQuery:
    """A query from a POST ``beaconRequestBody`` (raw JSON or already decoded); an empty body
    is the default query, as a plain GET."""
    if body is None or body in (b"", ""):
        return BeaconQuery()
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            raise BeaconError("body: not JSON; expected a beaconRequestBody object") from None
    if not isinstance(body, dict):
        raise BeaconError("body: expected a beaconRequestBody object")
    _known(body, _BODY, "body")
    meta = _object(body.get("meta", {}), "meta")
    _known(meta, _META, "meta")
    q = _object(body.get("query", {}), "query")
    _known(q, _QUERY, "query")
    pagination = _object(q.get("pagination", {}), "query.pagination")
    _known(pagination, {"skip", "limit", "currentPage", "nextPage", "previousPage"}, "query.pagination")
    filters = q.get("filters", [])
    if not isinstance(filters, list):
        raise BeaconError("query.filters: expected a list of filters")
    schemas = meta.get("requestedSchemas", [])
    if not isinstance(schemas, list) or not all(isinstance(s, dict) and isinstance(s.get("schema", ""), str)
                                                for s in schemas):
        raise BeaconError("meta.requestedSchemas: expected a list of {entityType, schema} objects")
    variant, datasets = _request_parameters(q.get("requestParameters", {}))
    query: dict[str, Any] = {
        "filters": [parse_filter(f) for f in filters],
        "variant": _parse(VariantParameters, variant, "query.requestParameters."),
        "datasets": datasets,
        "requested_schemas": [s["schema"] for s in schemas if s.get("schema")],
    }
    for name in ("skip", "limit"):
        if name in pagination:
            query[name] = _count(pagination[name], f"query.pagination.{name}")
    for name, key in (("requestedGranularity", "granularity"), ("includeResultsetResponses", "include_resultsets"),
                      ("testMode", "test_mode")):
        if name in q:
            query[key] = q[name]
    if "apiVersion" in meta:
        query["api_version"] = meta["apiVersion"]
    return _parse(BeaconQuery, query, "query.")


_GROUPS = {"g_variant", "datasets"}


def _request_parameters(params: object) -> tuple[dict, list[str] | None]:
    """(variant parameters, dataset ids) from requestParameters, grouped as the framework
    wants it (``{"g_variant": {...}, "datasets": {"datasetIds": [...]}}``) or flat (the
    variant parameters themselves, as many clients send them)."""
    params = _object(params, "query.requestParameters")
    if not set(params) & _GROUPS:
        return params, None
    unknown = sorted(set(params) - _GROUPS)
    if unknown:
        raise BeaconError(f"query.requestParameters.{unknown[0]}: give either the groups g_variant and "
                          "datasets or the variant parameters themselves, not both")
    variant = _object(params.get("g_variant", {}), "query.requestParameters.g_variant")
    if "datasets" not in params:
        return variant, None
    datasets = _object(params["datasets"], "query.requestParameters.datasets")
    _known(datasets, {"datasetIds"}, "query.requestParameters.datasets")
    ids = datasets.get("datasetIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BeaconError("query.requestParameters.datasets.datasetIds: expected a list of dataset ids")
    return variant, ids


# --- helpers ------------------------------------------------------------------------------

_FIELDS = {"granularity": "requestedGranularity", "include_resultsets": "includeResultsetResponses",
           "test_mode": "testMode", "variant": "requestParameters", "api_version": "apiVersion"}


def _parse(model: type[_Model], data: object, prefix: str = ""):
    """The model, or a BeaconError naming the field (model checks name their own)."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(_FIELDS.get(str(p), str(p)) for p in err["loc"] if not isinstance(p, int))
        message = err["msg"].removeprefix("Value error, ")
        if field:
            raise BeaconError(f"{prefix}{field}: {message} (got {_short(err['input'])})") from None
        raise BeaconError(f"{prefix}{message}") from None


def _integer(text: str | None, name: str) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise BeaconError(f"{name}: expected a whole number, got {text!r}") from None


def _count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BeaconError(f"{name}: expected a whole number, 0 or more, got {_short(value)}")
    return value


def _boolean(text: str | None, name: str) -> bool:
    lowered = (text or "").lower()
    if lowered not in ("true", "false", "1", "0"):
        raise BeaconError(f"{name}: expected true or false, got {text!r}")
    return lowered in ("true", "1")


def _object(value: object, name: str) -> dict:
    if not isinstance(value, dict):
        raise BeaconError(f"{name}: expected an object, got {_short(value)}")
    return value


def _known(obj: dict, known: set[str], name: str) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        raise BeaconError(f"{name}.{unknown[0]}: unknown field; expected {', '.join(sorted(known))}")


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
