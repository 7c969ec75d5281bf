"""The Beacon v2 response documents: the envelopes of query answers (boolean, count, result
sets, collections, error) and the informational documents (``info``, ``service-info``,
``map``, ``configuration``, ``entry_types``, ``filtering_terms``).

Every document carries ``meta.returnedGranularity``: query answers say at which granularity
they answer; informational documents and errors release no records and say ``boolean``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncofed.beacon import entry_types
from oncofed.beacon.entry_types import EntryType
from oncofed.beacon.request import API_VERSION, BeaconQuery


@dataclass(frozen=True)
class BeaconInfo:
    """Who this Beacon is (a node, or later the hub)."""

    id: str  # beaconId: a URI, unique in the network (``urn:oncofed:node:<id>``)
    name: str
    organization_id: str
    organization: str
    description: str
    created: datetime
    software_version: str
    url: str = ""  # where it is served (…/api), when known


def meta(beacon: BeaconInfo, query: BeaconQuery, entry: EntryType | None, granularity: str) -> dict[str, Any]:
    return {
        "beaconId": beacon.id,
        "apiVersion": API_VERSION,
        "returnedSchemas": [entry.returned_schema()] if entry else [],
        "returnedGranularity": granularity,
        "receivedRequestSummary": query.summary(),
        "testMode": query.test_mode,
    }


def _informational_meta(beacon: BeaconInfo, entity: str, schema: str) -> dict[str, Any]:
    return {"beaconId": beacon.id, "apiVersion": API_VERSION,
            "returnedSchemas": [{"entityType": entity, "schema": schema}], "returnedGranularity": "boolean"}


# --- query answers ------------------------------------------------------------------------


def boolean(meta: dict, exists: bool, info: dict | None = None) -> dict[str, Any]:
    return _with_info({"meta": meta, "responseSummary": {"exists": exists}}, info)


def count(meta: dict, n: int, info: dict | None = None) -> dict[str, Any]:
    return _with_info({"meta": meta, "responseSummary": {"exists": n > 0, "numTotalResults": n}}, info)


def result_sets(meta: dict, total: int, sets: list[dict], info: dict | None = None) -> dict[str, Any]:
    return _with_info({"meta": meta, "responseSummary": {"exists": total > 0, "numTotalResults": total},
                       "response": {"resultSets": sets}}, info)


def result_set(dataset: str, results: list[dict], total: int) -> dict[str, Any]:
    """One dataset's records (a page of them; ``resultsCount`` counts them all)."""
    return {"id": dataset, "setType": "dataset", "exists": total > 0, "resultsCount": total, "results": results}


def collections(meta: dict, records: list[dict], total: int) -> dict[str, Any]:
    return {"meta": meta, "responseSummary": {"exists": total > 0, "numTotalResults": total},
            "response": {"collections": records}}


# the statuses a Beacon endpoint (a node's or the hub's) may answer besides 200, for the OpenAPI
# description; their bodies are Beacon error documents (a 413 is ``web.LimitBody``'s), checked
# against the Beacon v2 schemas, not described again here
ERRORS: dict[int | str, dict] = {s: {"description": d} for s, d in (
    (400, "Malformed Beacon request"), (401, "No valid researcher token or Passport"),
    (403, "Refused"), (404, "No such entry or endpoint"), (413, "The request body is too large"),
    (429, "Too many requests: try again later"))}


def error(beacon: BeaconInfo, status: int, message: str, query: BeaconQuery | None = None) -> dict[str, Any]:
    return {"meta": meta(beacon, query or BeaconQuery(), None, "boolean"),
            "error": {"errorCode": status, "errorMessage": message}}


def _with_info(doc: dict, info: dict | None) -> dict:
    if info:
        doc["info"] = info
    return doc


# --- informational documents -------------------------------------------------------------


def info(beacon: BeaconInfo) -> dict[str, Any]:
    response = {
        "id": beacon.id, "name": beacon.name, "apiVersion": API_VERSION, "environment": "prod",
        "description": beacon.description, "createDateTime": beacon.created.isoformat(),
        "organization": {"id": beacon.organization_id, "name": beacon.organization},
        "info": {"software": f"oncofed {beacon.software_version}"},
    }
    if beacon.url:
        response["alternativeUrl"] = beacon.url
    return {"meta": _informational_meta(beacon, "info", "beacon-info-v2.0.0"), "response": response}


def service_info(beacon: BeaconInfo) -> dict[str, Any]:
    """GA4GH service-info 1.0.0 (a bare document, as that standard has no envelope)."""
    return {
        "id": beacon.id, "name": beacon.name, "description": beacon.description,
        "type": {"group": "org.ga4gh", "artifact": "beacon", "version": API_VERSION},
        "organization": {"name": beacon.organization, "url": beacon.url or beacon.id},
        "version": beacon.software_version, "environment": "prod",
        "createdAt": beacon.created.isoformat(),
    }


def beacon_map(beacon: BeaconInfo) -> dict[str, Any]:
    return {"meta": _informational_meta(beacon, "map", "beacon-map-v2.0.0"),
            "response": entry_types.beacon_map(beacon.url)}


def configuration(beacon: BeaconInfo) -> dict[str, Any]:
    return {"meta": _informational_meta(beacon, "configuration", "beacon-configuration-v2.0.0"),
            "response": entry_types.configuration()}


def entry_type_definitions(beacon: BeaconInfo) -> dict[str, Any]:
    return {"meta": _informational_meta(beacon, "entryType", "beacon-entry-types-v2.0.0"),
            "response": entry_types.entry_types()}


def filtering_terms(beacon: BeaconInfo, terms: list[dict]) -> dict[str, Any]:
    return {"meta": _informational_meta(beacon, "filteringTerm", "beacon-filtering-terms-v2.0.0"),
            "response": {"filteringTerms": terms}}


# the informational documents by route (under /api): the same for a node and the hub
DOCUMENTS = {"": info, "info": info, "service-info": service_info, "map": beacon_map,
             "configuration": configuration, "entry_types": entry_type_definitions}
