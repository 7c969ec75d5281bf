"""The hub's HTTP API: researchers run analyses, nodes behind firewalls poll for work.

Thin: each endpoint checks who is calling, then hands over to the coordinator or the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from oncofed.analysis import registry
from oncofed.auth import envelope, tokens
from oncofed.auth.envelope import Sealed
from oncofed.errors import OncofedError
from oncofed.hub import access_api, identity, identity_api
from oncofed.hub import beacon_api, catalogue_api, provenance_api
from oncofed.hub import home as hub_home
from oncofed.hub import portal
from oncofed.hub.coordinator import Coordinator, RunRequest
from oncofed.hub.store import HubStore, HubStoreError, NodeRecord
from oncofed.hub.transports.direct import DirectTransport
from oncofed.hub.transports.relay import RelayQueue, RelayTransport
from oncofed.web import Error, LimitBody, async_client, error_handlers, errors, json_object

MAX_BODY = 1 << 20  # 1 MiB: no legitimate request is larger
EXCHANGED_TOKEN_TTL = timedelta(minutes=15)  # a hub token standing in for an external one
POLL_WAIT_S = 20.0  # how long a relay poll is held open when there is no work
RELAY_LEASE_S = 60.0  # a claimed request not answered by then goes to the next poll


class RelayAnswer(BaseModel):
    request_id: str
    envelope: dict


class HubInfo(BaseModel):
    """What a node needs to trust this hub."""

    id: str
    name: str
    public_key: str = Field(description="Ed25519, base64url: the key the hub signs tokens and envelopes with")


class NodeHealth(BaseModel):
    """A registered node, and how the hub last found it."""

    id: str
    name: str
    country: str
    transport: str = Field(description="direct | relay")
    url: str | None
    last_seen: datetime | None
    last_error: str | None
    last_error_at: datetime | None


class Analysis(BaseModel):
    name: str
    version: str


class NodePart(BaseModel):
    """One node's part in a run, as the researcher sees it (``fanout.Outcome.public``)."""

    status: str = Field(description="ok, refused, error, timed out, ...")
    seconds: float
    round: int
    reason: str | None = None
    datasets: dict[str, Any] | None = Field(None, description="the versions of the datasets it used")
    min_cell: int | None = Field(None, description="its smallest count shown: what '< k' means for its counts")


class Run(BaseModel):
    """An analysis run: 202 while running, 200 when done, 422 when it failed."""

    run: str
    status: str = Field(description="running | done | failed")
    analysis: str
    version: str
    result: dict[str, Any] | None = Field(description="the analysis's own result, once done")
    error: str | None
    per_node: dict[str, NodePart]
    created_at: datetime
    updated_at: datetime


class RelayRequest(BaseModel):
    id: str
    envelope: Sealed


class RelayWork(BaseModel):
    """The sealed requests waiting for the polling node (none if none came in time)."""

    requests: list[RelayRequest]


class RelayStored(BaseModel):
    stored: bool


RUN_RESPONSES: dict[int | str, dict] = {
    **errors(400, 401), 200: {"model": Run, "description": "The run, done"},
    202: {"model": Run, "description": "The run, still running"},
    422: {"model": Run | Error, "description": "The run failed, or the request is invalid"}}


def researcher(request: Request, authorization: Annotated[str | None, Header()] = None) -> tuple[str, str]:
    """The calling researcher's id, and the hub token the nodes will check for them: their own
    hub token, or, for a researcher signed in with a trusted external OIDC issuer, a short-lived
    one the hub issues in exchange (nodes trust only their hub's signature)."""
    hub, store = request.app.state.hub, request.app.state.store
    token = (authorization or "").removeprefix("Bearer ").strip()
    try:  # the hub's own tokens, the common case, without looking up roles
        claims = tokens.verify(token, [hub.public_key], issuer=hub.config.id)
    except tokens.TokenError:
        caller = identity.of(request.app).authenticate(authorization)  # an external issuer's, or a 401
        return caller.user_id, tokens.issue(hub.private_key, hub.config.id, caller.user_id, EXCHANGED_TOKEN_TTL)
    user = store.user(claims.subject)
    if user is None or user["disabled"]:
        raise tokens.TokenError("this token's user is unknown or disabled")
    return claims.subject, token


Researcher = Annotated[tuple[str, str], Depends(researcher)]


def create_app(home_path: Path | None = None, db: str | None = None) -> FastAPI:
    """The hub app; with no arguments (several uvicorn workers) from ONCOFED_HUB_HOME/_DB."""
    hub = hub_home.load(Path(home_path or os.environ["ONCOFED_HUB_HOME"]))
    store = HubStore(db or os.environ.get("ONCOFED_HUB_DB") or hub.config.db)
    queue = RelayQueue(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with async_client() as client:  # trusts ONCOFED_CA_BUNDLE too
            app.state.coordinator = Coordinator(store, hub, {"direct": DirectTransport(client),
                                                             "relay": RelayTransport(queue)})
            adopter = asyncio.create_task(app.state.coordinator.adopt_forever())
            yield
            adopter.cancel()
            await app.state.coordinator.close()
        store.dispose()

    app = FastAPI(title="oncofed hub", lifespan=lifespan)
    app.state.hub, app.state.store = hub, store
    app.add_middleware(LimitBody, max_bytes=MAX_BODY)
    error_handlers(app)
    app.include_router(catalogue_api.router(researcher))
    app.include_router(identity_api.router())
    app.include_router(access_api.router())
    app.include_router(beacon_api.router(researcher))
    app.include_router(portal.router(researcher))
    app.add_exception_handler(portal.SignInFirst, portal.to_sign_in)
    app.include_router(provenance_api.router(researcher))
    poll_replay, answer_replay = envelope.ReplayCache(), envelope.ReplayCache()

    @app.exception_handler(tokens.TokenError)
    async def _bad_token(request: Request, e: tokens.TokenError):
        return JSONResponse({"error": str(e)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(OncofedError)
    async def _bad_request(request: Request, e: OncofedError):
        return JSONResponse({"error": str(e)}, status_code=400)

    @app.get("/api/hub", response_model=HubInfo)
    def hub_info() -> dict:
        """Public: what a node needs to trust this hub."""
        return hub.info()

    @app.get("/api/nodes", response_model=list[NodeHealth], tags=["nodes"], responses=errors(401))
    def nodes(who: Researcher) -> list[dict]:
        return [_health(n) for n in store.nodes()]

    @app.get("/api/analyses", response_model=list[Analysis], tags=["analyses"], responses=errors(401))
    def analyses(who: Researcher) -> list[dict]:
        return [{"name": a.name, "version": a.version} for a in registry.all()]

    @app.post("/api/analyses", tags=["analyses"], responses=RUN_RESPONSES)
    async def run(request: RunRequest, who: Researcher,
                  wait: Annotated[float, Query(ge=0, le=600)] = 60) -> JSONResponse:
        coordinator: Coordinator = app.state.coordinator
        run_id = coordinator.submit(who[0], who[1], request)
        await coordinator.wait(run_id, wait)
        return _run_response(store.run(run_id))

    @app.get("/api/analyses/{run_id}", tags=["analyses"], responses=errors(404) | RUN_RESPONSES)
    async def run_status(run_id: str, who: Researcher,
                         wait: Annotated[float, Query(ge=0, le=600)] = 0) -> JSONResponse:
        run = store.run(run_id)
        if run is None or run["requester"] != who[0]:
            raise HTTPException(404, "no such run of yours")
        await app.state.coordinator.wait(run_id, wait)
        return _run_response(store.run(run_id))

    def node_envelope(sealed: dict, replay: envelope.ReplayCache) -> tuple[NodeRecord, dict]:
        """The node that signed a relay message, and its body; 401 if it is no registered node."""
        signer: list[NodeRecord] = []

        def key_of(sender: str) -> str | None:
            try:
                signer.append(store.node(sender))
            except HubStoreError:
                return None
            return signer[0].public_key
        try:
            body = envelope.open_(sealed, hub.config.id, key_of, replay)
        except (envelope.EnvelopeError, OncofedError) as e:
            raise HTTPException(401, f"relay message refused: {e}") from None
        return signer[0], body

    @app.post("/api/relay/poll", tags=["relay"], responses={200: {"model": RelayWork}, **errors(400, 401)})
    async def relay_poll(request: Request, wait: Annotated[float, Query(ge=0, le=60)] = POLL_WAIT_S) -> JSONResponse:
        node, body = node_envelope(await json_object(request), poll_replay)
        if body.get("kind") != "poll":
            raise HTTPException(400, "expected a poll")
        if node.transport != "relay":
            raise HTTPException(400, f"node {node.id!r} is registered for the direct transport")
        await asyncio.to_thread(store.seen, node.id)
        claimed = await queue.claim(node.id, wait, RELAY_LEASE_S, gone=request.is_disconnected)
        return JSONResponse({"requests": [{"id": rid, "envelope": env} for rid, env in claimed]})

    @app.post("/api/relay/answer", tags=["relay"],
              responses={200: {"model": RelayStored}, **errors(400, 401, 409)})
    async def relay_answer(request: Request) -> JSONResponse:
        try:
            answer = RelayAnswer.model_validate(await json_object(request))
        except ValidationError as e:
            raise HTTPException(422, f"expected {{request_id, envelope}}: {e.errors()[0]['msg']}") from None
        # Checked here so that nobody but the node can fill its answer slot, and again (with
        # the replay check) by the coordinator that uses it.
        node, _ = node_envelope(answer.envelope, answer_replay)
        if not await asyncio.to_thread(store.answer, answer.request_id, node.id, answer.envelope):
            raise HTTPException(409, "no open request with that id for this node (answered, expired or unknown)")
        queue.notify_answered(answer.request_id)
        return JSONResponse({"stored": True})

    return app


def _health(n) -> dict:
    return {"id": n.id, "name": n.name, "country": n.country, "transport": n.transport, "url": n.url,
            "last_seen": n.last_seen, "last_error": n.last_error, "last_error_at": n.last_error_at}


def _run_response(run: dict) -> JSONResponse:
    body = {"run": run["id"], "status": run["status"], "analysis": run["analysis"], "version": run["version"],
            "result": run["result"], "error": run["error"], "per_node": run["per_node"],
            "created_at": run["created_at"].isoformat(), "updated_at": run["updated_at"].isoformat()}
    code = {"running": 202, "done": 200}.get(run["status"], 422)  # failed: refused, too few nodes, bad input
    return JSONResponse(body, status_code=code)
