"""The hub store on both databases: nodes, users, the relay queue's exactly-once hand-out, runs."""

import dataclasses
import threading

import pytest

from oncofed.auth import keys
from oncofed.hub import catalogue
from oncofed.hub.access import AccessStore
from oncofed.hub.catalogue import CatalogueStore
from oncofed.hub.identity import Identities
from oncofed.hub.store import HubStore, HubStoreError

KEY = keys.public_b64(keys.generate())


@pytest.fixture
def store(hub_db):
    s = HubStore(hub_db)
    yield s
    s.dispose()


def test_hub_workers_starting_together_create_the_tables_once(hub_db):
    """Several workers on one fresh database each create what is missing; none may fail."""
    start, failures = threading.Barrier(6), []

    def worker():
        start.wait()
        try:
            store = HubStore(hub_db)
            AccessStore(store), Identities(store), CatalogueStore(store)
            store.dispose()
        except Exception as e:  # noqa: BLE001 - what one worker met is the finding
            failures.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_nodes_register_once_with_their_transport(store):
    store.add_node("a", "Node A", "de", "direct", KEY, url="http://127.0.0.1:1")
    store.add_node("b", "Node B", "NL", "relay", KEY)
    assert [(n.id, n.country, n.transport) for n in store.nodes()] == [("a", "DE", "direct"), ("b", "NL", "relay")]
    with pytest.raises(HubStoreError, match="already registered"):
        store.add_node("a", "again", "DE", "relay", KEY)
    with pytest.raises(HubStoreError, match="needs --url"):
        store.add_node("c", "C", "DE", "direct", KEY)
    with pytest.raises(HubStoreError, match="unknown transport"):
        store.add_node("c", "C", "DE", "carrier-pigeon", KEY)


@pytest.mark.parametrize("change, says", [
    ({"timeout_s": 0}, "timeout: expected whole seconds from 1 to 600, not 0"),
    ({"timeout_s": 601}, "from 1 to 600"),
    ({"url": "ftp://node.example.org"}, "--url: expected an http:// or https:// address"),
    ({"country": "Germany"}, "country: expected an ISO 3166 two-letter code, not 'Germany'"),
    ({"public_key": "not-a-key"}, "public key: "),
    ({"transport": "direct", "url": None}, "needs --url"),
])
def test_a_bad_registration_is_refused_and_changes_nothing(store, change, says):
    store.add_node("a", "A", "DE", "relay", KEY)
    before = store.node("a")
    with pytest.raises(HubStoreError, match=says):
        store.update_node("a", **change)
    assert store.node("a") == before
    registration = {"name": "B", "country": "DE", "transport": "relay", "public_key": KEY} | change
    if "url" not in change or change["url"] is not None:
        with pytest.raises(HubStoreError, match=says):
            store.add_node("b", **registration)
        assert [n.id for n in store.nodes()] == ["a"]


def test_a_node_is_changed_in_place(store):
    store.add_node("a", "A", "DE", "direct", KEY, url="http://127.0.0.1:1")
    moved = store.update_node("a", url="https://a.example.org", timeout_s=90)
    assert (moved.url, moved.timeout_s, moved.transport) == ("https://a.example.org", 90, "direct")
    relay = store.update_node("a", transport="relay")
    assert (relay.transport, relay.url) == ("relay", None)  # a relay node has no address the hub calls
    new_key = keys.public_b64(keys.generate())
    assert store.update_node("a", public_key=new_key, country="nl").public_key == new_key
    assert store.node("a").country == "NL" and store.node("a").added_at == moved.added_at
    with pytest.raises(HubStoreError, match="unknown node 'z'"):
        store.update_node("z", timeout_s=5)


def test_a_removed_node_takes_its_waiting_requests_and_catalogue_with_it(store):
    from oncofed.catalogue.records import DatasetRecord

    store.add_node("a", "A", "DE", "relay", KEY)
    store.add_node("b", "B", "NL", "relay", KEY)
    queued = store.enqueue("a", {"n": 1}, 60)
    claimed = store.enqueue("a", {"n": 2}, 60)
    store.claim("a", 30, limit=1)
    answered = store.enqueue("a", {"n": 3}, 60)
    store.answer(answered, "a", {"ok": True})
    other = store.enqueue("b", {"n": 4}, 60)
    cat = CatalogueStore(store)
    for node in store.nodes():
        record = DatasetRecord(node=node.id, dataset="lung", iri=f"https://{node.id}/lung", title="Lung", description="")
        cat.replace(node, [record], "base", "")
    assert store.remove_node("a", held=catalogue.HELD) == 2
    assert [n.id for n in store.nodes()] == ["b"]
    assert [store.answer_of(r)[0] for r in (queued, claimed, answered, other)] == ["removed", "removed", "answered",
                                                                                  "queued"]
    assert store.claim("a", 30) == []
    assert [r["id"] for r, _, _ in catalogue.stored(store.engine)] == ["b/lung"]
    assert [n["node_id"] for n in cat.nodes()] == ["b"]
    # a harvest of it that was under way as it went keeps nothing
    gone = dataclasses.replace(store.node("b"), id="a")
    assert not cat.replace(gone, [], "base", "") and not cat.missed("a", "timed out")
    assert [n["node_id"] for n in cat.nodes()] == ["b"]
    with pytest.raises(HubStoreError, match="unknown node 'a'"):
        store.remove_node("a")


def test_health_records_last_seen_and_last_error(store):
    store.add_node("a", "A", "DE", "relay", KEY)
    assert store.node("a").last_seen is None
    store.seen("a")
    store.failed("a", "timed out")
    node = store.node("a")
    assert node.last_seen is not None and node.last_error == "timed out" and node.last_error_at is not None


def test_each_relay_request_goes_to_exactly_one_poll(hub_db):
    stores = [HubStore(hub_db) for _ in range(4)]  # as if four hub processes
    ids = {stores[0].enqueue("n", {"i": i}, ttl_s=60) for i in range(200)}
    got: list[str] = []
    lock = threading.Lock()

    def poll(store):
        while True:
            claimed = store.claim("n", lease_s=60, limit=7)
            if not claimed:
                return
            with lock:
                got.extend(rid for rid, _ in claimed)

    threads = [threading.Thread(target=poll, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.dispose()
    assert sorted(got) == sorted(ids)  # every request handed out, none twice


def test_a_claimed_request_returns_to_the_queue_when_its_lease_ends(store):
    rid = store.enqueue("n", {"x": 1}, ttl_s=60)
    assert [r for r, _ in store.claim("n", lease_s=-1)] == [rid]  # a node that died holding it
    assert [r for r, _ in store.claim("n", lease_s=60)] == [rid]
    assert store.claim("n", lease_s=60) == []


def test_answers_are_stored_once_and_only_for_the_right_node(store):
    rid = store.enqueue("n", {"x": 1}, ttl_s=60)
    store.claim("n", lease_s=60)
    assert not store.answer(rid, "other", {"a": 1})
    assert store.answer(rid, "n", {"a": 1})
    assert not store.answer(rid, "n", {"a": 2})
    assert store.answer_of(rid) == ("answered", {"a": 1})


def test_expired_requests_are_not_handed_out(store):
    store.enqueue("n", {"x": 1}, ttl_s=-1)
    assert store.claim("n", lease_s=60) == []


def test_a_run_belongs_to_one_process_until_its_lease_ends(store):
    run = store.create_run("u", "count", "1", {"analysis": "count"}, "tok", owner="p1", lease_s=-1)
    assert not store.save_run(run, "p2", 5, round=1)
    assert store.adopt_runs("p2", 5) == [run]
    assert store.save_run(run, "p2", 5, round=1)
    assert not store.save_run(run, "p1", 5, round=2)
    assert store.adopt_runs("p3", 5) == []
    assert store.run(run)["round"] == 1


def test_last_seen_is_written_at_most_once_a_second_per_node(store):
    from sqlalchemy import update

    from oncofed.hub.store import nodes

    store.add_node("a", "A", "DE", "relay", KEY)
    store.seen("a")
    with store.engine.begin() as c:
        c.execute(update(nodes).values(last_seen=None))
    store.seen("a")  # within the second: no write
    assert store.node("a").last_seen is None


def test_the_newest_audit_head_a_node_signed_is_kept_as_its_anchor(store, monkeypatch):
    clock = iter(range(0, 1000, 2))  # every call a new second or two: no write is held back
    monkeypatch.setattr("oncofed.hub.store.time.monotonic", lambda: next(clock))
    store.add_node("a", "A", "DE", "relay", KEY)
    store.seen("a")  # a poll: no head
    assert store.node("a").audit_seq is None
    store.seen("a", {"seq": 7, "hash": "7" * 64})
    assert (store.node("a").audit_seq, store.node("a").audit_hash) == (7, "7" * 64)
    store.seen("a", {"seq": 5, "hash": "5" * 64})  # an answer that arrived late, in another process say
    assert store.node("a").audit_seq == 7
    for nonsense in ({"seq": "8", "hash": "8" * 64}, {"seq": 8, "hash": "short"}, {"seq": True, "hash": "1" * 64},
                     [8, "8" * 64], {"seq": 0, "hash": "0" * 64}):
        store.seen("a", nonsense)
        assert store.node("a").audit_seq == 7
    store.seen("a", {"seq": 9, "hash": "9" * 64})
    node = store.node("a")
    assert (node.audit_seq, node.audit_hash) == (9, "9" * 64) and node.audit_at is not None


def test_a_head_is_written_at_most_once_a_second_even_between_polls(store, monkeypatch):
    """A relay node polls all the time; its polls must not hold back the heads of its answers."""
    now = [100.0]
    monkeypatch.setattr("oncofed.hub.store.time.monotonic", lambda: now[0])
    store.add_node("a", "A", "DE", "relay", KEY)
    store.seen("a")  # a poll writes last seen
    store.seen("a", {"seq": 1, "hash": "1" * 64})  # the answer just after it still writes its head
    assert store.node("a").audit_seq == 1
    now[0] += 0.5
    store.seen("a", {"seq": 2, "hash": "2" * 64})  # within the second: held back
    assert store.node("a").audit_seq == 1
    now[0] += 0.6
    store.seen("a", {"seq": 3, "hash": "3" * 64})
    assert store.node("a").audit_seq == 3
