"""A catalogue record as a schema.org ``Dataset`` (JSON-LD), the form web search engines read
from a dataset's page."""

from __future__ import annotations

from oncofed.model import vocabulary


def dataset(record: dict, page_url: str) -> dict:
    out = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": record["iri"],
        "url": page_url,
        "identifier": record["iri"],
        "name": record["title"],
        "description": record["description"],
        "keywords": record["keywords"] + [vocabulary.label(c) or c for c in record["cancer_types"]],
        "isAccessibleForFree": record["access"] == "public",
        "includedInDataCatalog": {"@type": "DataCatalog", "name": record["node"]},
        "spatialCoverage": [{"@type": "Place", "name": c} for c in record["countries"]],
        "variableMeasured": record["data_types"],
    }
    if record.get("publisher"):
        out["publisher"] = out["creator"] = {"@type": "Organization", "name": record["publisher"]}
    if record.get("licence"):
        licence = record["licence"]
        out["license"] = licence if "://" in licence else f"https://spdx.org/licenses/{licence}"
    if record.get("version"):
        out["version"] = record["version"]
    if record.get("modified"):
        out["dateModified"] = record["modified"]
    if record.get("temporal"):
        out["temporalCoverage"] = f"{record['temporal'].get('start', '..')}/{record['temporal'].get('end', '..')}"
    if record.get("individuals") is not None:
        out["size"] = f"{record['individuals']} individuals"
    return out
