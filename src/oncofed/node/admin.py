"""A serving node's local door for its steward: `oncofed node add-dataset` and `node ingest`
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
import dataclasses
import functools
import hashlib
import json
import logging
import os
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from oncofed.errors import IngestError, OncofedError
from oncofed.node.handler import Node
from oncofed.node.home import NodeHome

log = logging.getLogger(__name__)

SOCKET = "admin.sock"
_SUN_PATH = 100  # a socket's path must fit sockaddr_un (108 bytes on Linux, 104 on macOS)
# what may come through the door: per operation, its arguments (those required first)
OPERATIONS = {
    "ingest": ({"dataset_id", "format"}, {"files", "mapping", "where", "samples", "assembly", "patients", "on_error",
                                          "region_column", "region_coding", "replace"}),
    "add-dataset": ({"dataset_id", "title"}, {"description", "duo", "licence", "contact"}),
}
PATHS = {"mapping", "samples", "patients"}

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
        log.warning("the steward's ingest client went away; the ingest ran to its end or not at all")
    finally:
        writer.close()


def _run(node: Node, request: bytes, send: Callable[[dict], None]) -> None:
    from oncofed.ingest.pipeline import ingest

    def progress(advance: float = 0, total: float | None = None, description: str | None = None) -> None:
        send({"event": "progress", "advance": advance, "total": total, "description": description})

    try:
        op, args = _request(request)
        if op == "ingest":
            result = ingest(node.home, **args, store=node.store, progress=progress,
                            notice=lambda message: send({"event": "notice", "message": message}))
        else:
            with node.store() as store:
                result = store.add_dataset(args.pop("dataset_id"), args.pop("title"), **args)
        send({"event": "result", "result": dataclasses.asdict(result)})
    except OncofedError as e:
        send({"event": "error", **_error_json(e)})
    except Exception:  # noqa: BLE001 - the steward gets a line; the node's log gets the traceback
        log.exception("a steward's %s through the serving node failed", request[:40])
        send({"event": "error", "type": "OncofedError", "message": "the node failed to do this (see its log)"})


def _request(request: bytes) -> tuple[str, dict]:
    try:
        message = json.loads(request)
        op, args = message["op"], message["args"]
        required, optional = OPERATIONS[op]
    except (ValueError, KeyError, TypeError):
        raise OncofedError(f"not a request this door takes: expected op ({', '.join(OPERATIONS)}) and args") from None
    if not isinstance(args, dict) or set(args) - required - optional or not required <= set(args):
        raise OncofedError(f"{op} takes {sorted(required)} and some of {sorted(optional)}")
    paths = {k: Path(v) for k, v in args.items() if k in PATHS and v is not None}
    files = {"files": [Path(f) for f in args.get("files") or []]} if op == "ingest" else {}
    return op, args | paths | files


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
    args = {k: ([str(f) for f in v] if k == "files" else str(v) if isinstance(v, Path) else v) for k, v in args.items()}
    with door, door.makefile("rwb") as stream:
        stream.write(json.dumps({"op": op, "args": args}).encode() + b"\n")
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
