"""Faults end to end, on real processes: a node that answers late, a node killed before or
during an analysis, a hub restarted with relay requests queued. None may lose a request or
hang. Each runs on both hub databases.

The federation is shared by the tests of one database and healed after each (dead processes
started again, frozen ones thawed, timeouts and taps reset). Nodes b (direct) and c (relay)
talk to the hub through a tap (``oncofed.testing.Tap``), which lets a test act at the exact
point of a run it means (as round 1 reaches a node, say) rather than after a sleep.
"""

import json
import threading
import time

import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from conftest import database
from test_federation import LUNG, LUNG_MAP, SPLIT, lung_federation, pooled

from oncofed.auth import keys
from oncofed.hub.store import HubStore, relay_requests
from oncofed.testing import LocalFederation, Passage


def b_frame() -> pd.DataFrame:
    """Node b's part of the trial, handed over as a DataFrame rather than a file."""
    df = pooled()
    return df[df.inst.between(10, 13)]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def federation(request, tmp_path_factory):
    """a: direct; b: direct, loaded from a DataFrame, tapped; c: relay, tapped."""
    folder = tmp_path_factory.mktemp(f"faults-{request.param}")
    with database(request.param, folder) as db, LocalFederation(folder, db=db) as lf:
        lf.add_node("a", country="DE").add_dataset("lung", LUNG, mapping=LUNG_MAP, where=SPLIT["a"])
        lf.add_node("b", country="NL", tap=True).add_dataset("lung", b_frame(), mapping=LUNG_MAP)
        lf.add_node("c", country="FR", transport="relay", tap=True) \
            .add_dataset("lung", LUNG, mapping=LUNG_MAP, where=SPLIT["c"])
        lf.start()
        yield lf


@pytest.fixture
def lf(federation):
    """The shared federation, healed after the test whatever it did to it."""
    yield federation
    for node in federation.nodes.values():
        if node.tap is not None:
            node.tap.on_request = None
    if federation.hub_process.poll() is not None:
        federation.restart_hub()
    for name, node in federation.nodes.items():
        if node.process.poll() is None:
            federation.resume_node(name)
        else:
            federation.start_node(name)
        federation.set_timeout(name)


def run(lf: LocalFederation, body: dict, wait: float = 120) -> httpx.Response:
    return httpx.post(f"{lf.hub_url}/api/analyses", json=body, params={"wait": wait},
                      headers={"Authorization": f"Bearer {lf.token}"}, timeout=wait + 30)


def run_status(lf: LocalFederation, run_id: str, wait: float = 120) -> dict:
    return httpx.get(f"{lf.hub_url}/api/analyses/{run_id}", params={"wait": wait},
                     headers={"Authorization": f"Bearer {lf.token}"}, timeout=wait + 30).json()


def queued_for(lf: LocalFederation, node: str, run_id: str) -> list:
    """The hub's relay queue rows for a node that belong to a run, oldest first."""
    store = HubStore(lf.hub.config.db)
    try:
        with store.engine.connect() as c:
            rows = c.execute(select(relay_requests).where(relay_requests.c.node_id == node)
                             .order_by(relay_requests.c.created_at)).all()
    finally:
        store.dispose()
    return [r for r in rows if json.loads(r.envelope)["body"].get("run") == run_id]


def kill_at_round(lf: LocalFederation, name: str, round_: int):
    """A tap's on_request that kills the node as that round's request reaches it."""
    def on_request(body: dict) -> None:
        if body.get("kind") == "analysis" and body.get("round") == round_:
            lf.kill_node(name)
    return on_request


def handed_over(p: Passage) -> dict[str, dict]:
    """The requests a relay poll through a tap handed to its node: request id → envelope."""
    if not p.path.startswith("/api/relay/poll") or not isinstance(p.reply, dict):
        return {}
    return {r["id"]: r["envelope"] for r in p.reply.get("requests", ())}


def rounds_sent(lf: LocalFederation, name: str, run_id: str) -> list[int]:
    """The rounds of a run whose request the hub sent the node (as far as its tap)."""
    envelopes = []
    for p in lf.nodes[name].tap.passages:
        if p.path.startswith("/node/requests"):
            envelopes.append(p.request)
        envelopes += handed_over(p).values()
    return [e["body"]["round"] for e in envelopes if e["body"].get("run") == run_id]


def test_a_slow_node_costs_only_its_timeout(lf):
    lf.set_timeout("b", 2)
    lf.pause_node("b")
    # the answer comes while b is still frozen: the hub waited for it no longer than its timeout
    raw = run(lf, {"analysis": "count"}).json()
    assert raw["status"] == "done", raw
    assert raw["per_node"]["b"]["status"] == "timed out"
    assert raw["per_node"]["a"]["status"] == "ok" and raw["per_node"]["c"]["status"] == "ok", raw


def test_a_killed_node_is_left_out_and_nothing_hangs(lf):
    lf.kill_node("b")
    result = lf.federation.count(datasets=["lung"])
    assert result.per_node.loc["b", "status"] == "error"
    assert result.count == len(pooled()) - len(b_frame())


def test_a_node_killed_during_an_analysis_is_dropped_and_the_run_restarts_without_it(lf):
    """b (direct) and c (relay) die as the second Newton round reaches them: b's death shows at
    once, c's (it took the request, then died) after its timeout. The run starts again on a alone,
    so the model is a's, never a mix of rounds with and without b and c."""
    fed = lf.federation
    assert fed.count().count == len(pooled())  # everyone up, and past their first request
    lf.set_timeout("c", 10)
    for name in ("b", "c"):
        lf.nodes[name].tap.on_request = kill_at_round(lf, name, 1)
    result = fed.cox("os_days", "os_event", ["age", "sex"], datasets=["lung"])
    per_node = result.raw["per_node"]
    assert (per_node["b"]["status"], per_node["c"]["status"]) == ("error", "timed out"), per_node
    for name in ("b", "c"):
        assert per_node[name]["round"] == 1 and "dropped out mid-analysis" in per_node[name]["reason"]
        assert rounds_sent(lf, name, result.run_id) == [0, 1]  # never asked again
        assert lf.nodes[name].process.poll() is not None
    assert per_node["a"]["status"] == "ok" and per_node["a"]["round"] >= 1
    alone = fed.cox("os_days", "os_event", ["age", "sex"], datasets=["lung"], nodes=["a"])
    pd.testing.assert_frame_equal(result.summary, alone.summary)


def test_a_relay_answer_after_the_nodes_timeout_is_refused_and_nothing_is_stored(lf):
    c = lf.nodes["c"]
    release = threading.Event()

    def hold(body: dict) -> None:  # c gets its request only once the hub has given up on it
        if body.get("kind") == "analysis":
            release.wait(60)

    c.tap.on_request = hold
    lf.set_timeout("c", 2)
    try:
        raw = run(lf, {"analysis": "count"}).json()
        assert raw["status"] == "done" and raw["per_node"]["c"]["status"] == "timed out", raw
        (request,) = queued_for(lf, "c", raw["run"])
        assert request.status == "claimed" and request.answer is None  # c holds it, unanswered
    finally:
        c.tap.on_request = None
        release.set()
    late = c.tap.wait_for(lambda p: p.path.startswith("/api/relay/answer")
                          and p.request["request_id"] == request.id)
    assert late.status == 409 and "expired" in late.reply["error"]
    (after,) = queued_for(lf, "c", raw["run"])
    assert (after.status, after.answer) == ("expired", None)
    assert run_status(lf, raw["run"], wait=0)["per_node"] == raw["per_node"]
    lf.set_timeout("c")
    again = lf.federation.count()
    assert again.count == len(pooled()) and set(again.per_node.status) == {"ok"}


def test_a_queued_relay_request_survives_a_hub_restart_as_the_same_request(lf):
    lf.set_timeout("c", 90)  # longer than an envelope's skew window (60 s)
    lf.kill_node("c")  # its request will wait in the queue
    lf.nodes["c"].tap.wait_idle()  # the poll c left open has ended, as c's death ends it without a tap
    response = run(lf, {"analysis": "count", "timeout_s": 90}, wait=1)
    assert response.status_code == 202
    run_id = response.json()["run"]
    (queued,) = queued_for(lf, "c", run_id)
    sealed = json.loads(queued.envelope)
    nonce = sealed["nonce"]
    assert queued.status == "queued"
    assert sealed["expires_at"] - sealed["issued_at"] == 90  # good as long as the hub waits, not 60 s
    lf.restart_hub()
    lf.start_node("c")
    final = run_status(lf, run_id)
    assert final["status"] == "done", final
    assert final["per_node"]["c"]["status"] == "ok"
    assert final["result"]["count"] == len(pooled())
    # the very request queued before the restart (its row, its nonce) went to c and was answered
    delivered = lf.nodes["c"].tap.wait_for(lambda p: queued.id in handed_over(p))
    assert handed_over(delivered)[queued.id]["nonce"] == nonce
    lf.nodes["c"].tap.wait_for(lambda p: p.path.startswith("/api/relay/answer")
                               and p.request["request_id"] == queued.id and p.status == 200)
    (row,) = [r for r in queued_for(lf, "c", run_id) if r.id == queued.id]
    assert row.status == "answered" and json.loads(row.answer)["reply_to"] == nonce


def test_a_relay_node_reconnects_after_the_hub_goes_away(lf):
    assert lf.federation.count().count == len(pooled())
    tap = lf.nodes["c"].tap
    lf.stop_hub()
    # c's next poll finds no hub (the tap cuts the line, as a dead host's network does)
    tap.wait_for(lambda p: p.status is None, since=len(tap.passages))
    lf.restart_hub()
    result = lf.federation.count()
    assert result.count == len(pooled()) and result.per_node.loc["c", "status"] == "ok"


def test_relay_nodes_reconnect_over_https(tmp_path):
    with lung_federation(tmp_path, None, transports=("relay", "relay", "relay"), tls=True) as tls:
        fed = tls.start()
        assert fed.count().count == len(pooled())
        logs = {n: tmp_path / f"node-{n}.log" for n in tls.nodes}
        sizes = {n: log.stat().st_size for n, log in logs.items()}
        tls.stop_hub()
        for n, log in logs.items():  # each agent has found the hub gone
            wait_for_text(log, "unavailable", since=sizes[n])
        tls.restart_hub()
        assert fed.count().count == len(pooled())


def wait_for_text(log, text: str, since: int = 0, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_bytes()[since:].decode(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not in {log} after {timeout:g} s"
        time.sleep(0.05)


def test_a_node_can_be_loaded_from_a_dataframe_with_a_mapping(lf):
    df = b_frame()
    assert lf.nodes["b"].ingested["lung"].counts["individuals"] == len(df)
    fed = lf.federation
    assert fed.count(datasets=["lung"], nodes=["b"]).count == len(df)
    summary = fed.summary("age", datasets=["lung"], nodes=["b"]).result
    assert summary["n"] == len(df) and summary["mean"] == pytest.approx(df.age.mean())
    women = fed.count(datasets=["lung"], nodes=["b"], where=["sex = NCIT:C16576"]).count
    assert women == (df.sex == 2).sum()


def test_the_relay_queue_refuses_an_answer_after_the_request_expired(hub_db):
    """Whether or not a poll has swept the queue since: the exchange that waited has given up."""
    store = HubStore(hub_db)
    try:
        store.add_node("n", "N", "DE", "relay", keys.public_b64(keys.generate()))
        late = store.enqueue("n", {"body": {}}, ttl_s=-1)
        assert store.answer(late, "n", {"answer": 1}) is False
        assert store.answer_of(late) == ("expired", None)
        timely = store.enqueue("n", {"body": {}}, ttl_s=60)
        assert store.answer(timely, "n", {"answer": 1}) is True
        assert store.answer_of(timely) == ("answered", {"answer": 1})
    finally:
        store.dispose()
