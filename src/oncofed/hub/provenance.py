"""The provenance of a federated analysis run as an RO-Crate (Workflow Run Crate profile): who
ran which analysis, when, on which nodes and dataset versions, with which parameters and
cohort, under which oncofed version, and what came out.

Built from the run record the hub keeps (plus the registry's names for its nodes and users),
never stored: the same completed run always gives the same crate. ``read`` is the other half,
for ``oncofed rerun``: what the crate says was asked and answered.

    run-<id>/
      ro-crate-metadata.json   the graph: CreateAction (the run) → instrument (the analysis),
                               agent (the requester), object (parameters, cohort, nodes,
                               dataset versions, request.json), result (result.json)
      analysis.json            the analysis as registered: name, version, the software it ran in
      request.json             the request as the hub ran it: analysis, version, cohort, params, nodes
      result.json              the combined result and each node's part (status, dataset versions)
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from oncofed.errors import OncofedError

CRATE_VERSION = "1.1"  # the RO-Crate version the Workflow Run Crate 0.5 examples use
PROFILES = {  # id → (name, version)
    "https://w3id.org/ro/wfrun/process/0.5": ("Process Run Crate", "0.5"),
    "https://w3id.org/ro/wfrun/workflow/0.5": ("Workflow Run Crate", "0.5"),
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": ("Workflow RO-Crate", "1.0"),
}
WRROC_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
ANALYSIS, REQUEST, RESULT = "analysis.json", "request.json", "result.json"
RUN_ID = "#run"


class ProvenanceError(OncofedError):
    """A crate that cannot be read as an oncofed run's provenance."""


@dataclass(frozen=True)
class NodeInfo:
    name: str
    country: str
    transport: str


@dataclass(frozen=True)
class Context:
    """What a crate names that the run record holds only as ids."""

    hub_id: str
    hub_name: str
    hub_url: str | None = None
    requester_name: str | None = None
    nodes: dict[str, NodeInfo] = field(default_factory=dict)


def crate(run: dict, context: Context) -> ROCrate:
    """The crate of a completed run (a hub store ``runs`` record)."""
    if run["status"] != "done":
        raise ProvenanceError(f"run {run['id']} is {run['status']}: only a completed run has a provenance crate")
    request = run["request"]
    software_version = (run.get("state") or {}).get("oncofed") or "unknown"
    members = _members(run)
    c = ROCrate(version=CRATE_VERSION)
    c.metadata.extra_contexts.append(WRROC_CONTEXT)
    root = c.root_dataset
    root["name"] = f"oncofed run {run['id']}: {run['analysis']} {run['version']}"
    root["description"] = (f"Provenance of a federated {run['analysis']} analysis (version {run['version']}) "
                           f"run through hub {context.hub_name} on {len(members)} node(s), as a Workflow Run Crate.")
    root["datePublished"] = _iso(run["updated_at"])
    for profile_id, (name, version) in PROFILES.items():
        root.append_to("conformsTo", c.add(ContextEntity(c, profile_id, {
            "@type": "CreativeWork", "name": name, "version": version})))

    software = c.add(ContextEntity(c, "#oncofed", {
        "@type": "SoftwareApplication", "name": "oncofed", "version": software_version,
        "softwareVersion": software_version,
        "description": "The federated cancer-data platform whose hub coordinated this run."}))
    language = c.add(ContextEntity(c, "#oncofed-analysis", {
        "@type": "ComputerLanguage", "name": "oncofed federated analysis",
        "alternateName": "oncofed", "version": software_version,
        "description": "An analysis registered in oncofed by name and version: a node step on each "
                       "node's rows, a hub step combining their guarded partial statistics."}))

    params = request.get("params") or {}
    cohort = request.get("cohort") or {}
    formal = {name: _formal(c, name, f"parameter {name!r} of {run['analysis']}", _kind(value))
              for name, value in params.items()}
    formal["cohort"] = _formal(c, "cohort", "the datasets to look in and the filters individuals must pass", "Text")
    formal["nodes"] = _formal(c, "nodes", "the nodes that took part", "Text")
    formal["dataset_version"] = _formal(c, "dataset_version", "a dataset version a node answered from", "Dataset")
    formal["request"] = _formal(c, "request", "the request as the hub ran it", "File")
    formal["result"] = _formal(c, "result", "the combined result and each node's part", "File")

    analysis_file = c.add_file(io.BytesIO(_json({
        "analysis": run["analysis"], "version": run["version"], "software": "oncofed",
        "software_version": software_version})), ANALYSIS, properties={
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow"],
        "name": f"{run['analysis']} {run['version']}", "version": run["version"],
        "identifier": f"{run['analysis']}@{run['version']}", "encodingFormat": "application/json",
        "programmingLanguage": {"@id": language.id}, "softwareRequirements": {"@id": software.id},
        "input": [{"@id": f.id} for k, f in formal.items() if k != "result"],
        "output": [{"@id": formal["result"].id}]})
    root["mainEntity"] = {"@id": analysis_file.id}

    requester = c.add(ContextEntity(c, f"#requester-{run['requester']}", {
        "@type": "Person", "identifier": run["requester"],
        "name": context.requester_name or run["requester"]}))
    hub = c.add(ContextEntity(c, "#hub", {
        "@type": "Organization", "name": context.hub_name, "identifier": context.hub_id,
        **({"url": context.hub_url} if context.hub_url else {})}))

    inputs = []
    request_file = c.add_file(io.BytesIO(_json(request)), REQUEST, properties={
        "name": "The analysis request as the hub ran it", "encodingFormat": "application/json",
        "exampleOfWork": {"@id": formal["request"].id}})
    inputs.append(request_file)
    for name, value in params.items():
        inputs.append(_value(c, f"#input-{name}", name, value, formal[name]))
    inputs.append(_value(c, "#input-cohort", "cohort", json.dumps(cohort, sort_keys=True), formal["cohort"]))
    inputs.append(_value(c, "#input-nodes", "nodes", sorted(members), formal["nodes"]))

    for node_id in members:  # the nodes asked but not answering are in result.json
        info = context.nodes.get(node_id)
        node = c.add(ContextEntity(c, f"#node-{node_id}", {
            "@type": "Organization", "identifier": node_id, "name": info.name if info else node_id,
            **({"location": {"@id": _country(c, info.country).id},
                "description": f"oncofed node ({info.transport} transport)"} if info else {})}))
        for dataset_id, content_hash in sorted((run["per_node"].get(node_id, {}).get("datasets") or {}).items()):
            inputs.append(c.add(ContextEntity(c, f"#dataset-{node_id}-{dataset_id}", {
                "@type": "Dataset", "name": f"{dataset_id} at {node.get('name')}", "identifier": dataset_id,
                "version": content_hash, "provider": {"@id": node.id},
                "description": f"Version {content_hash} of dataset {dataset_id}, held and analysed at node {node_id}; "
                               "its rows never left the node.",
                "exampleOfWork": {"@id": formal["dataset_version"].id}})))

    result_file = c.add_file(io.BytesIO(_json({
        "run": run["id"], "analysis": run["analysis"], "version": run["version"], "result": run["result"],
        "per_node": run["per_node"]})), RESULT, properties={
        "name": f"Result of {run['analysis']} {run['version']}", "encodingFormat": "application/json",
        "exampleOfWork": {"@id": formal["result"].id}})

    c.add(ContextEntity(c, RUN_ID, {
        "@type": "CreateAction", "name": f"Run {run['id']} of {run['analysis']} {run['version']}",
        "identifier": run["id"], "instrument": {"@id": analysis_file.id}, "agent": {"@id": requester.id},
        "startTime": _iso(run["created_at"]), "endTime": _iso(run["updated_at"]),
        "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
        "object": [{"@id": e.id} for e in inputs], "result": [{"@id": result_file.id}],
        "location": {"@id": hub.id}}))
    root["mentions"] = [{"@id": RUN_ID}]
    return c


def write(run: dict, context: Context, dest: Path) -> Path:
    """Write the run's crate as a folder, or as a zip when ``dest`` ends in .zip."""
    built = crate(run, context)
    dest = Path(dest)
    if dest.suffix == ".zip":
        dest.parent.mkdir(parents=True, exist_ok=True)
        return built.write_zip(dest)
    built.write(dest)
    return dest


def zip_bytes(run: dict, context: Context) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return write(run, context, Path(tmp) / "crate.zip").read_bytes()


# reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """What a crate says was run and answered."""

    run_id: str
    analysis: str
    version: str
    cohort: dict
    params: dict
    nodes: list[str]
    datasets: dict[str, dict[str, str]]  # node → dataset → content hash
    result: dict
    hub_url: str | None
    software_version: str


@dataclass(frozen=True)
class DatasetChange:
    node: str
    dataset: str
    old: str | None  # None: the dataset was not used before
    new: str | None  # None: not used now

    def __str__(self) -> str:
        return f"{self.node}/{self.dataset}: {self.old or '(not used)'} → {self.new or '(not used)'}"


def read(path: str | Path) -> Recorded:
    """The run a crate (folder or zip) records; ProvenanceError if it is not an oncofed run's."""
    path = Path(path)
    try:
        c = ROCrate(path)
    except (OSError, ValueError, KeyError) as e:
        raise ProvenanceError(f"{path}: not an RO-Crate ({e})") from None
    action = c.get(RUN_ID)
    if action is None or "CreateAction" not in _types(action):
        raise ProvenanceError(f"{path}: no oncofed run (CreateAction {RUN_ID}) in this crate")
    request = _load(c, REQUEST, path)
    result = _load(c, RESULT, path)
    datasets: dict[str, dict[str, str]] = {}
    for entity in _as_list(action.get("object")):
        if "Dataset" in _types(entity) and entity.get("provider") is not None:
            node = entity["provider"]
            node_id = node.get("identifier") if hasattr(node, "get") else str(node)
            datasets.setdefault(node_id, {})[entity["identifier"]] = entity["version"]
    nodes_value = next((e.get("value") for e in _as_list(action.get("object")) if e.id == "#input-nodes"), None)
    hub = c.get("#hub")
    software = c.get("#oncofed")
    return Recorded(
        run_id=str(action.get("identifier")), analysis=request["analysis"], version=request["version"],
        cohort=request.get("cohort") or {}, params=request.get("params") or {},
        nodes=sorted(_as_list(nodes_value)) if nodes_value is not None else sorted(datasets),
        datasets=datasets, result=result.get("result") or {},
        hub_url=hub.get("url") if hub is not None else None,
        software_version=software.get("version") if software is not None else "unknown")


def dataset_changes(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> list[DatasetChange]:
    """Each (node, dataset) whose version differs between two runs' node → dataset → hash maps."""
    changes = []
    for node in sorted(set(before) | set(after)):
        old, new = before.get(node, {}), after.get(node, {})
        for dataset in sorted(set(old) | set(new)):
            if old.get(dataset) != new.get(dataset):
                changes.append(DatasetChange(node, dataset, old.get(dataset), new.get(dataset)))
    return changes


def result_differences(before: object, after: object, where: str = "result", limit: int = 20) -> list[str]:
    """Where two results differ (paths such as ``result.summary.data[2][1]``), at most ``limit``."""
    found: list[str] = []

    def walk(a: object, b: object, at: str) -> None:
        if len(found) >= limit:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b), key=str):
                if k not in a or k not in b:
                    found.append(f"{at}.{k}: {'added' if k not in a else 'gone'}")
                else:
                    walk(a[k], b[k], f"{at}.{k}")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{at}[{i}]")
        elif a != b:
            found.append(f"{at}: {_short(a)} → {_short(b)}")

    walk(before, after, where)
    return found


# helpers ------------------------------------------------------------------------------------


def _members(run: dict) -> list[str]:
    """The nodes whose answers made the result: those still in the run when it completed."""
    members = (run.get("state") or {}).get("members")
    if members is None:
        members = [n for n, p in run["per_node"].items() if p.get("status") == "ok"]
    return sorted(members)


def _formal(c: ROCrate, name: str, description: str, kind: str) -> ContextEntity:
    return c.add(ContextEntity(c, f"#param-{name}", {
        "@type": "FormalParameter", "name": name, "description": description, "additionalType": kind,
        "conformsTo": {"@id": "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"}}))


def _value(c: ROCrate, entity_id: str, name: str, value: object, formal: ContextEntity) -> ContextEntity:
    if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
        value = json.dumps(value, sort_keys=True)
    return c.add(ContextEntity(c, entity_id, {
        "@type": "PropertyValue", "name": name, "value": value, "exampleOfWork": {"@id": formal.id}}))


def _country(c: ROCrate, code: str) -> ContextEntity:
    import pycountry

    found = pycountry.countries.get(alpha_2=code)
    entity_id = f"#country-{code}"
    return c.get(entity_id) or c.add(ContextEntity(c, entity_id, {
        "@type": "Place", "name": found.name if found else code, "identifier": f"ISO 3166-1 {code}"}))


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    return "Text"


def _iso(t: datetime) -> str:
    if t.tzinfo is None:  # SQLite hands back naive datetimes; the hub's are UTC
        t = t.replace(tzinfo=timezone.utc)
    return t.isoformat()


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode()


def _load(c: ROCrate, name: str, path: Path) -> dict:
    entity = c.get(name)
    source = getattr(entity, "source", None) if entity is not None else None
    if source is None:
        raise ProvenanceError(f"{path}: the crate lacks {name}")
    try:
        return json.loads(Path(source).read_text())
    except (OSError, ValueError) as e:
        raise ProvenanceError(f"{path}: cannot read {name} ({e})") from None


def _types(entity) -> list[str]:
    return _as_list(entity.get("@type") if hasattr(entity, "get") else None)


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"
