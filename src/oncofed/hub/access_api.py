"""Access requests over HTTP, and what clearinghouses (nodes) fetch to check the permits.

Thin: each route authenticates the caller (hub token or an external OIDC issuer's token),
then hands over to ``access`` (the rules and their record) and ``visas`` (the signing).

    POST /api/access/requests                     a researcher asks for datasets, with a purpose
    GET  /api/access/requests[?mine&state=]       the requests the caller may see
    GET  /api/access/requests/{id}                one, with every item's history
    POST /api/access/items/{id}/decisions         approve | reject | ask | answer | withdraw | revoke
    GET  /api/access/items/{id}/permit            the signed visa of an approved item (its requester)
    GET  /api/access/passport                     the caller's Passport: their permits in force
    GET  /api/access/revocations                  public: the signed list of revoked permits
    GET  /api/access/trust                        public: what a node must trust to believe this hub
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from oncofed.auth import visas
from oncofed.hub import access, catalogue, identity
from oncofed.model import duo
from oncofed.hub.access import AccessStore, Decision, Item, NewRequest, Purpose
from oncofed.hub.identity import IdentityError
from oncofed.hub.identity_api import Who
from oncofed.web import errors

PERMIT_TYPE = visas.CONTROLLED


class Event(BaseModel):
    """One step in an item's history."""

    model_config = ConfigDict(populate_by_name=True)
    actor: str
    at: str
    from_: str | None = Field(alias="from")
    to: str
    note: str | None


class Consent(BaseModel):
    """Whether the dataset's consent (DUO codes, as harvested) allows the request's purpose;
    unknown (with the reason) when its dataset is not in the catalogue."""

    known: bool
    reason: str | None = None
    codes: list[str] | None = None
    allowed: bool | None = None
    reasons: list[str] | None = None
    conditions: list[str] | None = None


class RequestItem(BaseModel):
    """One dataset of a request; its state is one of ``access.State``, or expired."""

    id: str
    node: str
    dataset: str
    state: str
    permit: str | None
    permit_expires_at: str | None
    updated_at: str
    history: list[Event]


class AccessRequest(BaseModel):
    id: str
    requester: str
    purpose: Purpose
    created_at: str
    items: list[RequestItem]


class CheckedItem(RequestItem):
    consent: Consent


class CheckedRequest(AccessRequest):
    """A request with each item's consent check: what a DAC decides on."""

    items: list[CheckedItem]


class PermitVisa(BaseModel):
    permit: str
    visa: str = Field(description="a GA4GH ControlledAccessGrants visa (JWT)")
    expires_at: str


class Passport(BaseModel):
    passport: str = Field(description="a GA4GH Passport (JWT)")
    expires_at: str


class Revocations(BaseModel):
    revocations: str = Field(description="the signed revocation list (JWT)")


def _service(request: Request | FastAPI) -> tuple[identity.HubIdentity, AccessStore]:
    app = request if isinstance(request, FastAPI) else request.app
    if getattr(app.state, "access", None) is None:
        app.state.access = AccessStore(app.state.store)
    return identity.of(app), app.state.access


def consent(app: FastAPI, purpose: dict, node: str, dataset: str) -> dict:
    """Whether a dataset's consent allows a purpose (``model.duo``), from the catalogue."""
    found = catalogue.stored(app.state.store.engine, f"{node}/{dataset}")
    if not found:
        return {"known": False, "reason": f"{node}/{dataset} is not in the harvested catalogue: its consent "
                                          "codes are unknown here (harvest it, or ask its node)"}
    record = found[0][0]
    wanted = duo.purpose(purpose["code"], purpose.get("diseases", []), commercial=purpose.get("commercial", False),
                         methods=purpose.get("methods", False), genetic=purpose.get("genetic", False),
                         clinical_care=purpose.get("clinical_care", False))
    match = duo.match(wanted, record.get("duo", []), record.get("duo_diseases", []))
    return {"known": True, "codes": record.get("duo", []), "allowed": match.allowed,
            "reasons": list(match.reasons), "conditions": list(match.conditions)}


def revocation_list(app: FastAPI) -> str:
    """The hub's current revocation list, signed: what its nodes check permits against."""
    ident, store = _service(app)
    at = _now()
    return visas.issue_revocations(ident.visa_key, issuer=ident.url, jku=ident.jku, revoked=store.revoked(at),
                                   ttl_s=ident.config.revocations_ttl_s, now=at.timestamp())


@contextlib.contextmanager
def _as_http():
    """Access and identity errors as 4xx answers with their message."""
    try:
        yield
    except access.AccessError as e:
        raise HTTPException(e.status, str(e)) from None
    except IdentityError as e:
        raise HTTPException(409, str(e)) from None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def router() -> APIRouter:
    api = APIRouter(tags=["access"], responses=errors(400, 401, 403, 404, 409))

    @api.post("/api/access/requests", status_code=201, response_model=AccessRequest)
    def create(body: NewRequest, who: Who, request: Request) -> dict:
        """Ask for one or many datasets (NODE/DATASET) at once; each goes to its own DAC."""
        ident, store = _service(request)
        with _as_http():
            at = _now()
            request_id = store.create(who, body, lambda n, d: bool(ident.identities.members("dac", f"{n}/{d}")), at)
            return store.request(request_id, who, at)

    @api.get("/api/access/requests", response_model=list[AccessRequest])
    def requests(who: Who, request: Request, mine: bool = False,
                 state: Annotated[str | None, Query(description="only requests with an item in this state")] = None,
                 ) -> list[dict]:
        """The caller's requests, and those on which they decide (DAC), keep watch (steward) or all (admin)."""
        _, store = _service(request)
        return store.requests(who, _now(), mine=mine, state=state)

    @api.get("/api/access/requests/{request_id}", response_model=CheckedRequest, response_model_exclude_unset=True)
    def show(request_id: str, who: Who, request: Request) -> dict:
        """One request, and for each dataset whether its consent (DUO codes, as harvested into
        the catalogue) allows the declared purpose, and why: the facts a DAC decides on."""
        _, store = _service(request)
        with _as_http():
            shown = store.request(request_id, who, _now())
        return shown | {"items": [i | {"consent": consent(request.app, shown["purpose"], i["node"], i["dataset"])}
                                  for i in shown["items"]]}

    @api.post("/api/access/items/{item_id}/decisions", response_model=AccessRequest)
    def decide(item_id: str, body: Decision, who: Who, request: Request) -> dict:
        """One step for one dataset of a request; answers the whole request as it now stands."""
        ident, store = _service(request)

        def sign(item: Item, permit: str, start: datetime, end: datetime) -> str:
            url = ident.url
            return visas.issue_visa(
                ident.visa_key, issuer=url, subject=item.requester, jku=ident.jku, type=PERMIT_TYPE,
                value=visas.dataset_value(url, item.node, item.dataset),
                source=visas.dac_source(url, item.node, item.dataset), by="dac", asserted=start.timestamp(),
                expires_at=end.timestamp(), now=start.timestamp(), jti=permit)

        with _as_http():
            item = store.decide(item_id, body, who, _now(), sign)
            return store.request(item.request_id, who, _now())

    @api.get("/api/access/items/{item_id}/permit", response_model=PermitVisa)
    def permit(item_id: str, who: Who, request: Request) -> dict:
        """The signed visa of an approved item, for its requester."""
        _, store = _service(request)
        with _as_http():
            item = store.item(item_id)
            if item.requester != who.user_id:
                raise access.NotFound(f"no permit of yours for item {item_id!r}")
            held = {p.jti: p for p in store.permits(who.user_id, _now())}
            if item.permit not in held:
                raise access.IllegalTransition(f"{item.node}/{item.dataset} has no permit in force "
                                               f"(it is {item.shown_state(_now())})")
            p = held[item.permit]
            return {"permit": p.jti, "visa": p.visa, "expires_at": p.expires_at.isoformat()}

    @api.get("/api/access/passport", response_model=Passport)
    def passport(who: Who, request: Request) -> dict:
        """A Passport for the caller, signed by the hub, carrying their permits in force (and,
        when they came with an external identity, a LinkedIdentities visa joining it to them)."""
        ident, store = _service(request)
        with _as_http():
            at = _now().timestamp()
            url, ttl = ident.url, ident.config.passport_ttl_s
            carried = [p.visa for p in store.permits(who.user_id, _now())]
            if who.external is not None:
                carried.append(visas.issue_visa(
                    ident.visa_key, issuer=url, subject=who.user_id, jku=ident.jku, type=visas.LINKED,
                    value=visas.linked_identities([visas.Identity(who.external.issuer, who.external.subject)]),
                    source=url, by="system", asserted=at, expires_at=at + ttl, now=at))
            token = visas.issue_passport(ident.visa_key, issuer=url, subject=who.user_id, jku=ident.jku,
                                         visas=carried, ttl_s=ttl, now=at)
            return {"passport": token, "expires_at": datetime.fromtimestamp(int(at) + ttl, timezone.utc).isoformat()}

    @api.get("/api/access/revocations", response_model=Revocations)
    def revocations(request: Request) -> dict:
        """Public: the permits revoked before their end, signed; a node relies on one list for
        ``revocations_ttl_s`` seconds and must fetch a new one before then."""
        with _as_http():
            return {"revocations": revocation_list(request.app)}

    @api.get("/api/access/trust", response_model=visas.TrustConfig)
    def trust(request: Request) -> dict:
        """Public: the trust configuration a node needs to believe this hub's permits. A node
        should take it from its operator (``oncofed hub visa-trust``), not from the network."""
        ident, _ = _service(request)
        with _as_http():
            return ident.trust().model_dump()

    return api
