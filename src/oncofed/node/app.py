"""The node's HTTP service for the direct transport: the hub posts a sealed request, the node
answers with a sealed answer. Thin: everything is decided in ``node.handler``."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from oncofed.auth import envelope
from oncofed.node import admin
from oncofed.node import beacon_api
from oncofed.node import catalogue_api
from oncofed.node.handler import Node
from oncofed.node.home import NodeHome
from oncofed.web import LimitBody, error_handlers, errors, json_object

MAX_BODY = 1 << 20


class NodeInfo(BaseModel):
    """What a hub needs to register this node."""

    id: str
    name: str
    country: str = Field(description="ISO 3166 alpha-2")
    public_key: str = Field(description="Ed25519, base64url: the key the node signs its answers with")


def create_app(home: NodeHome) -> FastAPI:
    node = Node.open(home)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        async with admin.serving(node):  # the steward's commands on the store while it serves
            yield
        node.close()

    app = FastAPI(title=f"oncofed node {home.id}", lifespan=lifespan)
    app.add_middleware(LimitBody, max_bytes=MAX_BODY)
    error_handlers(app)
    app.include_router(beacon_api.router(node), prefix="/api")  # GA4GH Beacon v2
    app.include_router(catalogue_api.router(node))

    @app.exception_handler(envelope.EnvelopeError)
    async def _refused(request: Request, e: envelope.EnvelopeError):
        return JSONResponse({"error": f"request refused: {e}"}, status_code=401)

    @app.get("/node/info", response_model=NodeInfo, tags=["hub"])
    def info() -> dict:
        """Public: what a hub needs to register this node."""
        return home.info()

    @app.post("/node/requests", tags=["hub"], responses={
        200: {"model": envelope.Sealed, "description": "The node's sealed answer"}, **errors(400, 401)})
    async def requests(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(node.handle, await json_object(request)))

    return app
