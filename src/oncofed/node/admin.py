"""A serving node's local door for its steward: every `oncofed node` command that works on
the node store (`add-dataset`, `ingest`, `datasets`, `show`, `access`, `describe`, `audit` …)
while the node serves.

The serving process (``node serve`` or the relay agent ``node connect``) holds the node store,
since DuckDB lets one process write a file. These commands, started beside it, are therefore
handed to it over a Unix socket that only the node's owner may open: the node reads an ingest's
files while it goes on answering, and writes between two requests (``Node.store``). The steward
sees the same progress, notes and errors as with the node stopped, and an ingest is as
all-or-nothing. One JSON object per line: the request (``op`` and ``args``), then events
(``progress``, ``notice``) and a last ``result`` or ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from oncofed.catalogue import description as catalogue_description
from oncofed.catalogue import facts, formats
from oncofed.errors import IngestError, OncofedError
from oncofed.ingest import phenopacket
from oncofed.node import audit, beacon, catalogue
from oncofed.node.handler import Node
from oncofed.node.home import NodeHome
from oncofed.store.store import Store

log = logging.getLogger(__name__)

SOCKET = "admin.sock"
_SUN_PATH = 100  # a socket's path must fit sockaddr_un (108 bytes on Linux, 104 on macOS)


class IngestArgs(BaseModel):
    """What ``ingest.pipeline.ingest`` takes, the paths absolute."""
    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    format: str
    files: list[Path] = []
    mapping: Path | None = None
    where: str | None = None
    samples: Path | None = None
    assembly: str | None = None
    patients: Path | None = None
    on_error: str = "refuse"
    region_column: str | None = None
    region_coding: str | None = None
    replace: bool = False
    dry_run: bool = False


class DatasetArgs(BaseModel):
    """What ``Store.add_dataset`` takes."""
    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    title: str
    description: str | None = None
    duo: list[str] | None = None
    licence: str | None = None
    contact: str | None = None


class ShowArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessArgs(BaseModel):
    """What ``node.beacon.set_access`` takes; none of the settings: only show them."""
    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    public: str | None = None
    registered: str | None = None
    controlled: str | None = None
    synthetic: bool | None = None


class DescribeArgs(BaseModel):
    """A dataset's description for the catalogue, as ``catalogue.description`` reads it."""
    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    description: dict


class ExportArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    out_dir: Path


class AuditArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last: int = 20
    verify: bool = False
    anchor: str | None = None  # "SEQ:HASH", a head the hub kept (`oncofed hub nodes --json`)


class CatalogueSettingsArgs(BaseModel):
    """The catalogue's settings, as ``catalogue.description`` reads them."""
    model_config = ConfigDict(extra="forbid")

    settings: dict


class CatalogueArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = "turtle"
    base_url: str | None = None


# The steward's commands that work on the store, each giving what the command prints as JSON,
# alike from the serving node's door and from the file ------------------------------------------


def add_dataset(store: Store, home: NodeHome, dataset_id: str, title: str, **fields) -> object:
    return store.add_dataset(dataset_id, title, **fields)


def datasets(store: Store, home: NodeHome) -> list[dict]:
    """Each dataset with its current version and number of individuals."""
    return [{**asdict(d), "individuals": store.counts(d.id)["individuals"]} for d in store.datasets()]


def show(store: Store, home: NodeHome, dataset_id: str) -> dict:
    """A dataset, its records per table, its Beacon disclosure settings and its versions."""
    d, counts, versions = store.dataset(dataset_id), store.counts(dataset_id), store.versions(dataset_id)
    return {**asdict(d), "counts": counts, "versions": versions, "access": beacon.access(store.con)[dataset_id]}


def access(store: Store, home: NodeHome, dataset_id: str, **settings) -> object:
    """A dataset's Beacon disclosure settings, changed first where ``settings`` say so."""
    if all(v is None for v in settings.values()):
        store.dataset(dataset_id)
        return beacon.access(store.con)[dataset_id]
    return beacon.set_access(store.con, dataset_id, **settings)


def describe(store: Store, home: NodeHome, dataset_id: str, description: dict) -> dict:
    """Keep a dataset's description; what the catalogue adds to it from the data."""
    meta = catalogue_description.DatasetDescription.model_validate(description)
    store.dataset(dataset_id)
    catalogue_description.save(store.con, dataset_id, meta)
    found = facts.facts(store, dataset_id, home.config.guard)
    derived = {k: v for k, v in asdict(found).items() if k != "versions"} | {"versions": len(found.versions)}
    return {"dataset": dataset_id, "description": meta.model_dump(mode="json", exclude_unset=True),
            "from_the_data": derived}


def export_phenopacket(store: Store, home: NodeHome, dataset_id: str, out_dir: Path) -> dict:
    """One Phenopacket per individual, written to ``out_dir``."""
    store.dataset(dataset_id)
    return {"dataset": dataset_id, "written": phenopacket.export_to_dir(store.con, dataset_id, out_dir)}


def audit_log(store: Store, home: NodeHome, last: int, verify: bool, anchor: str | None = None) -> dict:
    """The newest entries, or with ``verify`` whether the hash chain is intact (and still holds
    the entry ``anchor`` names)."""
    if verify:
        problems = audit.verify(store.con, anchor=None if anchor is None else audit.parse_anchor(anchor))
        return {"ok": not problems, "problems": [p.to_json() for p in problems]}
    return {"entries": [e.to_json() for e in audit.entries(store.con, last=last)]}


def describe_catalogue(store: Store, home: NodeHome, settings: dict) -> dict:
    found = catalogue_description.CatalogueSettings.model_validate(settings)
    catalogue_description.save_settings(store.con, found)
    return {"node": home.id, "base_url": found.base_url}


def catalogue_text(store: Store, home: NodeHome, format: str, base_url: str | None) -> dict:
    """The node's whole catalogue as its FAIR Data Point serves it."""
    fmt = formats.negotiate(None, format)
    graph = catalogue.graph(home, store.con, catalogue.base_url(home, store.con, base_url))
    return {"format": format, "text": formats.serialize(graph, fmt)}


# op → (its arguments, the operation, whether it only reads); ingest is the door's own (``_run``)
OPERATIONS: dict[str, tuple[type[BaseModel], Callable, bool]] = {
    "add-dataset": (DatasetArgs, add_dataset, False),
    "datasets": (NoArgs, datasets, True),
    "show": (ShowArgs, show, True),
    "access": (AccessArgs, access, False),
    "describe": (DescribeArgs, describe, False),
    "export-phenopacket": (ExportArgs, export_phenopacket, True),
    "audit": (AuditArgs, audit_log, True),
    "describe-catalogue": (CatalogueSettingsArgs, describe_catalogue, False),
    "catalogue": (CatalogueArgs, catalogue_text, True),
}
ARGS: dict[str, type[BaseModel]] = {"ingest": IngestArgs} | {op: o[0] for op, o in OPERATIONS.items()}


Op = Literal[tuple(ARGS)]


class DoorRequest(BaseModel):
    op: Op
    args: BaseModel  # the op's own model (``ARGS``), checked before this one

    @model_validator(mode="before")
    @classmethod
    def _args_of_op(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("op") in ARGS and isinstance(data.get("args"), dict):
            return data | {"args": ARGS[data["op"]].model_validate(data["args"])}
        return data


def run(op: str, store: Store, home: NodeHome, args: dict) -> Any:
    """A steward's command on the store (``OPERATIONS``), as the JSON it prints: the same from
    the serving node's door and from the file."""
    return jsonable_encoder(OPERATIONS[op][1](store, home, **args))


Event = Callable[[str, dict], None]


def socket_path(home: NodeHome) -> Path:
    """In the node folder, or, where that path is too long for a socket, in the temporary
    folder under a name derived from it."""
    folder = home.path.resolve()
    path = folder / SOCKET
    if len(os.fsencode(path)) <= _SUN_PATH:
        return path
    return Path(tempfile.gettempdir()) / f"oncofed-{hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]}.sock"


@contextlib.asynccontextmanager
async def serving(node: Node) -> AsyncIterator[Path]:
    """Open the door while the node serves. A socket left by a node that died is replaced:
    this process holds the store, so no other serves this node."""
    path = socket_path(node.home)
    path.unlink(missing_ok=True)
    mask = os.umask(0o177)  # the owner alone may connect
    try:
        server = await asyncio.start_unix_server(functools.partial(_client, node), path=str(path))
    finally:
        os.umask(mask)
    try:
        yield path
    finally:
        server.close()
        await server.wait_closed()
        path.unlink(missing_ok=True)


async def _client(node: Node, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[dict] = asyncio.Queue()

    def send(event: dict) -> None:
        loop.call_soon_threadsafe(events.put_nowait, event)

    try:
        request = await reader.readline()
        work = loop.run_in_executor(None, _run, node, request, send)
        while True:
            event = await events.get()
            writer.write(json.dumps(event, default=str).encode() + b"\n")
            await writer.drain()
            if event["event"] in ("result", "error"):
                break
        await work
    except (ConnectionError, asyncio.IncompleteReadError):
        log.warning("the steward's command went away before its answer; it ran to its end or not at all")
    finally:
        writer.close()


def _run(node: Node, request: bytes, send: Callable[[dict], None]) -> None:
    from oncofed.ingest.pipeline import ingest

    def progress(advance: float = 0, total: float | None = None, description: str | None = None) -> None:
        send({"event": "progress", "advance": advance, "total": total, "description": description})

    try:
        op, args = _request(request)
        if op == "ingest":
            result = asdict(ingest(node.home, **args, store=node.store, progress=progress,
                                   notice=lambda message: send({"event": "notice", "message": message})))
        else:
            with node.store() as store:
                result = run(op, store, node.home, args)
        send({"event": "result", "result": result})
    except OncofedError as e:
        send({"event": "error", **_error_json(e)})
    except Exception:  # noqa: BLE001 - the steward gets a line; the node's log gets the traceback
        log.exception("a steward's %s through the serving node failed", request[:40])
        send({"event": "error", "type": "OncofedError", "message": "the node failed to do this (see its log)"})


def _request(request: bytes) -> tuple[str, dict]:
    try:
        found = DoorRequest.model_validate_json(request)
    except ValidationError as e:
        problem = e.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "the request"
        raise OncofedError(f"a request at the door: {where}: {problem['msg']}") from None
    return found.op, dict(found.args)


def _error_json(e: OncofedError) -> dict:
    if isinstance(e, IngestError):
        fields = {k: getattr(e, k) for k in ("file", "line", "record", "field", "expected", "got")}
        return {"type": "IngestError", "message": e.reason, "fields": fields}
    return {"type": type(e).__name__, "message": str(e)}


def _error(event: dict) -> OncofedError:
    if event.get("type") == "IngestError":
        return IngestError(event["message"], **event["fields"])
    return OncofedError(event["message"])


def call(home: NodeHome, op: str, args: dict, on_event: Event) -> dict | None:
    """Do ``op`` through the node serving ``home``, if one does (None if not); ``args`` as
    the store or ``ingest.pipeline.ingest`` takes them, with paths absolute."""
    path = socket_path(home)
    if not path.exists():
        return None
    door = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        door.connect(str(path))
    except OSError:  # a socket file a node that died left behind
        door.close()
        return None
    with door, door.makefile("rwb") as stream:
        stream.write(json.dumps({"op": op, "args": args}, default=str).encode() + b"\n")
        stream.flush()
        for line in stream:
            event = json.loads(line)
            kind = event.pop("event")
            if kind == "result":
                return event["result"]
            if kind == "error":
                raise _error(event)
            on_event(kind, event)
    raise OncofedError("the serving node closed the door before it answered (see its log)")
