"""Record-level access end to end: a researcher asks for two datasets on two nodes (one direct,
one behind the relay); one DAC approves, the other rejects; the approved permit opens records of
that dataset only, at the node directly and through the hub's Beacon network, and stops when
revoked. Every route × every kind of caller is in ``test_authorization_matrix.py``."""

from datetime import timedelta

import httpx
import pandas as pd
import pytest

from beacon.conformance import check_answer
from conftest import DATA

from oncofed.auth import tokens
from oncofed.beacon.request import PASSPORT_HEADER
from oncofed.hub.identity import Identities
from oncofed.hub.store import HubStore
from oncofed.node import audit
from oncofed.testing import LocalFederation

LUNG_A = "TRY_CAST(inst AS DOUBLE) <= 12"


@pytest.fixture(scope="module")
def fed():
    with LocalFederation() as lf:
        lf.add_node("a", country="DE").add_dataset(
            "lung", DATA / "ncctg-lung/lung.csv", mapping=DATA / "ncctg-lung/mapping.yaml", where=LUNG_A)
        lf.add_node("b", country="FR", transport="relay").add_dataset(
            "colon", DATA / "colon/colon.csv", mapping=DATA / "colon/mapping.yaml")
        lf.start()
        store = HubStore(lf.hub.config.db)
        try:
            lf.users = {name: store.add_user(name) for name in ("dac-a", "dac-b", "another")}
            roles = Identities(store)
            roles.grant(lf.users["dac-a"], "dac", "a/lung")
            roles.grant(lf.users["dac-b"], "dac", "b/colon")
        finally:
            store.dispose()
        lf.tokens = {name: tokens.issue(lf.hub.private_key, lf.hub.config.id, user, timedelta(hours=1))
                     for name, user in lf.users.items()}
        yield lf


def hub(fed, who, method, route, **kw):
    token = fed.token if who == "researcher" else fed.tokens[who]
    return httpx.request(method, fed.hub_url + route, headers={"Authorization": f"Bearer {token}"},
                         timeout=30, **kw)


def node_url(fed, name):
    return f"http://127.0.0.1:{fed.nodes[name].port}"


def passport_of(fed, who="researcher"):
    response = hub(fed, who, "GET", "/api/access/passport")
    assert response.status_code == 200, response.text
    return response.json()["passport"]


def beacon(url, token=None, passport=None, **params):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if passport:
        headers[PASSPORT_HEADER] = passport
    return httpx.get(f"{url}/api/individuals", params=params, headers=headers, timeout=30)


def record_datasets(body):
    """The datasets whose records an answer holds (none below record level)."""
    if body["meta"]["returnedGranularity"] != "record":
        return set()
    return {s["id"] for s in body["response"]["resultSets"] if s["results"]}


@pytest.fixture(scope="module")
def granted(fed):
    """The request, both decisions, and the researcher's Passport carrying the one permit."""
    made = hub(fed, "researcher", "POST", "/api/access/requests", json={
        "datasets": ["a/lung", "b/colon"],
        "purpose": {"code": "HMB", "text": "Survival after surgery in lung and colon cancer"}})
    assert made.status_code in (200, 201), made.text
    items = {f"{i['node']}/{i['dataset']}": i["id"] for i in made.json()["items"]}
    assert hub(fed, "researcher", "POST", "/api/catalogue/harvest", json={}).status_code == 200
    seen = hub(fed, "dac-a", "GET", f"/api/access/requests/{made.json()['id']}").json()
    for item in seen["items"]:  # the DAC sees whether each dataset's consent allows the purpose, and why
        assert item["consent"]["known"] is True and item["consent"]["codes"] == []
        assert item["consent"]["allowed"] is False and item["consent"]["reasons"]
    ok = hub(fed, "dac-a", "POST", f"/api/access/items/{items['a/lung']}/decisions",
             json={"action": "approve", "days": 30})
    assert ok.status_code == 200, ok.text
    no = hub(fed, "dac-b", "POST", f"/api/access/items/{items['b/colon']}/decisions",
             json={"action": "reject", "note": "consent does not cover this purpose"})
    assert no.status_code == 200, no.text
    return items, passport_of(fed)


def test_the_approved_dataset_opens_at_record_level_the_rejected_one_does_not(fed, granted):
    _, passport = granted
    through_hub = httpx.get(f"{fed.hub_url}/api/individuals", timeout=30, headers={
        "Authorization": f"Bearer {fed.token}", PASSPORT_HEADER: passport}).json()
    check_answer(through_hub, "individuals")
    assert record_datasets(through_hub) == {"a:lung"}
    assert through_hub["info"]["nodes"]["b"]["granularity"] == "count"  # colon: the registered level only
    colon = pd.read_csv(DATA / "colon/colon.csv")
    assert through_hub["info"]["nodes"]["b"]["count"] == colon["id"].nunique()  # shown beside a's records
    direct = beacon(node_url(fed, "a"), fed.token, passport).json()
    check_answer(direct, "individuals")
    assert record_datasets(direct) == {"lung"}


def test_the_node_audit_log_names_the_permit_each_record_answer_used(fed, granted):
    items, passport = granted
    assert record_datasets(beacon(node_url(fed, "a"), fed.token, passport).json()) == {"lung"}
    permit = hub(fed, "researcher", "GET", f"/api/access/items/{items['a/lung']}/permit").json()["permit"]
    fed.kill_node("a")  # a serving node holds its store: the steward reads the log between runs
    try:
        with fed.nodes["a"].home.store(read_only=True) as store:
            logged = audit.entries(store.con, requester=f"{fed.hub.config.id}:{_subject(fed.token)}")
    finally:
        fed.start_node("a")
    records = [e for e in logged if e.released.get("granularity") == "record"]
    assert records and all(e.released["permits"] == {"lung": permit} for e in records)
    assert all(e.kind == "beacon" and e.datasets == {"lung": e.datasets["lung"]} for e in records)


def test_a_revoked_permit_opens_nothing_any_more(fed):
    # another researcher's permit of their own, so that the tests above keep theirs in any order
    made = hub(fed, "another", "POST", "/api/access/requests", json={
        "datasets": ["a/lung"], "purpose": {"code": "HMB", "text": "A project that ends"}})
    assert made.status_code == 201, made.text
    item = made.json()["items"][0]["id"]
    approved = hub(fed, "dac-a", "POST", f"/api/access/items/{item}/decisions", json={"action": "approve"})
    assert approved.status_code == 200, approved.text
    token, passport = fed.tokens["another"], passport_of(fed, "another")
    assert record_datasets(beacon(node_url(fed, "a"), token, passport).json()) == {"lung"}
    revoked = hub(fed, "dac-a", "POST", f"/api/access/items/{item}/decisions",
                  json={"action": "revoke", "note": "project ended"})
    assert revoked.status_code == 200, revoked.text
    # the same Passport, presented again through the hub (which sends its newest revocation list)
    again = httpx.get(f"{fed.hub_url}/api/individuals", timeout=30, headers={
        "Authorization": f"Bearer {token}", PASSPORT_HEADER: passport}).json()
    check_answer(again, "individuals")
    assert record_datasets(again) == set() and again["meta"]["returnedGranularity"] == "count"
    # and at the node directly, which now holds the list without the permit
    direct = beacon(node_url(fed, "a"), token, passport).json()
    assert record_datasets(direct) == set()
    # a fresh Passport carries the permit no more
    assert record_datasets(httpx.get(f"{fed.hub_url}/api/individuals", timeout=30, headers={
        "Authorization": f"Bearer {token}", PASSPORT_HEADER: passport_of(fed, "another")}).json()) == set()


def _subject(token):
    import jwt
    return jwt.decode(token, options={"verify_signature": False})["sub"]
