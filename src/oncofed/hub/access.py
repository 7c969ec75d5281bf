"""Access requests and DAC decisions: a researcher asks for one or many datasets across nodes
in one request; each dataset's data access committee decides on its own item.

    submitted ──approve──► approved ──revoke──► revoked        (approved past its permit's end: expired)
        │ ▲  └──reject──► rejected
        ask answer
        ▼ │
    needs_info ──reject──► rejected
    submitted / needs_info ──withdraw──► withdrawn

Approve, reject, ask and revoke belong to the dataset's DAC (revoke also to a hub admin);
answer and withdraw to the requester. A DAC member never decides on their own request. Every
transition is recorded (who, when, from, to, note). An approval carries a permit: a signed
ControlledAccessGrants visa with an end; a revoked permit's id goes on the revocation list.

The transition rules (``transition``) are pure; ``AccessStore`` keeps requests in the hub's
database and applies a transition only to the state it was decided from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import (
    JSON, Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text, and_, or_, select, update,
)

from oncofed import ids
from oncofed.errors import OncofedError
from oncofed.hub.identity import Caller
from oncofed.hub.store import HubStore, _aware
from oncofed.model import duo
from oncofed.model.curie import EXAMPLE, is_curie

MAX_DATASETS = 50
MAX_PERMIT_DAYS = 5 * 365


class State(StrEnum):
    SUBMITTED = "submitted"
    NEEDS_INFO = "needs_info"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"


EXPIRED = "expired"  # an approved item whose permit has ended; shown, never stored


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ASK = "ask"
    ANSWER = "answer"
    WITHDRAW = "withdraw"
    REVOKE = "revoke"


S, A = State, Action
TRANSITIONS: dict[tuple[State, Action], State] = {
    (S.SUBMITTED, A.APPROVE): S.APPROVED,
    (S.SUBMITTED, A.REJECT): S.REJECTED,
    (S.SUBMITTED, A.ASK): S.NEEDS_INFO,
    (S.NEEDS_INFO, A.ANSWER): S.SUBMITTED,
    (S.NEEDS_INFO, A.REJECT): S.REJECTED,
    (S.SUBMITTED, A.WITHDRAW): S.WITHDRAWN,
    (S.NEEDS_INFO, A.WITHDRAW): S.WITHDRAWN,
    (S.APPROVED, A.REVOKE): S.REVOKED,
}
BY_REQUESTER = {A.ANSWER, A.WITHDRAW}
NOTE_NEEDED = {A.REJECT: "a reason", A.ASK: "the question", A.ANSWER: "the answer", A.REVOKE: "a reason"}


class AccessError(OncofedError):
    status = 400


class Forbidden(AccessError):
    status = 403


class NotFound(AccessError):
    status = 404


class IllegalTransition(AccessError):
    status = 409


class Invalid(AccessError):
    status = 422


# the rules ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One requested dataset and where its decision stands."""

    id: str
    request_id: str
    requester: str
    node: str
    dataset: str
    state: State
    permit: str | None  # the visa's jti
    permit_expires_at: datetime | None
    updated_at: datetime

    def shown_state(self, at: datetime) -> str:
        if self.state == S.APPROVED and self.permit_expires_at is not None and self.permit_expires_at <= at:
            return EXPIRED
        return self.state.value


def transition(item: Item, action: Action, caller: Caller, note: str | None, at: datetime) -> State:
    """The state ``action`` by ``caller`` leads to, or why it may not happen."""
    if action in BY_REQUESTER:
        if caller.user_id != item.requester:
            raise Forbidden(f"only the requester may {action} on this request")
    elif not (caller.is_dac(item.node, item.dataset) or (action == A.REVOKE and caller.is_admin)):
        who = "the dataset's DAC or a hub admin" if action == A.REVOKE else "the dataset's DAC"
        raise Forbidden(f"only {who} may {action} on {item.node}/{item.dataset}")
    elif caller.user_id == item.requester:
        raise Forbidden("a DAC member does not decide on their own request")
    shown = item.shown_state(at)
    target = TRANSITIONS.get((item.state, action)) if shown != EXPIRED else None
    if target is None:
        possible = sorted(a.value for (s, a) in TRANSITIONS if s == item.state) if shown != EXPIRED else []
        raise IllegalTransition(f"cannot {action} {item.node}/{item.dataset}: it is {shown}"
                                + (f"; possible now: {', '.join(possible)}" if possible else "; nothing more can happen"))
    if action in NOTE_NEEDED and not (note and note.strip()):
        raise Invalid(f"to {action}, give {NOTE_NEEDED[action]} as the note")
    return target


def may_see(caller: Caller, requester: str, items: list[Item]) -> bool:
    """The requester, a DAC of one of its datasets, a steward of one of its nodes, an admin."""
    return caller.user_id == requester or caller.is_admin or any(
        caller.is_dac(i.node, i.dataset) or caller.is_steward(i.node) for i in items)


# the boundary -------------------------------------------------------------------------------------


class Purpose(BaseModel):
    """What the data are for: a DUO research purpose, with its details, and the researcher's words."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="GRU, HMB, DS or POA, or its DUO code")
    diseases: list[str] = Field([], max_length=50, description="for DS: the diseases studied (CURIEs)")
    commercial: bool = False
    methods: bool = False
    genetic: bool = False
    clinical_care: bool = False
    text: str = Field(min_length=1, max_length=10_000, description="the project, in the researcher's words")

    @field_validator("diseases")
    @classmethod
    def _curies(cls, v: list[str]) -> list[str]:
        for d in v:
            if not is_curie(d):
                raise ValueError(f"{d!r} is not {EXAMPLE}")
        return v

    @field_validator("text")
    @classmethod
    def _text(cls, v: str) -> str:
        return _plain(v)

    def checked(self) -> Purpose:
        try:
            p = duo.purpose(self.code, self.diseases, commercial=self.commercial, methods=self.methods,
                            genetic=self.genetic, clinical_care=self.clinical_care)
        except duo.DuoError as e:
            raise Invalid(str(e)) from None
        return self.model_copy(update={"code": p.code})


class NewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datasets: list[str] = Field(min_length=1, max_length=MAX_DATASETS, description="NODE/DATASET each")
    purpose: Purpose

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, v: list[str]) -> list[str]:
        for d in v:
            parts = d.split("/")
            if len(parts) != 2 or not all(ids.SLUG.fullmatch(p) for p in parts):
                raise ValueError(f"{d!r} is not NODE/DATASET (each {ids.RULE})")
        if len(set(v)) != len(v):
            raise ValueError("a dataset is named twice")
        return v


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Action
    note: str | None = Field(None, max_length=10_000)
    days: int = Field(365, ge=1, le=MAX_PERMIT_DAYS, description="approve: how long the permit lasts")

    @field_validator("note")
    @classmethod
    def _note(cls, v: str | None) -> str | None:
        return v if v is None else _plain(v)


def _plain(text: str) -> str:
    # PostgreSQL cannot store NUL in text; no human writes one
    if "\x00" in text:
        raise ValueError("text may not contain NUL characters")
    return text


# the record ---------------------------------------------------------------------------------------

metadata = MetaData()

access_requests = Table(
    "access_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("requester", String(64), nullable=False, index=True),
    Column("purpose", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

access_items = Table(
    "access_items", metadata,
    Column("id", String(36), primary_key=True),
    Column("request_id", String(36), ForeignKey("access_requests.id"), nullable=False, index=True),
    Column("node_id", String(64), nullable=False),
    Column("dataset_id", String(64), nullable=False),
    Column("state", String(12), nullable=False, index=True),
    Column("permit", String(64), unique=True),  # the visa's jti
    Column("permit_expires_at", DateTime(timezone=True)),
    Column("visa", Text),  # the signed permit, for its holder to fetch
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

access_events = Table(
    "access_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("item_id", String(36), ForeignKey("access_items.id"), nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("from_state", String(12)),  # none: the request was made
    Column("to_state", String(12), nullable=False),
    Column("note", Text),
)


@dataclass(frozen=True)
class Permit:
    jti: str
    expires_at: datetime
    visa: str


Signer = Callable[[Item, str, datetime, datetime], str]  # (item, permit id, start, end) → the signed visa


class AccessStore:
    """Access requests in the hub's database (SQLite or PostgreSQL, as the hub store)."""

    def __init__(self, store: HubStore):
        self.store, self.engine = store, store.engine

    def create(self, caller: Caller, request: NewRequest, has_dac: Callable[[str, str], bool], at: datetime) -> str:
        """A new request, every item submitted; Invalid if a dataset has no DAC to decide on it."""
        purpose = request.purpose.checked()
        pairs = [tuple(d.split("/")) for d in request.datasets]
        lacking = [f"{n}/{d}" for n, d in pairs if not has_dac(n, d)]
        if lacking:
            raise Invalid(f"no data access committee decides on {', '.join(lacking)} at this hub "
                          "(check the dataset in the catalogue, or ask the hub operator)")
        request_id = str(uuid.uuid4())
        with self.store._write() as c:
            c.execute(access_requests.insert().values(id=request_id, requester=caller.user_id,
                                                      purpose=purpose.model_dump(), created_at=at))
            for node, dataset in pairs:
                item_id = str(uuid.uuid4())
                c.execute(access_items.insert().values(id=item_id, request_id=request_id, node_id=node,
                                                       dataset_id=dataset, state=S.SUBMITTED.value, updated_at=at))
                c.execute(access_events.insert().values(item_id=item_id, actor=caller.user_id, at=at,
                                                        from_state=None, to_state=S.SUBMITTED.value, note=None))
        return request_id

    def decide(self, item_id: str, decision: Decision, caller: Caller, at: datetime, sign: Signer) -> Item:
        """Apply one decision to one item, with its record; IllegalTransition if the item moved
        since it was read (two DAC members deciding at once: the second learns it)."""
        item = self.item(item_id)
        with self.engine.connect() as c:
            siblings = [_item(r) for r in c.execute(_items().where(access_items.c.request_id == item.request_id)).mappings()]
        if not may_see(caller, item.requester, siblings):
            raise NotFound(f"no access request item {item_id!r} you may see")
        target = transition(item, decision.action, caller, decision.note, at)
        values: dict = {"state": target.value, "updated_at": at}
        if target == S.APPROVED:
            permit, end = f"permit-{item.id}", (at + timedelta(days=decision.days)).replace(microsecond=0)
            values |= {"permit": permit, "permit_expires_at": end, "visa": sign(item, permit, at, end)}
        with self.store._write() as c:
            done = c.execute(update(access_items).where(access_items.c.id == item_id,
                                                        access_items.c.state == item.state.value).values(**values))
            if done.rowcount != 1:
                raise IllegalTransition(f"{item.node}/{item.dataset} changed while you decided; look again")
            c.execute(access_events.insert().values(item_id=item_id, actor=caller.user_id, at=at,
                                                    from_state=item.state.value, to_state=target.value,
                                                    note=decision.note))
        return self.item(item_id)

    def item(self, item_id: str) -> Item:
        with self.engine.connect() as c:
            row = c.execute(_items().where(access_items.c.id == item_id)).mappings().first()
        if row is None:
            raise NotFound(f"no access request item {item_id!r}")
        return _item(row)

    def request(self, request_id: str, caller: Caller, at: datetime) -> dict:
        """A request with its items and their history, as the caller may see it."""
        with self.engine.connect() as c:
            shown = _load(c, select(access_requests).where(access_requests.c.id == request_id), caller, at)
        if not shown:
            raise NotFound(f"no access request {request_id!r} you may see")
        return shown[0]

    def requests(self, caller: Caller, at: datetime, *, mine: bool = False, state: str | None = None) -> list[dict]:
        """The requests the caller may see (``mine``: only their own), newest first; ``state``:
        only those with an item in that (shown) state."""
        query = select(access_requests).order_by(access_requests.c.created_at.desc(), access_requests.c.id)
        if mine or not caller.is_admin:
            scoped = [and_(access_items.c.node_id == n, access_items.c.dataset_id == d)
                      for n, d in (s.split("/") for r, s in caller.roles if r == "dac")]
            scoped += [access_items.c.node_id == s for r, s in caller.roles if r == "steward"]
            theirs = access_requests.c.requester == caller.user_id
            if scoped and not mine:
                decides = select(access_items.c.request_id).where(or_(*scoped))
                theirs = or_(theirs, access_requests.c.id.in_(decides))
            query = query.where(theirs)
        with self.engine.connect() as c:
            shown = _load(c, query, caller, at)
        return [r for r in shown if state is None or any(i["state"] == state for i in r["items"])]

    def permits(self, user_id: str, at: datetime) -> list[Permit]:
        """The user's permits in force (approved, not ended)."""
        with self.engine.connect() as c:
            rows = c.execute(select(access_items.c.permit, access_items.c.permit_expires_at, access_items.c.visa)
                             .join(access_requests, access_requests.c.id == access_items.c.request_id)
                             .where(access_requests.c.requester == user_id,
                                    access_items.c.state == S.APPROVED.value,
                                    access_items.c.permit_expires_at > at)).all()
        return [Permit(r.permit, _aware(r.permit_expires_at), r.visa) for r in rows]

    def revoked(self, at: datetime) -> list[str]:
        """Ids of revoked permits that would otherwise still be in force (an ended permit is
        refused by its own end, so the list stays short)."""
        with self.engine.connect() as c:
            return list(c.execute(select(access_items.c.permit).where(
                access_items.c.state == S.REVOKED.value, access_items.c.permit_expires_at > at)).scalars())


def _items():
    return select(access_items, access_requests.c.requester).join(
        access_requests, access_requests.c.id == access_items.c.request_id)


def _item(row) -> Item:
    return Item(row["id"], row["request_id"], row["requester"], row["node_id"], row["dataset_id"], State(row["state"]),
                row["permit"], _aware(row["permit_expires_at"]), _aware(row["updated_at"]))


def _load(c, query, caller: Caller, at: datetime) -> list[dict]:
    """The requests ``query`` selects that the caller may see, with items and history."""
    reqs = c.execute(query).mappings().all()
    ids_ = [r["id"] for r in reqs]
    if not ids_:
        return []
    items: dict[str, list[Item]] = {}
    for row in c.execute(_items().where(access_items.c.request_id.in_(ids_))
                         .order_by(access_items.c.node_id, access_items.c.dataset_id)).mappings():
        items.setdefault(row["request_id"], []).append(_item(row))
    history: dict[str, list[dict]] = {}
    for e in c.execute(select(access_events).join(access_items, access_items.c.id == access_events.c.item_id)
                       .where(access_items.c.request_id.in_(ids_)).order_by(access_events.c.seq)).mappings():
        history.setdefault(e["item_id"], []).append({
            "actor": e["actor"], "at": _aware(e["at"]).isoformat(), "from": e["from_state"], "to": e["to_state"],
            "note": e["note"]})
    return [_shown(r, items.get(r["id"], []), history, at) for r in reqs
            if may_see(caller, r["requester"], items.get(r["id"], []))]


def _shown(req, items: list[Item], history: dict[str, list[dict]], at: datetime) -> dict:
    return {
        "id": req["id"], "requester": req["requester"], "purpose": req["purpose"],
        "created_at": _aware(req["created_at"]).isoformat(),
        "items": [{"id": i.id, "node": i.node, "dataset": i.dataset, "state": i.shown_state(at), "permit": i.permit,
                   "permit_expires_at": i.permit_expires_at.isoformat() if i.permit_expires_at else None,
                   "updated_at": i.updated_at.isoformat(), "history": history.get(i.id, [])} for i in items],
    }

