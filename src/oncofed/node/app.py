"""The node's HTTP service for the direct transport: the hub posts a sealed request, the node
answers with a sealed answer. Thin: everything is decided in ``node.handler``."""

from __future__ import annotations

import contextlib
import json

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from oncofed.auth import envelope
from oncofed.node.handler import Node
from oncofed.node.home import NodeHome
from oncofed.web import LimitBody, validation_message

MAX_BODY = 1 << 20


def create_app(home: NodeHome) -> FastAPI:
    node = Node.open(home)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        node.close()

    app = FastAPI(title=f"oncofed node {home.id}", lifespan=lifespan)
    app.add_middleware(LimitBody, max_bytes=MAX_BODY)

    @app.exception_handler(envelope.EnvelopeError)
    async def _refused(request: Request, e: envelope.EnvelopeError):
        return JSONResponse({"error": f"request refused: {e}"}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        return JSONResponse({"error": validation_message(e)}, status_code=422)

    @app.get("/node/info")
    def info() -> dict:
        """Public: what a hub needs to register this node."""
        return home.info()

    @app.post("/node/requests")
    async def requests(request: Request) -> JSONResponse:
        # the envelope is checked by the handler itself: no model validation or re-encoding here
        try:
            sealed = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(sealed, dict):
            return JSONResponse({"error": "expected a signed envelope (a JSON object)"}, status_code=400)
        return JSONResponse(await run_in_threadpool(node.handle, sealed))

    return app
