"""A completed run's provenance over HTTP: ``GET /api/analyses/{run}/provenance`` answers the
run's RO-Crate as a zip, to the researcher who ran it only (a run names its requester and its
cohort, which are theirs)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from oncofed.hub import identity, provenance
from oncofed.hub.store import HubStore
from oncofed.web import errors


def context(request: Request, store: HubStore, requester: str) -> provenance.Context:
    hub = request.app.state.hub
    try:
        url = identity.of(request.app).url
    except identity.IdentityError:  # no public URL configured: where it was reached
        url = str(request.base_url).rstrip("/")
    user = store.user(requester)
    return provenance.Context(
        hub_id=hub.config.id, hub_name=hub.config.name, hub_url=url, requester_name=user["name"] if user else None,
        nodes={n.id: provenance.NodeInfo(n.name, n.country, n.transport) for n in store.nodes()})


def router(researcher: Any) -> APIRouter:
    """The route; ``researcher`` is the hub's dependency that checks a researcher token."""
    api = APIRouter(tags=["provenance"])

    @api.get("/api/analyses/{run_id}/provenance", response_class=Response,
             responses={200: {"content": {"application/zip": {}},
                              "description": "The run's RO-Crate (Workflow Run Crate profile), zipped"},
                        **errors(401, 404, 409)})
    async def run_provenance(run_id: str, request: Request, who: tuple[str, str] = Depends(researcher)) -> Response:
        store: HubStore = request.app.state.store
        run = await asyncio.to_thread(store.run, run_id)
        if run is None or run["requester"] != who[0]:
            raise HTTPException(404, "no such run of yours")
        if run["status"] != "done":
            raise HTTPException(409, f"run {run_id} is {run['status']}: only a completed run has a provenance crate")
        ctx = await asyncio.to_thread(context, request, store, who[0])
        data = await asyncio.to_thread(provenance.zip_bytes, run, ctx)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="oncofed-run-{run_id}.crate.zip"'})

    return api
