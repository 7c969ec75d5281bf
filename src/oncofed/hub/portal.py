"""The portal: the hub's web pages for researchers, data access committees and stewards.

Every page renders from the JSON its twin in the API serves: the portal calls the hub's own
API in process (``Api``), as the signed-in user, with a hub token it mints for that call, and
links the twin from the page. So a page shows nothing a script could not get, and the API's
checks (who may see a request, whose run this is, what the nodes release) are the page's.

    /portal                       home: who you are (GET /api/me)
    /portal/login, /portal/logout sign in with a hub token (see ``portal_session``)
    /portal/catalogue             search with facets (GET /api/catalogue/datasets)
    /catalogue/{node}/{dataset}   a dataset's page, with schema.org JSON-LD (GET /api/catalogue/datasets/…)
    /portal/cohort                cohort builder, counts per node (GET /api/cohort/counts: POST /api/analyses count;
                                  Beacon /api/individuals)
    /portal/analyses/new          an analysis of the cohort; /portal/analyses/{run} its result (GET /api/analyses/{run})
    /portal/analyses/{run}/provenance.zip   its RO-Crate (GET /api/analyses/{run}/provenance)
    /portal/access[/{id}|/new]    access requests and the DAC's review (/api/access/requests …)
    /portal/nodes                 node health (GET /api/nodes)
    /portal/audit/{node}          a steward's view of their node's audit log (GET /api/nodes/{node}/audit)

Server-rendered (Jinja2) with plain CSS; a little JavaScript only refreshes cohort counts as
criteria change. Figures are drawn on the hub with matplotlib (``portal_results``).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from oncofed.auth import envelope, tokens
from oncofed.hub import catalogue_search, identity, portal_cohort, portal_results
from oncofed.hub import portal_session as sessions
from oncofed.hub.fanout import OK, REFUSED, ask
from oncofed.hub.identity import Caller
from oncofed.hub.identity_api import Who
from oncofed.hub.store import HubStoreError
from oncofed.model import duo, vocabulary
from oncofed.web import errors

HERE = Path(__file__).parent
STATIC = HERE / "static"
TOKEN_TTL = timedelta(minutes=15)  # a token the portal mints for one call on a user's behalf
AUDIT_TIMEOUT_S = 30.0
ANALYSIS_WAIT_S = 60
FIGURE_CACHE = 64  # rendered figures kept per hub process (a run's result never changes)
SECURITY_HEADERS = {
    # matplotlib's SVG styles its elements inline, hence style-src 'unsafe-inline'; no inline script
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

CohortOp = Literal[tuple(portal_cohort.OPS)]  # a criterion's comparison, as the cohort builder offers them

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["label"] = portal_results.label
templates.env.filters["code_label"] = lambda c: vocabulary.label(c) or c


class Api:
    """The hub's own API, called in process as the signed-in user (or anonymously)."""

    def __init__(self, request: Request, who: Caller | None):
        self.request, self.who = request, who

    async def call(self, method: str, path: str, *, params: Any = None, json: Any = None) -> httpx.Response:
        hub = self.request.app.state.hub
        headers = {}
        if self.who is not None:
            token = tokens.issue(hub.private_key, hub.config.id, self.who.user_id, TOKEN_TTL)
            headers["Authorization"] = f"Bearer {token}"
        transport = httpx.ASGITransport(app=self.request.app)
        async with httpx.AsyncClient(transport=transport, base_url=str(self.request.base_url).rstrip("/"),
                                     timeout=ANALYSIS_WAIT_S + 30) as client:
            return await client.request(method, path, params=params, json=json, headers=headers)

    async def get(self, path: str, params: Any = None) -> dict | list:
        """The JSON of a GET, or ``ApiError`` with the API's message."""
        return _json(await self.call("GET", path, params=params))


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise ApiError(response.status_code, _error(response))
    return response.json()


def _error(response: httpx.Response) -> str:
    """The API's message for a refused call."""
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text


class SignInFirst(Exception):
    """A page for signed-in users only, asked for by someone who is not."""


async def to_sign_in(request: Request, _: SignInFirst) -> RedirectResponse:
    """The hub's answer to ``SignInFirst``: the sign-in page, coming back here after."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/portal/login?" + urlencode({"next": here}), status_code=303)


class AuditEntry(BaseModel):
    """One entry of a node's hash-chained audit log (``node.audit``)."""

    seq: int
    at: str
    requester: str | None
    kind: str
    outcome: str = Field(description="released, refused or error")
    request_digest: str
    datasets: dict[str, Any]
    reason: str | None
    released: dict[str, Any]
    prev_hash: str
    hash: str


class AuditLog(BaseModel):
    node: str
    entries: list[AuditEntry]


class NodeCount(BaseModel):
    """A node's count as the portal shows it: a withheld one as "< k", never its value."""

    node: str
    status: str
    reason: str | None
    shown: str
    datasets: dict[str, Any] | None = Field(None, description="the versions of the datasets counted")


class VariantCounts(BaseModel):
    """Per node, the individuals carrying the variant, through the Beacon network."""

    nodes: list[NodeCount] | None = None
    request: dict[str, Any] | None = Field(None, description="a Beacon request asking all of them")
    errors: list[str]


class CohortCounts(BaseModel):
    """The cohort builder's counts; ``total`` only once the count run is done."""

    request: dict[str, Any] = Field(description="the count analysis's request (POST /api/analyses)")
    errors: list[str]
    run: str | None = None
    nodes: list[NodeCount] | None = None
    total: str | None = None
    variant: VariantCounts | None = None


def router(researcher: Any) -> APIRouter:
    """The portal's routes and the API routes it adds (a node's audit log, for its steward;
    the cohort builder's counts); ``researcher`` is the hub's check of a researcher token."""
    api = APIRouter()
    replay = envelope.ReplayCache()
    figures: OrderedDict[tuple, bytes] = OrderedDict()

    # the API routes the portal needed -----------------------------------------------------

    @api.get("/api/nodes/{node_id}/audit", tags=["nodes"],
             responses={200: {"model": AuditLog}, **errors(401, 403, 404, 502, 504)})
    async def node_audit(request: Request, node_id: str, who: Who,
                         last: Annotated[int, Query(ge=1, le=1000)] = 100,
                         me: tuple[str, str] = Depends(researcher)) -> JSONResponse:
        """The newest entries of a node's audit log, for a steward of that node: asked of the
        node itself, which keeps its log, with the hub's word that the caller stewards it."""
        if not who.is_steward(node_id):
            raise HTTPException(403, f"only a steward of node {node_id!r} may read its audit log")
        store = request.app.state.store
        try:
            node = await asyncio.to_thread(store.node, node_id)
        except HubStoreError as e:
            raise HTTPException(404, str(e)) from None
        body = {"kind": "audit", "token": me[1], "roles": [{"role": "steward", "scope": node_id}], "last": last}
        outcome = (await ask([node], body, hub=request.app.state.hub, transports=request.app.state.coordinator.transports,
                             replay=replay, timeout=AUDIT_TIMEOUT_S))[node_id]
        if outcome.status != OK:
            code = 403 if outcome.status == REFUSED else 504 if outcome.status == "timed out" else 502
            return JSONResponse({"error": f"node {node_id}: {outcome.status}: {outcome.reason}"}, status_code=code)
        return JSONResponse({"node": node_id, "entries": outcome.body["entries"]})

    @api.get("/api/cohort/counts", tags=["analyses"], responses={200: {"model": CohortCounts}, **errors(401)})
    async def cohort_counts(
            request: Request, who: Who,
            dataset: Annotated[list[str], Query(description="a dataset id (repeated); none: every dataset")] = [],
            node: Annotated[list[str], Query(description="a node id (repeated); none: every node")] = [],
            v: Annotated[list[str], Query(description="a criterion's variable (a v, op, val triple per criterion, "
                                                      "in order)")] = [],
            op: Annotated[list[CohortOp], Query(description="its comparison")] = [],
            val: Annotated[list[str], Query(description="its value (a list: comma-separated)")] = [],
            gene: str | None = None, assembly: str | None = None, chrom: str | None = None,
            pos: Annotated[str | None, Query(description="1-based, as in VCF")] = None,
            ref: str | None = None, alt: str | None = None) -> JSONResponse:
        """The cohort builder's counts (``/portal/cohort`` as JSON) for the cohort its query
        string names: individuals per node (the ``count`` analysis's run) and, with variant
        criteria, per node through the Beacon network, each with the request that asked it.
        Counts are as the page shows them: one a node withheld as "< k", never its value. A
        criterion that cannot run is a 422."""
        # the parameters above, read in order as the page reads its form
        criteria = portal_cohort.parse(request.query_params.multi_items())
        if criteria.errors:
            return JSONResponse({"error": "; ".join(criteria.errors)}, status_code=422)
        return JSONResponse(await _counts(Api(request, who), criteria))

    # sessions -----------------------------------------------------------------------------

    def key(request: Request) -> bytes:
        app = request.app
        if getattr(app.state, "portal_key", None) is None:
            app.state.portal_key = sessions.session_key(app.state.hub.private_key)
        return app.state.portal_key

    async def signed_in(request: Request) -> tuple[sessions.Session, Caller] | None:
        session = sessions.open_(request.cookies.get(sessions.SESSION_COOKIE), key(request))
        if session is None:
            return None

        def load() -> Caller | None:
            user = request.app.state.store.user(session.user)
            if user is None or user["disabled"]:
                return None
            return Caller(session.user, user["name"], identity.of(request.app).identities.roles(session.user))
        who = await asyncio.to_thread(load)
        return (session, who) if who is not None else None

    def page(request: Request, name: str, context: dict, status: int = 200) -> HTMLResponse:
        found = context.get("_signed_in")
        who = found[1] if found else None
        context = {"me": who, "csrf": found[0].csrf if found else None, "path": request.url.path,
                   "stewarded": sorted(s for r, s in who.roles if r == "steward") if who else [],
                   "reviews": bool(who and any(r == "dac" for r, _ in who.roles)), **context}
        response = templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def required(request: Request) -> tuple[sessions.Session, Caller]:
        """A page's signed-in user: anyone else is sent to sign in first (``SignInFirst``)."""
        found = await signed_in(request)
        if found is None:
            raise SignInFirst
        return found

    async def form(request: Request) -> list[tuple[str, str]]:
        """A POSTed form's fields, once it is shown to come from this hub's pages."""
        origin = request.headers.get("origin")
        if origin is not None and origin != _origin(str(request.base_url)):
            raise HTTPException(403, "this form was posted from another site")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise HTTPException(415, "expected a form (application/x-www-form-urlencoded)")
        return parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

    async def checked_form(request: Request, found) -> dict[str, Any]:
        pairs = await form(request)
        fields = _fields(pairs)
        if not sessions.csrf_ok(found[0], fields.get("csrf")):
            raise HTTPException(403, "this form has expired or did not come from your session; reload the page")
        return fields | {"_pairs": pairs}

    # pages ---------------------------------------------------------------------------------

    @api.get("/portal/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in _static_files():
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name, headers={"Cache-Control": "public, max-age=3600"})

    @api.get("/portal", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        found = await signed_in(request)
        me = await Api(request, found[1]).get("/api/me") if found else None
        return page(request, "home.html", {"_signed_in": found, "twin": "/api/me" if found else None, "profile": me})

    @api.get("/portal/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(request: Request, next: str = "/portal") -> Response:
        return _login_page(request, next, None)

    def _login_page(request: Request, next_: str, error: str | None) -> Response:
        nonce = sessions.login_nonce(key(request))
        response = page(request, "login.html", {"next": _safe_next(next_), "nonce": nonce, "error": error},
                        status=401 if error else 200)
        _cookie(request, response, sessions.LOGIN_COOKIE, nonce, sessions.LOGIN_S, path="/portal/login")
        return response

    @api.post("/portal/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        fields = _fields(await form(request))
        next_ = _safe_next(fields.get("next", "/portal"))
        if not sessions.login_ok(request.cookies.get(sessions.LOGIN_COOKIE), fields.get("nonce"), key(request)):
            return _login_page(request, next_, "The sign-in form has expired; please try again.")
        try:
            caller = await asyncio.to_thread(identity.of(request.app).authenticate,
                                             f"Bearer {fields.get('token', '').strip()}")
        except tokens.TokenError as e:
            return _login_page(request, next_, f"That token was not accepted: {e}")
        response = RedirectResponse(next_, status_code=303)
        session = sessions.new(caller.user_id)
        _cookie(request, response, sessions.SESSION_COOKIE, sessions.seal(session, key(request)), sessions.SESSION_S)
        response.delete_cookie(sessions.LOGIN_COOKIE, path="/portal/login")
        return response

    @api.post("/portal/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        found = await signed_in(request)
        if found is not None:
            await checked_form(request, found)
        response = RedirectResponse("/portal", status_code=303)
        response.delete_cookie(sessions.SESSION_COOKIE, path="/")
        return response

    # catalogue ----------------------------------------------------------------------------

    @api.get("/portal/catalogue", response_class=HTMLResponse, include_in_schema=False)
    async def catalogue(request: Request) -> Response:
        found = await signed_in(request)
        pairs = [(k, v) for k, v in request.query_params.multi_items() if v != ""]
        params = [(k, v) for k, v in pairs if k in _CATALOGUE_PARAMS]
        size = dict(pairs).get("size")
        for label_, low, high in catalogue_search.SIZES:
            if size == label_:
                params += [("min_individuals", str(low))] + ([("max_individuals", str(high))] if high else [])
        error = None
        try:
            found_sets = await Api(request, None).get("/api/catalogue/datasets", params)
        except ApiError as e:
            found_sets, error = {"total": 0, "datasets": [], "facets": {}, "page": 1, "per_page": 20}, e.message
        chosen = {k: {v for kk, v in pairs if kk == k} for k in ("cancer", "data_type", "country", "access", "node",
                                                                  "purpose", "size")}
        facets = found_sets.get("facets", {})
        return page(request, "catalogue.html", {
            "_signed_in": found, "twin": "/api/catalogue/datasets" + (f"?{urlencode(params)}" if params else ""),
            "found": found_sets, "facets": facets, "chosen": chosen, "q": dict(pairs).get("q", ""), "error": error,
            "pages": _pages(request, found_sets), "duo_label": _duo_label})

    @api.get("/catalogue/{node_id}/{dataset_id}", response_class=HTMLResponse, name="dataset_page",
             include_in_schema=False)
    async def dataset_page(request: Request, node_id: str, dataset_id: str) -> Response:
        """The dataset's page: the same record as its JSON twin, with schema.org JSON-LD embedded."""
        found = await signed_in(request)
        twin = f"/api/catalogue/datasets/{node_id}/{dataset_id}"
        try:
            record = await Api(request, None).get(twin)
        except ApiError as e:
            return page(request, "error.html", {"_signed_in": found, "message": e.message}, status=e.status)
        return page(request, "dataset.html", {"_signed_in": found, "twin": twin, "r": record,
                                              "jsonld": schemaorg_json(record), "duo_label": _duo_label})

    # cohort builder ----------------------------------------------------------------------

    @api.get("/portal/cohort", response_class=HTMLResponse, include_in_schema=False)
    async def cohort(request: Request, partial: str | None = None, found: tuple = Depends(required)) -> Response:
        criteria = portal_cohort.parse(request.query_params.multi_items())
        client = Api(request, found[1])
        twin = "/api/cohort/counts" + (f"?{criteria.query()}" if criteria.query() else "")
        counts, choices = await asyncio.gather(_twin_counts(client, criteria, twin), _choices(client))
        context = {"_signed_in": found, "criteria": criteria, "counts": counts, "choices": choices,
                   "ops": portal_cohort.OPS, "suggested": portal_cohort.suggestions(),
                   "twin": twin, "query": criteria.query()}
        if partial == "counts":
            return page(request, "_counts.html", context)
        return page(request, "cohort.html", context)

    # analyses -----------------------------------------------------------------------------

    @api.get("/portal/analyses/new", response_class=HTMLResponse, include_in_schema=False)
    async def analysis_form(request: Request, found: tuple = Depends(required)) -> Response:
        criteria = portal_cohort.parse(request.query_params.multi_items())
        return page(request, "analysis_new.html", {"_signed_in": found, "criteria": criteria, "twin": "/api/analyses",
                                                   "suggested": portal_cohort.suggestions(), "error": None,
                                                   "chosen": request.query_params.get("analysis", "km")})

    @api.post("/portal/analyses", include_in_schema=False)
    async def run_analysis(request: Request, found: tuple = Depends(required)) -> Response:
        fields = await checked_form(request, found)
        criteria = portal_cohort.parse(fields["_pairs"])
        body = {"analysis": fields.get("analysis", "km"), "cohort": criteria.cohort(), "nodes": criteria.nodes or None,
                "params": _params(fields)}
        response = await Api(request, found[1]).call("POST", "/api/analyses", params={"wait": ANALYSIS_WAIT_S},
                                                     json=body)
        data = response.json()
        if "run" not in data:  # refused before it ran: a bad parameter or criterion
            return page(request, "analysis_new.html", {
                "_signed_in": found, "criteria": criteria, "twin": "/api/analyses", "chosen": body["analysis"],
                "suggested": portal_cohort.suggestions(), "error": data.get("error", response.text)}, status=422)
        return RedirectResponse(f"/portal/analyses/{data['run']}", status_code=303)

    @api.get("/portal/analyses/{run_id}", response_class=HTMLResponse, include_in_schema=False)
    async def analysis(request: Request, run_id: str, found: tuple = Depends(required)) -> Response:
        twin = f"/api/analyses/{run_id}"
        response = await Api(request, found[1]).call("GET", twin)
        if response.status_code == 404:
            return page(request, "error.html", {"_signed_in": found, "message": response.json()["error"]}, status=404)
        run = response.json()
        request_body = await _run_request(request, run_id)
        return page(request, "analysis.html", {
            "_signed_in": found, "twin": twin, "run": run, "tables": portal_results.tables(run) if run["result"] else [],
            "figure": run["result"] is not None and portal_results.has_figure(run), "asked": request_body})

    @api.get("/portal/analyses/{run_id}/figure.{fmt}", include_in_schema=False)
    async def analysis_figure(request: Request, run_id: str, fmt: str) -> Response:
        if fmt not in portal_results.FORMATS:
            raise HTTPException(404, "figures are svg or png")
        run = await _own_run(request, run_id)
        if not portal_results.has_figure(run):
            raise HTTPException(404, "this analysis has no figure")
        cache_key = (run_id, run["updated_at"], fmt)
        if cache_key not in figures:
            figures[cache_key] = await asyncio.to_thread(
                lambda: portal_results.render(portal_results.figure(run), fmt))
            while len(figures) > FIGURE_CACHE:
                figures.popitem(last=False)
        figures.move_to_end(cache_key)
        return Response(figures[cache_key], media_type=portal_results.FORMATS[fmt], headers={
            "Content-Disposition": f'inline; filename="oncofed-{run["analysis"]}-{run_id[:8]}.{fmt}"'})

    @api.get("/portal/analyses/{run_id}/result.csv", include_in_schema=False)
    async def analysis_csv(request: Request, run_id: str) -> Response:
        run = await _own_run(request, run_id)
        return Response(portal_results.csv(run), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="oncofed-{run["analysis"]}-{run_id[:8]}.csv"'})

    @api.get("/portal/analyses/{run_id}/provenance.zip", include_in_schema=False)
    async def analysis_provenance(request: Request, run_id: str) -> Response:
        """The run's RO-Crate, as ``GET /api/analyses/{run}/provenance`` serves it to the
        signed-in user: the API decides whose run it is, as for the SDK."""
        found = await signed_in(request)
        if found is None:
            raise HTTPException(401, "sign in first")
        response = await Api(request, found[1]).call("GET", f"/api/analyses/{run_id}/provenance")
        if response.status_code >= 400:  # the API's refusal (not yours: 404; not finished: 409), as it gave it
            raise HTTPException(response.status_code, _error(response))
        return Response(response.content, media_type="application/zip",
                        headers={"Content-Disposition": response.headers["content-disposition"]})

    async def _own_run(request: Request, run_id: str) -> dict:
        found = await signed_in(request)
        if found is None:
            raise HTTPException(401, "sign in first")
        response = await Api(request, found[1]).call("GET", f"/api/analyses/{run_id}")
        if response.status_code == 404 or response.json().get("result") is None:
            raise HTTPException(404, "no finished run of yours with that id")
        return response.json()

    async def _run_request(request: Request, run_id: str) -> dict | None:
        """What was asked (the cohort and parameters), read once the API has shown the run is
        the caller's: the run's JSON carries its result, not its request."""
        run = await asyncio.to_thread(request.app.state.store.run, run_id)
        if run is None:
            return None
        return {k: run["request"].get(k) for k in ("analysis", "cohort", "params", "nodes")}

    # access -------------------------------------------------------------------------------

    @api.get("/portal/access", response_class=HTMLResponse, include_in_schema=False)
    async def access_list(request: Request, found: tuple = Depends(required)) -> Response:
        listed = await Api(request, found[1]).get("/api/access/requests")
        me = found[1].user_id
        mine = [r for r in listed if r["requester"] == me]
        review = [r for r in listed if r["requester"] != me]
        return page(request, "access_list.html", {"_signed_in": found, "twin": "/api/access/requests",
                                                  "mine": mine, "review": review, "names": await _names(request, review)})

    @api.get("/portal/access/new", response_class=HTMLResponse, include_in_schema=False)
    async def access_form(request: Request, found: tuple = Depends(required)) -> Response:
        wanted = request.query_params.getlist("dataset")
        return page(request, "access_new.html", await _access_form(request, found, wanted, None, {}))

    async def _access_form(request: Request, found, wanted: list[str], error: str | None, fields: dict) -> dict:
        listed = await Api(request, None).get("/api/catalogue/datasets", {"per_page": 200})
        return {"_signed_in": found, "twin": "/api/access/requests", "datasets": listed["datasets"],
                "wanted": set(wanted), "purposes": _purposes(), "error": error, "fields": fields}

    @api.post("/portal/access", include_in_schema=False)
    async def access_create(request: Request, found: tuple = Depends(required)) -> Response:
        fields = await checked_form(request, found)
        wanted = [v for k, v in fields["_pairs"] if k == "dataset"]
        purpose = {"code": fields.get("purpose", ""), "text": fields.get("text", ""),
                   "diseases": [d.strip() for d in fields.get("diseases", "").split(",") if d.strip()],
                   **{flag: flag in fields for flag in ("commercial", "methods", "genetic", "clinical_care")}}
        response = await Api(request, found[1]).call("POST", "/api/access/requests",
                                                     json={"datasets": wanted, "purpose": purpose})
        if response.status_code >= 400:
            error = response.json().get("error", response.text)
            return page(request, "access_new.html", await _access_form(request, found, wanted, error, fields),
                        status=response.status_code)
        return RedirectResponse(f"/portal/access/{response.json()['id']}", status_code=303)

    @api.get("/portal/access/{request_id}", response_class=HTMLResponse, include_in_schema=False)
    async def access_request(request: Request, request_id: str, found: tuple = Depends(required)) -> Response:
        return await _access_page(request, found, request_id, None)

    async def _access_page(request: Request, found, request_id: str, error: str | None, status: int = 200) -> Response:
        twin = f"/api/access/requests/{request_id}"
        try:
            shown = await Api(request, found[1]).get(twin)
        except ApiError as e:
            return page(request, "error.html", {"_signed_in": found, "message": e.message}, status=e.status)
        who = found[1]
        actions = {i["id"]: _actions(who, shown["requester"], i) for i in shown["items"]}
        return page(request, "access_request.html", {
            "_signed_in": found, "twin": twin, "r": shown, "actions": actions, "error": error,
            "names": await _names(request, [shown]), "purpose_label": _purpose_label(shown["purpose"])},
            status=status)

    @api.post("/portal/access/items/{item_id}/decisions", include_in_schema=False)
    async def access_decide(request: Request, item_id: str, found: tuple = Depends(required)) -> Response:
        fields = await checked_form(request, found)
        decision = {"action": fields.get("action"), "note": fields.get("note") or None}
        if fields.get("days"):
            decision["days"] = fields["days"]
        response = await Api(request, found[1]).call("POST", f"/api/access/items/{item_id}/decisions", json=decision)
        request_id = fields.get("request", "")
        if response.status_code >= 400:
            return await _access_page(request, found, request_id, response.json().get("error", response.text),
                                      status=response.status_code)
        return RedirectResponse(f"/portal/access/{response.json()['id']}", status_code=303)

    # nodes and audit ----------------------------------------------------------------------

    @api.get("/portal/nodes", response_class=HTMLResponse, include_in_schema=False)
    async def nodes(request: Request, found: tuple = Depends(required)) -> Response:
        listed = await Api(request, found[1]).get("/api/nodes")
        return page(request, "nodes.html", {"_signed_in": found, "twin": "/api/nodes",
                                            "nodes": [n | {"health": _health(n)} for n in listed]})

    @api.get("/portal/audit", response_class=HTMLResponse, include_in_schema=False)
    async def audit_nodes(request: Request, found: tuple = Depends(required)) -> Response:
        stewarded = sorted(scope for role, scope in found[1].roles if role == "steward")
        return page(request, "audit.html", {"_signed_in": found, "stewarded": stewarded, "node": None,
                                            "entries": None, "error": None, "twin": None})

    @api.get("/portal/audit/{node_id}", response_class=HTMLResponse, include_in_schema=False)
    async def audit_page(request: Request, node_id: str, last: int = 100, found: tuple = Depends(required)) -> Response:
        stewarded = sorted(scope for role, scope in found[1].roles if role == "steward")
        twin = f"/api/nodes/{node_id}/audit?last={last}"
        entries, error, status = None, None, 200
        try:
            entries = list(reversed((await Api(request, found[1]).get(f"/api/nodes/{node_id}/audit",
                                                                      {"last": last}))["entries"]))
        except ApiError as e:
            error, status = e.message, e.status
        return page(request, "audit.html", {
            "_signed_in": found, "stewarded": stewarded, "node": node_id, "entries": entries, "error": error,
            "twin": twin, "names": await _requester_names(request, entries or [])}, status=status)

    return api


# helpers ------------------------------------------------------------------------------------

_CATALOGUE_PARAMS = {"q", "cancer", "data_type", "country", "access", "node", "purpose", "page", "per_page"}


@functools.cache
def _static_files() -> frozenset[str]:
    return frozenset(p.name for p in STATIC.iterdir() if p.is_file())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _safe_next(target: str) -> str:
    """Only a path on this hub (no other site, no scheme-relative URL)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/portal"
    return target


def _cookie(request: Request, response: Response, name: str, value: str, max_age: int, path: str = "/") -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _fields(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The last value of each field (repeated ones are read from the pairs)."""
    return dict(pairs)


def schemaorg_json(record: dict) -> str:
    """The record's schema.org JSON-LD, safe inside a script element."""
    return json.dumps(record["schema_org"], indent=1).replace("</", "<\\/")


def _duo_label(code: str) -> str:
    return f"{vocabulary.label(code) or code} ({code})"


def _purposes() -> list[dict]:
    return [{"short": short, "code": code, "label": vocabulary.label(code) or code}
            for short, code in duo.PURPOSES.items()]


def _purpose_label(purpose: dict) -> str:
    code = duo.PURPOSES.get(purpose.get("code", ""), purpose.get("code", ""))
    return f"{vocabulary.label(code) or code} ({code})"


def _pages(request: Request, found: dict) -> list[dict]:
    total, per_page, current = found.get("total", 0), found.get("per_page", 20), found.get("page", 1)
    count = max(1, -(-total // per_page))
    if count == 1:
        return []
    out = []
    for n in range(1, count + 1):
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "page"] + [("page", str(n))]
        out.append({"n": n, "url": "?" + urlencode(pairs), "current": n == current})
    return out


def _params(fields: dict[str, str]) -> dict:
    """An analysis's parameters from the analysis form (only those given)."""
    kind = fields.get("analysis", "km")

    def text(name: str) -> str | None:
        value = fields.get(f"{kind}_{name}", "").strip()
        return value or None

    def number(name: str) -> float | int | str | None:
        value = text(name)
        if value is None:
            return None
        try:
            n = float(value)
        except ValueError:
            return value  # the API names the bad parameter
        return int(n) if n.is_integer() else n

    wanted: dict[str, Any] = {
        "km": {"duration": text("duration"), "event": text("event"), "group": text("group"),
               "interval": number("interval"), "horizon": number("horizon")},
        "cox": {"duration": text("duration"), "event": text("event"), "ties": text("ties"),
                "covariates": [c.strip() for c in (text("covariates") or "").split(",") if c.strip()]},
        "crosstab": {"row": text("row"), "column": text("column")},
        "summary": {"variable": text("variable"), "bins": number("bins")},
    }.get(kind, {})
    return {k: v for k, v in wanted.items() if v not in (None, [])}


async def _twin_counts(client: Api, criteria: portal_cohort.Criteria, twin: str) -> dict:
    """The cohort page's counts: its twin's JSON, or what stopped them (criteria that cannot run)."""
    if criteria.errors:
        return {"errors": criteria.errors}
    try:
        return await client.get(twin)
    except ApiError as e:
        return {"errors": [e.message]}


async def _counts(client: Api, criteria: portal_cohort.Criteria) -> dict:
    """The cohort's count per node (``count`` analysis) and, with variant criteria, per node
    through the Beacon network; each with the request that asked it (its JSON twin)."""
    body = criteria.count_request()
    response = await client.call("POST", "/api/analyses", params={"wait": 30}, json=body)
    run = response.json()
    out: dict[str, Any] = {"request": body, "errors": []}
    if "run" not in run:
        out["errors"].append(run.get("error", response.text))
        return out
    result = run.get("result") or {}
    released = result.get("nodes", {})
    out["run"] = run["run"]
    out["nodes"] = [{"node": node, "status": part["status"], "reason": part.get("reason"),
                     "shown": portal_cohort.shown_count(released.get(node), part["status"], part.get("min_cell")),
                     "datasets": part.get("datasets", {})} for node, part in sorted(run["per_node"].items())]
    if run["status"] == "done":
        out["total"] = portal_cohort.count_total(result, run["per_node"])
    else:
        out["errors"].append(run.get("error") or "the count did not finish")
    if criteria.has_variant:
        out["variant"] = await _variant_counts(client, criteria)
    return out


async def _variant_counts(client: Api, criteria: portal_cohort.Criteria) -> dict:
    """Individuals carrying the variant (and meeting the other criteria), per node: one Beacon
    network request per node, naming that node's datasets."""
    try:
        collections = await client.get("/api/datasets", {"limit": 0})
    except ApiError as e:
        return {"errors": [e.message]}
    per_node: dict[str, list[str]] = {}
    for c in collections.get("response", {}).get("collections", []):
        node, _, dataset = c["id"].partition(":")
        if (not criteria.nodes or node in criteria.nodes) and (not criteria.datasets or dataset in criteria.datasets):
            per_node.setdefault(node, []).append(c["id"])

    async def one(node: str, datasets: list[str]) -> dict:
        body = criteria.beacon_request(datasets)
        response = await client.call("POST", "/api/individuals", json=body)
        answer = response.json()
        if response.status_code >= 400:
            return {"node": node, "status": "error", "shown": "–",
                    "reason": answer.get("error", {}).get("errorMessage", response.text)}
        status = answer.get("info", {}).get("nodes", {}).get(node, {})
        summary = answer.get("responseSummary", {})
        if status.get("status") != OK:
            return {"node": node, "status": status.get("status", "error"), "shown": "–", "reason": status.get("reason")}
        if "numTotalResults" in summary:
            shown = f"{summary['numTotalResults']:,}"
        else:  # the node gave only whether there are any (a small count, or the dataset's ceiling)
            shown = "yes, count withheld" if summary.get("exists") else "0"
        return {"node": node, "status": "ok", "shown": shown, "reason": None}

    found = await asyncio.gather(*(one(n, d) for n, d in sorted(per_node.items())))
    example = criteria.beacon_request(sorted(d for ds in per_node.values() for d in ds))
    return {"nodes": list(found), "request": example, "errors": []}


async def _choices(client: Api) -> dict:
    """The datasets (by id, with the nodes holding one so named) and nodes to pick from."""
    listed, nodes = await asyncio.gather(client.get("/api/catalogue/datasets", {"per_page": 200}),
                                         client.get("/api/nodes"))
    datasets: dict[str, dict] = {}
    for d in listed["datasets"]:
        entry = datasets.setdefault(d["dataset"], {"id": d["dataset"], "title": d["title"], "nodes": []})
        entry["nodes"].append(d["node"])
    return {"datasets": sorted(datasets.values(), key=lambda d: d["id"]), "nodes": nodes}


def _actions(who: Caller, requester: str, item: dict) -> list[str]:
    """What the caller may do to an item now (the API decides; this only offers the forms)."""
    state, out = item["state"], []
    if who.user_id == requester:
        if state == "needs_info":
            out.append("answer")
        if state in ("submitted", "needs_info"):
            out.append("withdraw")
        return out
    if who.is_dac(item["node"], item["dataset"]):
        if state == "submitted":
            out += ["approve", "reject", "ask"]
        elif state == "needs_info":
            out.append("reject")
    if state == "approved" and (who.is_dac(item["node"], item["dataset"]) or who.is_admin):
        out.append("revoke")
    return out


async def _names(request: Request, requests_: list[dict]) -> dict[str, str]:
    ids = {r["requester"] for r in requests_} | {h["actor"] for r in requests_ for i in r["items"] for h in i["history"]}
    return await asyncio.to_thread(_user_names, request, ids)


async def _requester_names(request: Request, entries: list[dict]) -> dict[str, str]:
    """Audit log requesters (``hub:user``) of this hub, by name."""
    hub_id = request.app.state.hub.config.id
    ids = {e["requester"].partition(":")[2] for e in entries if (e.get("requester") or "").startswith(f"{hub_id}:")}
    names = await asyncio.to_thread(_user_names, request, ids)
    return {f"{hub_id}:{k}": v for k, v in names.items()}


def _user_names(request: Request, ids: set[str]) -> dict[str, str]:
    store = request.app.state.store
    out = {}
    for user_id in ids:
        user = store.user(user_id)
        if user is not None:
            out[user_id] = user["name"]
    return out


def _health(node: dict) -> str:
    """up: answered since its last error; down: failed since; unknown: never heard from."""
    seen, failed = _time(node.get("last_seen")), _time(node.get("last_error_at"))
    if seen is None:
        return "down" if failed else "unknown"
    if failed and failed > seen:
        return "down"
    return "up" if datetime.now(timezone.utc) - seen < timedelta(hours=1) else "quiet"


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
