"""The node's HTTP service for the direct transport: the hub posts a sealed request, the node
answers with a sealed answer. Thin: everything is decided in ``node.handler``."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from oncofed.auth import envelope
from oncofed.node import admin
from oncofed.node import beacon_api
from oncofed.node import catalogue_api
from oncofed.node.handler import Node
from oncofed.node.home import NodeHome
from oncofed.web import LimitBody, error_handlers, json_object

MAX_BODY = 1 << 20


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

    @app.get("/node/info")
    def info() -> dict:
        """Public: what a hub needs to register this node."""
        return home.info()

    @app.post("/node/requests")
    async def requests(request: Request) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(node.handle, await json_object(request)))

    return app
