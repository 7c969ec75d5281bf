"""The hub's catalogue over HTTP: harvest (on demand; on a schedule in the background), search
with facets, and each dataset's record: the JSON twin of its page, which the portal serves
(``hub.portal``). Reading is public, as a catalogue is meant to be found; starting a harvest
needs a researcher token.

The schedule is ``ONCOFED_CATALOGUE_HARVEST_S`` seconds (default 3600; 0 turns it off).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from oncofed.catalogue import schemaorg
from oncofed.hub import catalogue_search
from oncofed.hub.catalogue import TIMEOUT_S, Harvester

INTERVAL_ENV, INTERVAL_S = "ONCOFED_CATALOGUE_HARVEST_S", 3600.0


class HarvestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: list[str] | None = None
    timeout_s: float = Field(TIMEOUT_S, gt=0, le=600)


def router(researcher: Any) -> APIRouter:
    """The routes; ``researcher`` is the hub's dependency that checks a researcher token."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # inside the hub's own lifespan, so its transports are there
        app.state.harvester = Harvester(app.state.store, app.state.hub, app.state.coordinator.transports)
        interval = float(os.environ.get(INTERVAL_ENV, INTERVAL_S))
        task = asyncio.create_task(app.state.harvester.every(interval)) if interval > 0 else None
        yield
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    api = APIRouter(lifespan=lifespan, tags=["catalogue"])

    @api.post("/api/catalogue/harvest")
    async def harvest(request: Request, body: HarvestRequest | None = None,
                      who: tuple[str, str] = Depends(researcher)) -> dict:
        """Harvest every node's catalogue now (or the nodes named); per node: ok, or why not."""
        body = body or HarvestRequest()
        return {"nodes": await request.app.state.harvester.harvest(body.nodes, body.timeout_s)}

    @api.get("/api/catalogue/nodes")
    async def nodes(request: Request) -> list[dict]:
        return [{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in n.items()}
                for n in await asyncio.to_thread(request.app.state.harvester.catalogue.nodes)]

    @api.get("/api/catalogue/nodes/{node_id}")
    async def node_catalogue(request: Request, node_id: str) -> Response:
        """A node's catalogue as last harvested (Turtle)."""
        text = await asyncio.to_thread(request.app.state.harvester.catalogue.harvested, node_id)
        if text is None:
            raise HTTPException(404, f"no harvested catalogue of node {node_id!r}")
        return Response(text, media_type="text/turtle")

    @api.get("/api/catalogue/datasets")
    async def datasets(request: Request, query: Annotated[catalogue_search.Query, Query()]) -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(catalogue_search.search, request.app.state.store.engine, query))

    async def record(request: Request, node_id: str, dataset_id: str) -> dict:
        found = await asyncio.to_thread(catalogue_search.dataset, request.app.state.store.engine,
                                        f"{node_id}/{dataset_id}")
        if found is None:
            raise HTTPException(404, f"no dataset {dataset_id!r} of node {node_id!r} in the catalogue")
        page = str(request.url_for("dataset_page", node_id=node_id, dataset_id=dataset_id))
        return found | {"page": page, "schema_org": schemaorg.dataset(found, page)}

    @api.get("/api/catalogue/datasets/{node_id}/{dataset_id}")
    async def dataset(request: Request, node_id: str, dataset_id: str) -> dict:
        return await record(request, node_id, dataset_id)

    return api

