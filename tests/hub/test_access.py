"""Access requests and DAC decisions: the rules, their record on both hub databases, and the
whole path over a real hub process — request two datasets, one DAC approves, one rejects, the
permit opens the approved dataset only at a clearinghouse, revoked it opens nothing."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from oncofed.auth import keys, visas
from oncofed.hub.access import (
    AccessStore, Action, Decision, Forbidden, IllegalTransition, Invalid, Item, NewRequest, NotFound, State,
    transition,
)
from oncofed.hub.identity import Caller, Identities, IdentityError
from oncofed.hub.store import HubStore
from oncofed.testing import free_port

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
RESEARCHER = Caller("res-1", "Dr R", frozenset())
DAC_A = Caller("dac-a", "DAC A", frozenset({("dac", "node-a/lung")}))
DAC_B = Caller("dac-b", "DAC B", frozenset({("dac", "node-b/colon")}))
ADMIN = Caller("admin-1", "Admin", frozenset({("admin", "")}))
STEWARD_A = Caller("stew-a", "Steward A", frozenset({("steward", "node-a")}))


def item(state=State.SUBMITTED, requester="res-1", permit_end=None):
    return Item("i-1", "r-1", requester, "node-a", "lung", state, "permit-i-1" if permit_end else None, permit_end, T0)


# the rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("state, action, who, note, target", [
    (State.SUBMITTED, Action.APPROVE, DAC_A, None, State.APPROVED),
    (State.SUBMITTED, Action.REJECT, DAC_A, "no ethics approval", State.REJECTED),
    (State.SUBMITTED, Action.ASK, DAC_A, "which cohort?", State.NEEDS_INFO),
    (State.NEEDS_INFO, Action.ANSWER, RESEARCHER, "the 2019 cohort", State.SUBMITTED),
    (State.NEEDS_INFO, Action.REJECT, DAC_A, "no answer", State.REJECTED),
    (State.SUBMITTED, Action.WITHDRAW, RESEARCHER, None, State.WITHDRAWN),
    (State.NEEDS_INFO, Action.WITHDRAW, RESEARCHER, None, State.WITHDRAWN),
])
def test_each_legal_step_leads_where_the_workflow_says(state, action, who, note, target):
    assert transition(item(state), action, who, note, T0) == target


def test_an_approved_permit_is_revoked_by_its_dac_or_an_admin():
    approved = item(State.APPROVED, permit_end=T0 + timedelta(days=30))
    assert transition(approved, Action.REVOKE, DAC_A, "misuse", T0) == State.REVOKED
    assert transition(approved, Action.REVOKE, ADMIN, "misuse", T0) == State.REVOKED


@pytest.mark.parametrize("state, action, who", [
    (State.REJECTED, Action.APPROVE, DAC_A),
    (State.APPROVED, Action.APPROVE, DAC_A),
    (State.WITHDRAWN, Action.ANSWER, RESEARCHER),
    (State.SUBMITTED, Action.ANSWER, RESEARCHER),
    (State.SUBMITTED, Action.REVOKE, DAC_A),
    (State.REVOKED, Action.REVOKE, DAC_A),
    (State.NEEDS_INFO, Action.APPROVE, DAC_A),
])
def test_illegal_steps_are_refused_saying_what_is_possible(state, action, who):
    with pytest.raises(IllegalTransition, match=f"cannot {action} node-a/lung: it is {state}") as e:
        transition(item(state, permit_end=T0 + timedelta(days=1)), action, who, "note", T0)
    possible = {State.SUBMITTED: "approve, ask, reject, withdraw", State.NEEDS_INFO: "answer, reject, withdraw",
                State.APPROVED: "revoke"}.get(state, "nothing more can happen")
    assert possible in str(e.value)


@pytest.mark.parametrize("action, who, message", [
    (Action.APPROVE, RESEARCHER, "only the dataset's DAC"),
    (Action.APPROVE, DAC_B, "only the dataset's DAC"),  # another dataset's committee
    (Action.APPROVE, ADMIN, "only the dataset's DAC"),  # admins revoke, they do not grant
    (Action.APPROVE, STEWARD_A, "only the dataset's DAC"),
    (Action.ANSWER, DAC_A, "only the requester"),
    (Action.WITHDRAW, ADMIN, "only the requester"),
])
def test_each_step_belongs_to_its_role(action, who, message):
    with pytest.raises(Forbidden, match=message):
        transition(item(State.NEEDS_INFO if action == Action.ANSWER else State.SUBMITTED), action, who, "n", T0)


def test_a_dac_member_does_not_decide_on_their_own_request():
    own = item(requester="dac-a")
    with pytest.raises(Forbidden, match="their own request"):
        transition(own, Action.APPROVE, DAC_A, None, T0)


@pytest.mark.parametrize("state, action", [(State.SUBMITTED, Action.REJECT), (State.SUBMITTED, Action.ASK),
                                           (State.NEEDS_INFO, Action.ANSWER), (State.APPROVED, Action.REVOKE)])
def test_rejecting_asking_answering_and_revoking_need_a_note(state, action):
    who = RESEARCHER if action == Action.ANSWER else DAC_A
    with pytest.raises(Invalid, match="as the note"):
        transition(item(state, permit_end=T0 + timedelta(days=1)), action, who, "  ", T0)


def test_a_permit_past_its_end_is_expired_and_cannot_be_revoked():
    ended = item(State.APPROVED, permit_end=T0)
    assert ended.shown_state(T0) == "expired" and ended.shown_state(T0 - timedelta(seconds=1)) == "approved"
    with pytest.raises(IllegalTransition, match="it is expired; nothing more can happen"):
        transition(ended, Action.REVOKE, DAC_A, "too late", T0)


def test_a_request_names_each_dataset_once_as_node_and_dataset():
    purpose = {"code": "HMB", "text": "survival after surgery"}
    with pytest.raises(ValueError, match="NODE/DATASET"):
        NewRequest(datasets=["lung"], purpose=purpose)
    with pytest.raises(ValueError, match="named twice"):
        NewRequest(datasets=["node-a/lung", "node-a/lung"], purpose=purpose)
    with pytest.raises(Invalid, match="needs the disease studied"):
        NewRequest(datasets=["node-a/lung"], purpose=purpose | {"code": "DS"}).purpose.checked()
    assert NewRequest(datasets=["node-a/lung"], purpose=purpose).purpose.checked().code == "DUO:0000006"


# the record, on both databases -------------------------------------------------------------------------


@pytest.fixture
def store(hub_db):
    s = HubStore(hub_db)
    for node in ("node-a", "node-b"):
        s.add_node(node, node, "DE", "relay", keys.public_b64(keys.generate()))
    yield s
    s.dispose()


VISA_KEY = keys.generate_visa_key()
URL = "https://hub.example.org"


def sign(item: Item, permit: str, start: datetime, end: datetime) -> str:
    return visas.issue_visa(VISA_KEY, issuer=URL, subject=item.requester, jku=URL + "/jwks", type=visas.CONTROLLED,
                            value=visas.dataset_value(URL, item.node, item.dataset),
                            source=visas.dac_source(URL, item.node, item.dataset), by="dac",
                            asserted=start.timestamp(), expires_at=end.timestamp(), now=start.timestamp(), jti=permit)


def new_request(access: AccessStore, *datasets, who=RESEARCHER, at=T0):
    body = NewRequest(datasets=list(datasets), purpose={"code": "HMB", "text": "survival after lung surgery"})
    return access.create(who, body, lambda n, d: True, at)


def test_every_step_is_recorded_with_who_when_from_to_and_note(store):
    access = AccessStore(store)
    request_id = new_request(access, "node-a/lung", "node-b/colon")
    shown = access.request(request_id, RESEARCHER, T0)
    items = {f"{i['node']}/{i['dataset']}": i for i in shown["items"]}
    a, b = items["node-a/lung"]["id"], items["node-b/colon"]["id"]
    access.decide(a, Decision(action="ask", note="which years?"), DAC_A, T0 + timedelta(hours=1), sign)
    access.decide(a, Decision(action="answer", note="2010-2015"), RESEARCHER, T0 + timedelta(hours=2), sign)
    access.decide(a, Decision(action="approve", days=30), DAC_A, T0 + timedelta(hours=3), sign)
    access.decide(b, Decision(action="reject", note="consent excludes this"), DAC_B, T0 + timedelta(hours=4), sign)
    shown = access.request(request_id, RESEARCHER, T0 + timedelta(hours=5))
    items = {f"{i['node']}/{i['dataset']}": i for i in shown["items"]}
    history = [(e["actor"], e["from"], e["to"], e["note"]) for e in items["node-a/lung"]["history"]]
    assert history == [("res-1", None, "submitted", None), ("dac-a", "submitted", "needs_info", "which years?"),
                       ("res-1", "needs_info", "submitted", "2010-2015"), ("dac-a", "submitted", "approved", None)]
    assert items["node-a/lung"]["history"][-1]["at"] == (T0 + timedelta(hours=3)).isoformat()
    assert items["node-a/lung"]["state"] == "approved"
    assert items["node-a/lung"]["permit_expires_at"] == (T0 + timedelta(hours=3, days=30)).isoformat()
    assert items["node-b/colon"]["state"] == "rejected"
    assert items["node-b/colon"]["history"][-1]["note"] == "consent excludes this"
    assert [p.jti for p in access.permits("res-1", T0 + timedelta(days=1))] == [f"permit-{a}"]
    assert access.permits("res-1", T0 + timedelta(days=31)) == []  # ended
    assert access.request(request_id, RESEARCHER, T0 + timedelta(days=31))["items"][0]["state"] == "expired"


def test_revoked_permits_are_listed_until_they_would_have_ended(store):
    access = AccessStore(store)
    request_id = new_request(access, "node-a/lung")
    item_id = access.request(request_id, RESEARCHER, T0)["items"][0]["id"]
    access.decide(item_id, Decision(action="approve", days=10), DAC_A, T0, sign)
    assert access.revoked(T0) == []
    access.decide(item_id, Decision(action="revoke", note="data misuse"), ADMIN, T0 + timedelta(days=1), sign)
    assert access.revoked(T0 + timedelta(days=1)) == [f"permit-{item_id}"]
    assert access.permits("res-1", T0 + timedelta(days=1)) == []
    assert access.revoked(T0 + timedelta(days=11)) == []  # ended anyway: no need to list it


def test_a_step_decided_on_a_stale_view_is_refused(store):
    access = AccessStore(store)
    item_id = access.request(new_request(access, "node-a/lung"), RESEARCHER, T0)["items"][0]["id"]
    second_member = Caller("dac-a2", "DAC A2", DAC_A.roles)
    access.decide(item_id, Decision(action="approve"), DAC_A, T0, sign)
    with pytest.raises(IllegalTransition, match="it is approved"):
        access.decide(item_id, Decision(action="reject", note="no"), second_member, T0, sign)


def test_who_sees_which_requests(store):
    access = AccessStore(store)
    both = new_request(access, "node-a/lung", "node-b/colon")
    only_b = new_request(access, "node-b/colon", at=T0 + timedelta(minutes=1))
    others = new_request(access, "node-b/colon", who=Caller("res-2", "Dr S", frozenset()))
    ids = lambda who, **kw: [r["id"] for r in access.requests(who, T0, **kw)]  # noqa: E731
    assert ids(RESEARCHER) == [only_b, both]  # newest first
    assert ids(DAC_A) == [both]
    assert ids(STEWARD_A) == [both]
    assert set(ids(DAC_B)) == {both, only_b, others}
    assert set(ids(ADMIN)) == {both, only_b, others}
    assert ids(DAC_A, mine=True) == []
    assert ids(RESEARCHER, state="submitted") == [only_b, both]
    assert ids(RESEARCHER, state="approved") == []
    with pytest.raises(NotFound):
        access.request(others, RESEARCHER, T0)
    with pytest.raises(NotFound):
        access.decide(access.request(others, DAC_B, T0)["items"][0]["id"], Decision(action="approve"), DAC_A, T0, sign)


def test_a_dataset_without_a_dac_cannot_be_requested(store):
    access = AccessStore(store)
    body = NewRequest(datasets=["node-a/lung", "node-b/nothing"], purpose={"code": "GRU", "text": "x"})
    with pytest.raises(Invalid, match="no data access committee decides on node-b/nothing"):
        access.create(RESEARCHER, body, lambda n, d: d == "lung", T0)


def test_roles_are_given_per_dataset_and_node(store):
    user = store.add_user("Dr D")
    ids_ = Identities(store)
    ids_.grant(user, "dac", "node-a/lung")
    ids_.grant(user, "dac", "node-a/lung")  # once is enough
    ids_.grant(user, "steward", "node-b")
    assert ids_.roles(user) == {("dac", "node-a/lung"), ("steward", "node-b")}
    assert ids_.members("dac", "node-a/lung") == [user]
    for role, scope, message in [("dac", "node-a", "NODE/DATASET"), ("steward", "node-a/lung", "one node"),
                                 ("admin", "node-a", "takes no scope"), ("researcher", None, "already"),
                                 ("owner", None, "unknown role"), ("dac", "node-z/lung", "unknown node")]:
        with pytest.raises(IdentityError, match=message):
            ids_.grant(user, role, scope)
    with pytest.raises(IdentityError, match="unknown user"):
        ids_.grant("nobody", "admin")
    assert ids_.remove(user, "steward", "node-b") and not ids_.remove(user, "steward", "node-b")


# end to end, over a real hub process ---------------------------------------------------------------------


class Hub:
    """A hub set up with the CLI and served as its own process."""

    def __init__(self, tmp_path, cli, db):
        self.path, self.cli = tmp_path / "hub", cli
        cli("hub", "init", self.path, "--name", "Access Hub", "--db", db)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cli("hub", "identity", self.path, "--url", self.url)
        for node in ("node-a", "node-b"):
            info = tmp_path / f"{node}.json"
            info.write_text(json.dumps({"id": node, "name": node, "country": "DE",
                                        "public_key": keys.public_b64(keys.generate())}))
            cli("hub", "add-node", self.path, "--info", info, "--transport", "relay")
        self.tokens, self.users = {}, {}
        for name in ("researcher", "dac-a", "dac-b", "admin"):
            self.tokens[name] = cli("hub", "user", "add", self.path, name).stdout.strip()
            self.users[name] = jwt_subject(self.tokens[name])
        cli("hub", "user", "role", self.path, self.users["dac-a"], "dac", "node-a/lung")
        cli("hub", "user", "role", self.path, self.users["dac-b"], "dac", "node-b/colon")
        cli("hub", "user", "role", self.path, self.users["admin"], "admin")
        self.log = tmp_path / "hub.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "oncofed", "hub", "serve", str(self.path), "--port", str(self.port),
                 "--db", db], stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/api/hub", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def as_(self, who: str, *args, ok: bool = True):
        result = self.cli("access", *args, "--hub", self.url, "--token", self.tokens[who], ok=ok)
        return json.loads(result.stdout) if ok and "--json" in args else result

    def http(self, who: str, method: str, route: str, **kw) -> httpx.Response:
        return httpx.request(method, self.url + route, headers={"Authorization": f"Bearer {self.tokens[who]}"},
                             timeout=30, **kw)

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def jwt_subject(token: str) -> str:
    import jwt
    return jwt.decode(token, options={"verify_signature": False})["sub"]


@pytest.fixture
def hub(tmp_path, cli, hub_db):
    h = Hub(tmp_path, cli, hub_db)
    yield h
    h.stop()


def test_two_datasets_requested_one_approved_one_rejected_the_permit_opens_one_until_revoked(hub, cli):
    # the node's side of the bargain: trust as the hub operator hands it over, no network involved
    trust = visas.TrustConfig.model_validate(json.loads(cli("hub", "visa-trust", hub.path).stdout))
    lung = visas.dataset_value(hub.url, "node-a", "lung")
    colon = visas.dataset_value(hub.url, "node-b", "colon")

    def node_decides(passport: str) -> visas.Decision:
        """What a node does before record-level access: its own check of the permit."""
        listed = hub.http("researcher", "GET", "/api/access/revocations").json()["revocations"]
        revocations = visas.verify_revocations(listed, trust)
        holder = visas.Identity("access-hub", hub.users["researcher"])  # from the researcher's hub token
        return visas.controlled_datasets(passport, trust, now=time.time(), revocations=[revocations], holder=holder)

    request = hub.as_("researcher", "request", "--dataset", "node-a/lung", "--dataset", "node-b/colon",
                      "--purpose", "HMB", "--text", "Survival after surgery in NSCLC and colon cancer", "--json")
    items = {f"{i['node']}/{i['dataset']}": i["id"] for i in request["items"]}
    assert [i["state"] for i in request["items"]] == ["submitted", "submitted"]

    # each DAC sees the request and decides on its own dataset only
    assert [r["id"] for r in hub.as_("dac-a", "list", "--json")] == [request["id"]]
    refused = hub.as_("dac-a", "decide", items["node-b/colon"], "approve", ok=False)
    assert refused.exit_code == 1 and "only the dataset's DAC may approve on node-b/colon" in refused.output
    hub.as_("dac-a", "decide", items["node-a/lung"], "approve", "--days", "30")
    hub.as_("dac-b", "decide", items["node-b/colon"], "reject", "--note", "consent does not cover HMB")

    shown = hub.as_("researcher", "show", request["id"], "--json")
    states = {f"{i['node']}/{i['dataset']}": i["state"] for i in shown["items"]}
    assert states == {"node-a/lung": "approved", "node-b/colon": "rejected"}

    passport = hub.as_("researcher", "passport").stdout.strip()
    decision = node_decides(passport)
    assert set(decision.grants) == {lung} and colon not in decision.grants
    assert decision.grants[lung].permit == f"permit-{items['node-a/lung']}"
    assert decision.grants[lung].source == visas.dac_source(hub.url, "node-a", "lung")
    # someone else's passport opens nothing for the researcher, and the researcher's nothing for them
    permit = hub.http("researcher", "GET", f"/api/access/items/{items['node-a/lung']}/permit").json()
    assert permit["permit"] == decision.grants[lung].permit
    assert hub.http("dac-a", "GET", f"/api/access/items/{items['node-a/lung']}/permit").status_code == 404

    hub.as_("dac-a", "revoke", items["node-a/lung"], "--note", "data shared outside the project")
    assert node_decides(passport).grants == {}  # the passport still carries it: the node refuses it
    assert any("revoked" in i.reason for i in node_decides(passport).ignored)
    assert node_decides(hub.as_("researcher", "passport").stdout.strip()).grants == {}  # nor does the hub give it

    history = {f"{i['node']}/{i['dataset']}": [(e["from"], e["to"], e["note"]) for e in i["history"]]
               for i in hub.as_("researcher", "show", request["id"], "--json")["items"]}
    assert history == {
        "node-a/lung": [(None, "submitted", None), ("submitted", "approved", None),
                        ("approved", "revoked", "data shared outside the project")],
        "node-b/colon": [(None, "submitted", None), ("submitted", "rejected", "consent does not cover HMB")]}


def test_illegal_steps_over_http_are_4xx_with_a_clear_message(hub):
    made = hub.http("researcher", "POST", "/api/access/requests", json={
        "datasets": ["node-a/lung"], "purpose": {"code": "GRU", "text": "pan-cancer incidence"}})
    assert made.status_code == 201, made.text
    item = made.json()["items"][0]["id"]
    decide = lambda who, body: hub.http(who, "POST", f"/api/access/items/{item}/decisions", json=body)  # noqa: E731
    cases = [
        ("researcher", {"action": "approve"}, 403, "only the dataset's DAC may approve on node-a/lung"),
        ("dac-b", {"action": "approve"}, 404, "you may see"),  # another dataset's DAC does not see it at all
        ("dac-a", {"action": "reject"}, 422, "to reject, give a reason as the note"),
        ("dac-a", {"action": "revoke", "note": "x"}, 409, "cannot revoke node-a/lung: it is submitted"),
        ("researcher", {"action": "answer", "note": "x"}, 409, "cannot answer node-a/lung: it is submitted"),
        ("dac-a", {"action": "grant"}, 422, "action"),
        ("dac-a", {"action": "approve", "days": 0}, 422, "days"),
        ("dac-a", {"action": "reject", "note": "a\x00b"}, 422, "NUL"),
    ]
    for who, body, status, message in cases:
        r = decide(who, body)
        assert (r.status_code, message in r.json()["error"]) == (status, True), (body, r.text)
    assert decide("dac-a", {"action": "approve"}).status_code == 200
    r = decide("dac-a", {"action": "approve"})
    assert r.status_code == 409 and "it is approved; possible now: revoke" in r.json()["error"]
    assert hub.http("researcher", "GET", "/api/access/requests/nope").status_code == 404
    assert hub.http("researcher", "POST", "/api/access/items/nope/decisions", json={"action": "withdraw"}).status_code == 404
    bad = hub.http("researcher", "POST", "/api/access/requests", json={
        "datasets": ["node-a/lung", "node-b/unknown"], "purpose": {"code": "GRU", "text": "x"}})
    assert bad.status_code == 422 and "no data access committee decides on node-b/unknown" in bad.json()["error"]
    assert hub.http("researcher", "POST", "/api/access/requests", json={"datasets": []}).status_code == 422
    not_curie = hub.http("researcher", "POST", "/api/access/requests", json={
        "datasets": ["node-a/lung"], "purpose": {"code": "DS", "diseases": ["colon cancer"], "text": "x"}})
    assert not_curie.status_code == 422 and "is not a CURIE" in not_curie.json()["error"]
    assert httpx.get(hub.url + "/api/access/requests").status_code == 401


def test_an_admin_revokes_and_sees_everything(hub):
    made = hub.http("researcher", "POST", "/api/access/requests", json={
        "datasets": ["node-b/colon"], "purpose": {"code": "DS", "diseases": ["NCIT:C2955"], "text": "colorectal"}})
    assert made.status_code == 201, made.text
    item = made.json()["items"][0]["id"]
    assert hub.http("dac-b", "POST", f"/api/access/items/{item}/decisions", json={"action": "approve"}).status_code == 200
    assert [r["id"] for r in hub.http("admin", "GET", "/api/access/requests").json()] == [made.json()["id"]]
    r = hub.http("admin", "POST", f"/api/access/items/{item}/decisions", json={"action": "revoke", "note": "audit"})
    assert r.status_code == 200 and r.json()["items"][0]["state"] == "revoked"
    listed = hub.http("admin", "GET", "/api/access/revocations").json()["revocations"]
    trust = visas.TrustConfig.model_validate(hub.http("admin", "GET", "/api/access/trust").json())
    assert visas.verify_revocations(listed, trust).revoked == {f"permit-{item}"}


def test_a_hub_without_a_public_url_signs_no_permits(tmp_path, cli, hub_db):
    cli("hub", "init", tmp_path / "hub", "--name", "Plain", "--db", hub_db)
    result = cli("hub", "visa-trust", tmp_path / "hub", ok=False)
    assert result.exit_code == 1 and "oncofed hub identity PATH --url" in result.output
