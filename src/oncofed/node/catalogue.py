"""A node's own catalogue, read from its store: the graph its FAIR Data Point serves and the
answer to a hub's ``catalogue`` request (how a relay node, which opens no port, is harvested).

The catalogue is public metadata: its only count is the guarded number of individuals and of
records (see ``catalogue.facts``), so like ``ping`` it needs no researcher token.
"""

from __future__ import annotations

import duckdb
from rdflib import Graph

from oncofed.catalogue import contents, dcat, description, formats
from oncofed.node.home import NodeHome
from oncofed.store.store import Store

HARVEST_FORMATS = ("turtle", "json-ld")


def base_url(home: NodeHome, con: duckdb.DuckDBPyConnection, default: str | None) -> str:
    """The base of the node's identifiers: its configured base URL, else ``default`` (where it
    was reached), else a URN that stays stable until a base URL is configured."""
    return description.settings(con).base_url or (default or "").rstrip("/") or f"urn:oncofed:node:{home.id}"


def graph(home: NodeHome, con: duckdb.DuckDBPyConnection, base: str) -> Graph:
    cat = contents.collect(Store(con, home.store_path), home.id, home.config.name, home.config.country,
                           home.config.created_at, home.config.guard)
    return dcat.build(cat, base)


def answer(home: NodeHome, con: duckdb.DuckDBPyConnection, body: dict) -> dict:
    """The whole catalogue for a harvest, in the format asked (Turtle unless told otherwise)."""
    fmt = body.get("format") or "turtle"
    if fmt not in HARVEST_FORMATS:
        return {"status": "error", "reason": f"catalogue format {fmt!r}: expected one of {', '.join(HARVEST_FORMATS)}"}
    base = base_url(home, con, body.get("base"))
    return {"status": "ok", "node": home.id, "base": base, "format": fmt,
            "catalogue": formats.serialize(graph(home, con, base), fmt)}
