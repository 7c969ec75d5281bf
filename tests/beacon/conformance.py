"""The official Beacon v2 schemas (``CONFORMANCE/beacon-v2``, v2.1.1) as validators, and the
checks the official verifiers make, for the Beacon tests of node and hub.

Known upstream problems (the conformance README), handled here on purpose:

1. The model schemas point ``info`` at ``../common/info.json``, which the model tree lacks;
   the framework's ``common/info.json`` is served for it. (Our records carry no ``info``; the
   remapping only keeps a validator from failing on the broken reference.)
2. The entry types' OpenAPI files point at a ``#/definitions/…`` pointer that does not exist:
   the OpenAPI files are not validated against, only the JSON Schemas.
3. Several upstream examples do not validate against the schemas: only the examples the
   README lists as passing are used as positive fixtures.

References to the upstream copy (``raw.githubusercontent.com/…/main/``) resolve to the files
here, and VRS 1.3 (``w3id.org``) to ``external/vrs-1.3.0/vrs.json`` (draft-07).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

from conftest import CONFORMANCE

ROOT = (CONFORMANCE / "beacon-v2").resolve()
RAW = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
VRS = "https://w3id.org/ga4gh/schema/vrs/1.3/vrs.json"
MODEL = "models/json/beacon-v2-default-model/"
FRAMEWORK = "framework/json/"
_MISSING_INFO = ROOT / MODEL / "common/info.json"  # upstream problem 1

ENVELOPE = {
    "boolean": FRAMEWORK + "responses/beaconBooleanResponse.json",
    "count": FRAMEWORK + "responses/beaconCountResponse.json",
    "record": FRAMEWORK + "responses/beaconResultsetsResponse.json",
}
COLLECTIONS = FRAMEWORK + "responses/beaconCollectionsResponse.json"
ERROR = FRAMEWORK + "responses/beaconErrorResponse.json"
DOCUMENTS = {
    "info": FRAMEWORK + "responses/beaconInfoResponse.json",
    "service-info": FRAMEWORK + "responses/ga4gh-service-info-1-0-0-schema.json",
    "map": FRAMEWORK + "responses/beaconMapResponse.json",
    "configuration": FRAMEWORK + "responses/beaconConfigurationResponse.json",
    "entry_types": FRAMEWORK + "responses/beaconEntryTypesResponse.json",
    "filtering_terms": FRAMEWORK + "responses/beaconFilteringTermsResponse.json",
}
RECORD = {  # entry type path → its default schema
    "individuals": MODEL + "individuals/defaultSchema.json",
    "biosamples": MODEL + "biosamples/defaultSchema.json",
    "g_variants": MODEL + "genomicVariations/defaultSchema.json",
    "datasets": MODEL + "datasets/defaultSchema.json",
    "cohorts": MODEL + "cohorts/defaultSchema.json",
}


def _file(path: Path) -> Path:
    return ROOT / FRAMEWORK / "common/info.json" if path == _MISSING_INFO else path


def _retrieve(uri: str) -> Resource:
    if uri.startswith(VRS):
        return Resource.from_contents(json.loads((ROOT / "external/vrs-1.3.0/vrs.json").read_text()),
                                      default_specification=DRAFT7)
    path = ROOT / uri[len(RAW):] if uri.startswith(RAW) else Path(uri.removeprefix("file://"))
    return Resource.from_contents(json.loads(_file(path.resolve()).read_text()), default_specification=DRAFT202012)


REGISTRY = Registry(retrieve=_retrieve)


@functools.cache
def validator(rel: str) -> Draft202012Validator:
    path = ROOT / rel
    schema = dict(json.loads(path.read_text()), **{"$id": path.as_uri()})
    return Draft202012Validator(schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(doc: object, rel: str) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
            for e in validator(rel).iter_errors(doc)]


def check(doc: object, rel: str) -> None:
    found = problems(doc, rel)
    assert not found, f"not valid against {rel}:\n" + "\n".join(found[:10])


def check_answer(doc: dict, entry: str) -> str:
    """Validate an answer of an entry's endpoint as the verifiers do: an error against the
    error envelope; otherwise the envelope that ``meta.returnedGranularity`` names (collections
    for datasets and cohorts, the filtering-terms document for ``filtering_terms``) and, at
    record level, every record against its default schema. Returns the granularity."""
    if "error" in doc:
        check(doc, ERROR)
        return doc["meta"]["returnedGranularity"]
    granularity = doc["meta"]["returnedGranularity"]
    if entry == "filtering_terms":
        check(doc, DOCUMENTS["filtering_terms"])
        return granularity
    if entry in ("datasets", "cohorts"):
        check(doc, COLLECTIONS)
        for record in doc["response"]["collections"]:
            check(record, RECORD[entry])
        return granularity
    check(doc, ENVELOPE[granularity])
    if granularity == "record":
        for result_set in doc["response"]["resultSets"]:
            for record in result_set["results"]:
                check(record, RECORD[entry])
    return granularity


def map_urls(client, ids: dict[str, str]) -> list[tuple[str, str]]:
    """Every URL /map declares, its {id} filled with a real id, and the entry type it returns."""
    endpoint_sets = client.get("/api/map").json()["response"]["endpointSets"]
    paths = {"individual": "individuals", "biosample": "biosamples", "genomicVariant": "g_variants",
             "dataset": "datasets", "cohort": "cohorts"}
    found = []
    for entry_type, s in endpoint_sets.items():
        fill = s["singleEntryUrl"].replace("{id}", ids[entry_type])
        found += [(s["rootUrl"], paths[entry_type]), (fill, paths[entry_type]),
                  (s.get("filteringTermsUrl", "").replace("{id}", ids[entry_type]), "filtering_terms")]
        found += [(e["url"].replace("{id}", ids[entry_type]), paths[e["returnedEntryType"]])
                  for e in s["endpoints"].values()]
    return [(u, entry) for u, entry in found if u]
