"""The entry types this Beacon serves and the routes between them: the one table ``/map``,
``/configuration``, ``/entry_types`` and the HTTP routes are all made from."""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMAS = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
MODEL = SCHEMAS + "models/json/beacon-v2-default-model/"


@dataclass(frozen=True)
class EntryType:
    path: str  # the route: /api/<path>
    id: str  # the entry type's id in the default model
    name: str
    description: str
    ontology: tuple[str, str]
    schema: str  # the default-model folder
    schema_id: str
    related: dict[str, str] = field(default_factory=dict)  # /<path>/{id}/<route> → entry type path
    collection_of: tuple[str, ...] = ()

    @property
    def collection(self) -> bool:
        return bool(self.collection_of)

    @property
    def schema_url(self) -> str:
        return f"{MODEL}{self.schema}/defaultSchema.json"

    def returned_schema(self) -> dict[str, str]:
        return {"entityType": self.id, "schema": self.schema_id}

    def definition(self) -> dict:
        """This entry type as ``/entry_types`` and ``/configuration`` describe it."""
        out = {
            "id": self.id, "name": self.name, "description": self.description,
            "ontologyTermForThisType": {"id": self.ontology[0], "label": self.ontology[1]},
            "partOfSpecification": "Beacon v2.0.0",
            "defaultSchema": {"id": self.schema_id, "name": f"Default schema for {self.name.lower()}",
                              "referenceToSchemaDefinition": self.schema_url, "schemaVersion": "v2.0.0"},
            "additionallySupportedSchemas": [],
            "nonFilteredQueriesAllowed": True,
        }
        if self.collection_of:
            out["aCollectionOf"] = [{"id": ENTRY_TYPES[p].id, "name": ENTRY_TYPES[p].name}
                                    for p in self.collection_of]
        return out


ENTRY_TYPES: dict[str, EntryType] = {e.path: e for e in (
    EntryType("individuals", "individual", "Individual",
              "A person with cancer, as a pseudonymous record of diagnoses, treatments and measurements.",
              ("NCIT:C25190", "Person"), "individuals", "ga4gh-beacon-individual-v2.0.0",
              {"biosamples": "biosamples", "g_variants": "g_variants"}),
    EntryType("biosamples", "biosample", "Biological Sample",
              "A sample taken from an individual (tumour or normal tissue, blood …).",
              ("NCIT:C70699", "Biospecimen"), "biosamples", "ga4gh-beacon-biosample-v2.0.0",
              {"g_variants": "g_variants"}),
    EntryType("g_variants", "genomicVariant", "Genomic Variants",
              "A genomic variant observed in the biosamples of this Beacon's datasets.",
              ("ENSGLOSSARY:0000092", "Variant"), "genomicVariations", "ga4gh-beacon-variant-v2.0.0",
              {"biosamples": "biosamples", "individuals": "individuals"}),
    EntryType("datasets", "dataset", "Dataset",
              "A dataset of a node: a cohort or study, with its versions.",
              ("NCIT:C47824", "Data set"), "datasets", "ga4gh-beacon-dataset-v2.0.0",
              {"individuals": "individuals", "biosamples": "biosamples", "g_variants": "g_variants"},
              ("individuals", "biosamples", "g_variants")),
    EntryType("cohorts", "cohort", "Cohort",
              "A dataset's individuals as a study-defined cohort.",
              ("NCIT:C61512", "Cohort"), "cohorts", "ga4gh-beacon-cohort-v2.0.0",
              {"individuals": "individuals"}, ("individuals",)),
)}
RECORDS = ("individuals", "biosamples", "g_variants")  # entry types of records about people
_LOOKUP = {"individuals": "individualLookup", "biosamples": "biosampleLookup", "g_variants": "genomicVariantLookup"}


def beacon_map(base: str) -> dict:
    """``/map``'s ``response``: every route of every entry type, under ``base`` (…/api)."""
    sets = {}
    for e in ENTRY_TYPES.values():
        endpoint = {
            "entryType": e.id,
            "rootUrl": f"{base}/{e.path}",
            "singleEntryUrl": f"{base}/{e.path}/{{id}}",
            "endpoints": {_LOOKUP[target]: {"returnedEntryType": ENTRY_TYPES[target].id,
                                            "url": f"{base}/{e.path}/{{id}}/{route}"}
                          for route, target in e.related.items()},
        }
        if e.collection:
            endpoint["filteringTermsUrl"] = f"{base}/{e.path}/{{id}}/filtering_terms"
        sets[e.id] = endpoint
    return {"$schema": SCHEMAS + "framework/json/configuration/beaconMapSchema.json", "endpointSets": sets}


def configuration() -> dict:
    """``/configuration``'s ``response``."""
    return {
        "$schema": SCHEMAS + "framework/json/configuration/beaconConfigurationSchema.json",
        "maturityAttributes": {"productionStatus": "PROD"},
        "securityAttributes": {"defaultGranularity": "boolean",
                               "securityLevels": ["PUBLIC", "REGISTERED", "CONTROLLED"]},
        "entryTypes": {e.id: e.definition() for e in ENTRY_TYPES.values()},
    }


def entry_types() -> dict:
    """``/entry_types``' ``response``."""
    return {"entryTypes": {e.id: e.definition() for e in ENTRY_TYPES.values()}}
