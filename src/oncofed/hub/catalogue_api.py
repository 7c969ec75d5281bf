"""The hub's catalogue over HTTP: harvest (on demand; on a schedule in the background), search
with facets, and each dataset's record: the JSON twin of its page, which the portal serves
(``hub.portal``). Reading is public, as a catalogue is meant to be found; starting a harvest
needs a researcher token.

The schedule is ``ONCOFED_CATALOGUE_HARVEST_S`` seconds (default 3600; 0 turns it off).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import typing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from oncofed.catalogue import schemaorg
from oncofed.catalogue.records import DatasetRecord
from oncofed.hub import catalogue_search
from oncofed.hub.catalogue import TIMEOUT_S, Harvester
from oncofed.web import errors

INTERVAL_ENV, INTERVAL_S = "ONCOFED_CATALOGUE_HARVEST_S", 3600.0


class HarvestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: list[str] | None = None
    timeout_s: float = Field(TIMEOUT_S, gt=0, le=600)


class Harvested(BaseModel):
    """Per node harvested: ok with its number of datasets, or why not."""

    class Outcome(BaseModel):
        status: str = Field(description="ok, refused, error, timed out, ...")
        datasets: int | None = None
        reason: str | None = None

    nodes: dict[str, Outcome]


class HarvestStatus(BaseModel):
    """A node's last harvest; times in ISO 8601."""

    node_id: str
    status: str = Field(description="ok | stale")
    harvested_at: str | None
    attempted_at: str
    stale_since: str | None
    error: str | None
    base: str | None


_hints = typing.get_type_hints(DatasetRecord)
# a record as the hub keeps it: every field of ``catalogue.records.DatasetRecord``, and where it is
# held and whether its node still answers (``catalogue_search``)
Dataset = create_model(
    "Dataset", __doc__="A dataset's record in the harvested catalogue.",
    id=(str, Field(description="NODE/DATASET")), held_in=(str, Field(description="the node's country")),
    stale=(bool, ...), stale_since=(str | None, ...),
    **{f.name: (_hints[f.name], ...) for f in dataclasses.fields(DatasetRecord)})


class DatasetPage(Dataset):
    """A dataset's record, with its page and that page's schema.org description."""

    page: str
    schema_org: dict[str, Any] = Field(description="schema.org Dataset (JSON-LD), as its page embeds")


class Facet(BaseModel):
    value: str
    label: str
    count: int


class Found(BaseModel):
    """One page of the datasets a search finds, and the counts of each facet's values among all."""

    total: int
    page: int
    per_page: int
    datasets: list[Dataset]
    facets: dict[str, list[Facet]]


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

    @api.post("/api/catalogue/harvest", response_model=Harvested, response_model_exclude_unset=True,
              responses=errors(400, 401))
    async def harvest(request: Request, body: HarvestRequest | None = None,
                      who: tuple[str, str] = Depends(researcher)) -> dict:
        """Harvest every node's catalogue now (or the nodes named); per node: ok, or why not."""
        body = body or HarvestRequest()
        return {"nodes": await request.app.state.harvester.harvest(body.nodes, body.timeout_s)}

    @api.get("/api/catalogue/nodes", response_model=list[HarvestStatus])
    async def nodes(request: Request) -> list[dict]:
        return [{k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in n.items()}
                for n in await asyncio.to_thread(request.app.state.harvester.catalogue.nodes)]

    @api.get("/api/catalogue/nodes/{node_id}", response_class=Response, responses={
        200: {"content": {"text/turtle": {}}, "description": "The node's catalogue (DCAT-AP), as harvested"},
        **errors(404)})
    async def node_catalogue(request: Request, node_id: str) -> Response:
        """A node's catalogue as last harvested (Turtle)."""
        text = await asyncio.to_thread(request.app.state.harvester.catalogue.harvested, node_id)
        if text is None:
            raise HTTPException(404, f"no harvested catalogue of node {node_id!r}")
        return Response(text, media_type="text/turtle")

    @api.get("/api/catalogue/datasets", responses={200: {"model": Found}, **errors(400)})
    async def datasets(request: Request, query: Annotated[catalogue_search.Query, Query()]) -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(catalogue_search.search, request.app.state.store.engine, query))

    async def record(request: Request, node_id: str, dataset_id: str) -> dict:
        found = await asyncio.to_thread(catalogue_search.dataset, request.app.state.store.engine,
                                        f"{node_id}/{dataset_id}")
        if found is None:
            raise HTTPException(404, f"no dataset {dataset_id!r} of node {node_id!r} in the catalogue")
        page = str(request.url_for("dataset_page", node_id=node_id, dataset_id=dataset_id))
        return found | {"page": page, "schema_org": schemaorg.dataset(found, page)}

    @api.get("/api/catalogue/datasets/{node_id}/{dataset_id}", response_model=DatasetPage, responses=errors(404))
    async def dataset(request: Request, node_id: str, dataset_id: str) -> dict:
        return await record(request, node_id, dataset_id)

    return api

