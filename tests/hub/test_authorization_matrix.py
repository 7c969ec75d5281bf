"""The authorization matrix (issue 5): every API route of a node and of the hub, for every kind
of caller, gets exactly the answer it may, and record-level data in no other case.

The routes come from the code, not from a list kept here: the Beacon's from its one route table
(``beacon.entry_types.ENTRY_TYPES`` and the informational ``DOCUMENTS``), the others from the
apps' own routes; ``test_every_route_of_a_node_and_of_the_hub_has_an_expectation`` fails when an
app gains a route this file does not judge.

What each caller may get is computed, not copied from an answer. An *oracle*, holding permits for
every dataset, says how many records each route selects in each dataset; then

- anonymous: a boolean; signed in, with no permit in force for a dataset in scope: a count, or a
  boolean where the guard suppresses a small one; a valid permit: the records of exactly the
  datasets it opens (and at the hub, each node answers so and the network merges);
- a Passport that fails validation (a forged Passport signature) is refused: 401 at every Beacon
  route of the node; a visa that fails (expired, revoked, forged inside a genuine Passport, for
  another dataset) is ignored, and the caller is answered as signed in.

Every answer is also searched for the ids of people's records (individuals and biosamples) the
caller may not see: none may appear anywhere in it.

Each case makes its own caller: a fresh user with their own requests, decisions and revocations,
so it passes alone and in any order. The nodes' differencing guard is off here: what it refuses
depends on which cohorts a requester asked about before, which a matrix must not depend on
(``tests/privacy/test_differencing.py`` and the node's Beacon tests cover it).
"""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import jwt
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import routing

from beacon.nodes import CLINICAL_MAPPING, EGFR_SOMATIC, HCC1187_AGE
from conftest import DATA
from oncofed.auth import envelope, keys, tokens, visas
from oncofed.beacon.entry_types import ENTRY_TYPES, RECORDS, beacon_map
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import PASSPORT_HEADER
from oncofed.beacon.responses import DOCUMENTS
from oncofed.hub import home as hub_home
from oncofed.hub import identity
from oncofed.hub.app import create_app as hub_app
from oncofed.hub.identity import Identities
from oncofed.hub.store import HubStore
from oncofed.node import beacon as node_beacon
from oncofed.node import home as node_home
from oncofed.node.app import create_app as node_app
from oncofed.privacy.policy import GuardPolicy
from oncofed.testing import LocalFederation

CALLERS = ["anonymous", "registered", "wrong-dataset visa", "expired visa", "revoked visa",
           "forged-signature visa", "forged-signature passport", "valid visa"]
NODES = {"a": ("direct", ["egfr", "lung"]), "b": ("relay", ["colon", "egfr"])}
GRANTED = {"a": {"egfr"}, "b": {"egfr"}}  # what the valid visa opens: a dataset on each transport
ELSEWHERE = {"b": {"colon"}}  # the wrong-dataset visa's one permit: not node a's, nor egfr anywhere
EVERYTHING = {n: set(ds) for n, (_, ds) in NODES.items()}  # the oracle's
CATALOGUE_TYPES = {"datasets", "cohorts"}  # entry types describing datasets, public at record level
MIN_CELL = GuardPolicy().min_cell
PAGE = 10  # records in one page of a Beacon answer, by default
METHODS = ("GET", "POST")


# --- the routes, from the code ------------------------------------------------------------------


def beacon_templates() -> list[str]:
    """Every Beacon query route (under /api), from the Beacon's route table."""
    out = ["/filtering_terms"]
    for e in ENTRY_TYPES.values():
        out += [f"/{e.path}", f"/{e.path}/{{id}}", *(f"/{e.path}/{{id}}/{r}" for r in e.related)]
        if e.collection:
            out.append(f"/{e.path}/{{id}}/filtering_terms")
    return out


DOCUMENT_PATHS = [f"/{name}" if name else "" for name in DOCUMENTS]  # "": /api itself (info)
UNKNOWN_PATH = "/individuals/{id}/cohorts"  # no such route: the node's catch-all must not serve it


def kind_of(template: str) -> str:
    """What a Beacon route releases; an entry type nobody has judged fails here."""
    parts = template.strip("/").split("/")
    if parts[-1] == "filtering_terms":
        return "terms"
    target = parts[2] if len(parts) == 3 else parts[0]
    if target in RECORDS:
        return "records"
    if target in CATALOGUE_TYPES:
        return "catalogue"
    raise AssertionError(f"{template}: no expectation for entry type {target!r}; say what it may release")


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route an app serves (HEAD goes with GET)."""
    return {(m, c.path) for c in routing.iter_route_contexts(app.routes) for m in (c.methods or ()) if m != "HEAD"}


# The node's routes beside its Beacon, and the status every caller gets: public metadata, and
# the hub's envelope route, which no researcher may use (not even sealing a request as the hub).
NODE_ROUTES = {
    ("GET", "/node/info"): 200,
    ("POST", "/node/requests"): 401,
    ("GET", "/fdp"): 200,
    ("GET", "/catalog/{node_id}"): 200,
    ("GET", "/dataset/{dataset_id}"): 200,
    ("GET", "/dataset/{dataset_id}/version/{n}"): 200,
    ("GET", "/distribution/{dataset_id}"): 200,
    ("GET", "/openapi.json"): 200,
    ("GET", "/docs"): 200,
    ("GET", "/docs/oauth2-redirect"): 200,
    ("GET", "/redoc"): 200,
}
NODE_BEACON_ROUTES = {(m, p) for m in METHODS for p in ("/api", "/api/{path:path}")}  # the catch-all


@dataclass(frozen=True)
class Call:
    """One request to a hub API route, and the status each kind of caller gets."""

    anonymous: int
    signed_in: int
    path: dict[str, str] = field(default_factory=dict)  # path parameter → the fixture value it takes
    json: object = None  # or a function of the federation that makes it
    params: dict | None = None
    data: dict | None = None  # a form
    location: str = "/portal/login"  # where a 303 sends the caller


def as_node_b(body: dict):
    """A relay message as if from node b, sealed with a key that is not b's."""
    return lambda fed: envelope.seal(body, "b", fed.hub.config.id, keys.generate())


# The hub's routes beside its Beacon. Path parameters name what the oracle (another user) owns:
# nobody else may see or decide on it. Nothing here ever holds a record of a person.
HUB_ROUTES = {
    ("POST", "/api/catalogue/harvest"): Call(401, 200, json={"nodes": ["a"]}),
    ("GET", "/api/catalogue/nodes"): Call(200, 200),
    ("GET", "/api/catalogue/nodes/{node_id}"): Call(200, 200, {"node_id": "node"}),
    ("GET", "/api/catalogue/datasets"): Call(200, 200),
    ("GET", "/api/catalogue/datasets/{node_id}/{dataset_id}"): Call(200, 200, {"node_id": "node",
                                                                              "dataset_id": "dataset"}),
    ("GET", "/.well-known/jwks.json"): Call(200, 200),
    ("GET", "/.well-known/openid-configuration"): Call(200, 200),
    ("GET", "/api/me"): Call(401, 200),
    ("POST", "/api/access/requests"): Call(401, 201, json={"datasets": ["a/lung"], "purpose": {
        "code": "HMB", "text": "Asked by the authorization matrix"}}),
    ("GET", "/api/access/requests"): Call(401, 200),
    ("GET", "/api/access/requests/{request_id}"): Call(401, 404, {"request_id": "request"}),
    ("POST", "/api/access/items/{item_id}/decisions"): Call(401, 404, {"item_id": "item"},
                                                            json={"action": "approve"}),
    ("GET", "/api/access/items/{item_id}/permit"): Call(401, 404, {"item_id": "item"}),
    ("GET", "/api/access/passport"): Call(401, 200),
    ("GET", "/api/access/revocations"): Call(200, 200),
    ("GET", "/api/access/trust"): Call(200, 200),
    ("GET", "/api/nodes/{node_id}/audit"): Call(401, 403, {"node_id": "node"}),
    ("GET", "/api/analyses/{run_id}/provenance"): Call(401, 404, {"run_id": "run"}),
    ("GET", "/api/hub"): Call(200, 200),
    ("GET", "/api/nodes"): Call(401, 200),
    ("GET", "/api/analyses"): Call(401, 200),
    ("POST", "/api/analyses"): Call(401, 200, json={"analysis": "count", "params": {},
                                                    "cohort": {"datasets": ["lung", "colon"]}}),
    ("GET", "/api/analyses/{run_id}"): Call(401, 404, {"run_id": "run"}),
    ("GET", "/api/cohort/counts"): Call(401, 200, params={"dataset": ["lung", "egfr"], "gene": "EGFR"}),
    # the relay queue holds other researchers' tokens and Passports: its nodes' alone
    ("POST", "/api/relay/poll"): Call(401, 401, json=as_node_b({"kind": "poll"}), params={"wait": 0}),
    ("POST", "/api/relay/answer"): Call(401, 401, json=lambda fed: {
        "request_id": "x", "envelope": as_node_b({"status": "ok"})(fed)}),
    ("GET", "/openapi.json"): Call(200, 200),
    ("GET", "/docs"): Call(200, 200),
    ("GET", "/docs/oauth2-redirect"): Call(200, 200),
    ("GET", "/redoc"): Call(200, 200),
}
# The portal's pages: signed in by a session cookie, never by a bearer token, so every caller
# here is a stranger to it: sent to the sign-in page (a page) or refused (a file), or shown a
# public page; a sign-in without the form's nonce is refused.
SIGN_IN = 303
PORTAL_ROUTES = {
    ("GET", "/portal"): Call(200, 200),
    ("GET", "/portal/static/{name}"): Call(200, 200, {"name": "static"}),
    ("GET", "/portal/login"): Call(200, 200),
    ("POST", "/portal/login"): Call(401, 401, data={"next": "/portal"}),
    ("POST", "/portal/logout"): Call(SIGN_IN, SIGN_IN, location="/portal"),
    ("GET", "/portal/catalogue"): Call(200, 200),
    ("GET", "/catalogue/{node_id}/{dataset_id}"): Call(200, 200, {"node_id": "node", "dataset_id": "dataset"}),
    ("GET", "/portal/cohort"): Call(SIGN_IN, SIGN_IN),
    ("GET", "/portal/analyses/new"): Call(SIGN_IN, SIGN_IN),
    ("POST", "/portal/analyses"): Call(SIGN_IN, SIGN_IN),
    ("GET", "/portal/analyses/{run_id}"): Call(SIGN_IN, SIGN_IN, {"run_id": "run"}),
    ("GET", "/portal/analyses/{run_id}/figure.{fmt}"): Call(401, 401, {"run_id": "run", "fmt": "format"}),
    ("GET", "/portal/analyses/{run_id}/result.csv"): Call(401, 401, {"run_id": "run"}),
    ("GET", "/portal/analyses/{run_id}/provenance.zip"): Call(401, 401, {"run_id": "run"}),
    ("GET", "/portal/access"): Call(SIGN_IN, SIGN_IN),
    ("GET", "/portal/access/new"): Call(SIGN_IN, SIGN_IN),
    ("POST", "/portal/access"): Call(SIGN_IN, SIGN_IN),
    ("GET", "/portal/access/{request_id}"): Call(SIGN_IN, SIGN_IN, {"request_id": "request"}),
    ("POST", "/portal/access/items/{item_id}/decisions"): Call(SIGN_IN, SIGN_IN, {"item_id": "item"}),
    ("GET", "/portal/nodes"): Call(SIGN_IN, SIGN_IN),
    ("GET", "/portal/audit"): Call(SIGN_IN, SIGN_IN),
    ("GET", "/portal/audit/{node_id}"): Call(SIGN_IN, SIGN_IN, {"node_id": "node"}),
}


def test_every_route_of_a_node_and_of_the_hub_has_an_expectation(tmp_path):
    # the Beacon's map, the hub's Beacon routes and the table this file expands are one
    mapped = {u.removeprefix("/api") for s in beacon_map("/api")["endpointSets"].values()
              for u in (s["rootUrl"], s["singleEntryUrl"], s.get("filteringTermsUrl"),
                        *(e["url"] for e in s["endpoints"].values())) if u}
    assert mapped | {"/filtering_terms"} == set(beacon_templates())
    for template in beacon_templates():
        kind_of(template)
        assert node_beacon.route_of(template.replace("{id}", "x")) is not None, template
    for path in DOCUMENT_PATHS:
        assert node_beacon.route_of(path) is None, path  # an informational document
    # the node's catch-all serves those and nothing else made of the same words (any second
    # word is an id)
    words = ["filtering_terms", *(name for name in DOCUMENTS if name),
             *{w for e in ENTRY_TYPES.values() for w in (e.path, *e.related)}]
    paths = [[a] for a in words] + [[a, "x"] for a in words] + [[a, "x", c] for a in words for c in words]
    served = {"/" + "/".join(p[:1] + ["{id}"] * (len(p) > 1) + p[2:]) for p in paths if _serves("/" + "/".join(p))}
    assert served == set(beacon_templates()) | {p for p in DOCUMENT_PATHS if p}

    node = node_home.init(tmp_path / "node", "Routes", "DE", "routes")
    node = node.save(node.config.model_copy(update={"hub": node_home.HubTrust(
        id="routes-hub", public_key=keys.public_b64(keys.generate()))}))
    assert app_routes(node_app(node)) == NODE_BEACON_ROUTES | set(NODE_ROUTES)

    db = f"sqlite:///{tmp_path / 'hub.db'}"
    hub = hub_home.init(tmp_path / "hub", "Routes", "routes-hub", db)
    served = app_routes(hub_app(hub.path, db))
    beacon = {(m, f"/api{p}") for p in DOCUMENT_PATHS + beacon_templates() for m in METHODS}
    assert beacon <= served
    assert served - beacon == set(HUB_ROUTES) | set(PORTAL_ROUTES)


def _serves(path: str) -> bool:
    try:
        node_beacon.route_of(path)
    except BeaconError as e:
        assert e.status == 404, (path, e)
        return False
    return True


# --- the federation and its callers ------------------------------------------------------------


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    """Node a (direct) holds the NCCTG lung trial and the HCC1187 EGFR-region VCF with its
    individual; node b (behind the relay) the colon trial and the same VCF. One DAC decides on
    every dataset."""
    folder = tmp_path_factory.mktemp("matrix")
    (folder / "clinical.yaml").write_text(CLINICAL_MAPPING)
    clinical = pd.DataFrame([{"pid": "HCC1187", "sex": "NCIT:C16576", "code": "NCIT:C4194", "age": HCC1187_AGE}])
    sources = {
        "lung": {"data": DATA / "ncctg-lung/lung.csv", "mapping": DATA / "ncctg-lung/mapping.yaml"},
        "colon": {"data": DATA / "colon/colon.csv", "mapping": DATA / "colon/mapping.yaml"},
    }
    with LocalFederation() as lf:
        for name, (transport, datasets) in NODES.items():
            node = lf.add_node(name, transport=transport, guard={"differencing": False})
            for dataset in datasets:
                if dataset == "egfr":
                    node.add_dataset("egfr", DATA / "vcf/chr7-sub.vcf.gz", format="vcf",
                                     samples=DATA / "vcf/hcc1187-samples.tsv")
                    node.add_dataset("egfr", clinical, mapping=folder / "clinical.yaml")
                else:
                    node.add_dataset(dataset, sources[dataset]["data"], mapping=sources[dataset]["mapping"])
        lf.start()
        store = HubStore(lf.hub.config.db)
        try:
            dac, roles = store.add_user("dac"), Identities(store)
            for node, datasets in EVERYTHING.items():
                for dataset in datasets:
                    roles.grant(dac, "dac", f"{node}/{dataset}")
        finally:
            store.dispose()
        lf.dac = _token(lf, dac)
        harvested = _hub(lf, lf.dac, "POST", "/api/catalogue/harvest", json={})
        assert harvested.status_code == 200 and all(n["status"] == "ok" for n in harvested.json()["nodes"].values()), \
            harvested.text
        yield lf


def _token(fed, user: str) -> str:
    return tokens.issue(fed.hub.private_key, fed.hub.config.id, user, timedelta(hours=1))


def _hub(fed, token, method, route, **kw) -> httpx.Response:
    return httpx.request(method, fed.hub_url + route, headers={"Authorization": f"Bearer {token}"}, timeout=60, **kw)


@dataclass(frozen=True)
class Who:
    """A caller: their researcher token and Passport (either may be absent), and the datasets
    (node → ids) whose records the Passport truly opens."""

    kind: str
    token: str | None = None
    passport: str | None = None
    opens: dict[str, set[str]] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        out = {}
        if self.token:
            out["Authorization"] = f"Bearer {self.token}"
        if self.passport:
            out[PASSPORT_HEADER] = self.passport
        return out

    @property
    def level(self) -> str:
        return "public" if self.token is None else "registered"

    @property
    def refused(self) -> bool:
        """A Passport that is not valid: the node refuses the request outright."""
        return self.kind == "forged-signature passport"


def new_user(fed, name: str) -> tuple[str, str]:
    store = HubStore(fed.hub.config.db)
    try:
        user = store.add_user(f"{name} {uuid.uuid4().hex[:8]}")
    finally:
        store.dispose()
    return user, _token(fed, user)


def permitted(fed, token: str, datasets: dict[str, set[str]]) -> tuple[str, list[str], str]:
    """Ask for ``datasets``, have the DAC approve each: the Passport carrying the permits, the
    request's items, the request."""
    made = _hub(fed, token, "POST", "/api/access/requests", json={
        "datasets": sorted(f"{n}/{d}" for n, ds in datasets.items() for d in ds),
        "purpose": {"code": "HMB", "text": "Survival in lung, colon and EGFR-mutated cancers"}})
    assert made.status_code == 201, made.text
    items = [i["id"] for i in made.json()["items"]]
    for item in items:
        decided = _hub(fed, fed.dac, "POST", f"/api/access/items/{item}/decisions", json={"action": "approve"})
        assert decided.status_code == 200, decided.text
    return passport_of(fed, token), items, made.json()["id"]


def passport_of(fed, token: str) -> str:
    response = _hub(fed, token, "GET", "/api/access/passport")
    assert response.status_code == 200, response.text
    return response.json()["passport"]


def hub_signed(fed, user: str, visa_of) -> str:
    """A genuine Passport (the hub's own visa key signs it) for ``user``, carrying for each
    dataset the valid visa opens what ``visa_of(ident, claims)`` makes of a permit for it."""
    store = HubStore(fed.hub.config.db)
    ident = identity.HubIdentity(fed.hub, store)
    try:
        carried = []
        for node, datasets in GRANTED.items():
            for dataset in sorted(datasets):
                claims = {"issuer": ident.url, "subject": user, "jku": ident.jku, "type": visas.CONTROLLED,
                          "value": visas.dataset_value(ident.url, node, dataset),
                          "source": visas.dac_source(ident.url, node, dataset), "by": "dac"}
                carried.append(visa_of(ident, claims))
        return visas.issue_passport(ident.visa_key, issuer=ident.url, subject=user, jku=ident.jku,
                                    visas=carried, ttl_s=3600)
    finally:
        ident.close()
        store.dispose()


def expired(ident, claims: dict) -> str:
    """The DAC's permit as the hub signed it, two hours ago, for one minute."""
    then = time.time() - 7200
    return visas.issue_visa(ident.visa_key, **claims, asserted=then, expires_at=then + 60, now=then)


def forged(ident, claims: dict) -> str:
    """A permit in force for a day, as the hub would sign it, signed with another key."""
    now = time.time()
    return resigned(visas.issue_visa(ident.visa_key, **claims, asserted=now, expires_at=now + 86400, now=now))


def resigned(token: str) -> str:
    """The same JWT, header (kid, jku) and claims, signed with a key nobody trusts."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                      headers={k: v for k, v in header.items() if k != "alg"})


def make_caller(fed, kind: str) -> Who:
    """A caller of ``kind`` with state of their own (nothing shared with another case)."""
    if kind == "anonymous":
        return Who(kind)
    user, token = new_user(fed, kind)
    if kind == "registered":
        return Who(kind, token)
    if kind == "wrong-dataset visa":  # a permit in force, for another dataset only
        return Who(kind, token, permitted(fed, token, ELSEWHERE)[0], ELSEWHERE)
    if kind == "expired visa":
        return Who(kind, token, hub_signed(fed, user, expired))
    if kind == "forged-signature visa":  # inside a genuine Passport
        return Who(kind, token, hub_signed(fed, user, forged))
    passport, items, _ = permitted(fed, token, GRANTED)
    if kind == "valid visa":
        return Who(kind, token, passport, GRANTED)
    if kind == "forged-signature passport":  # genuine permits, the Passport signed with another key
        return Who(kind, token, resigned(passport))
    assert kind == "revoked visa", kind
    for item in items:
        revoked = _hub(fed, fed.dac, "POST", f"/api/access/items/{item}/decisions",
                       json={"action": "revoke", "note": "project ended"})
        assert revoked.status_code == 200, revoked.text
    # The hub sends its newest revocation list with every Passport, to every node; a node
    # asked directly learns of a revocation from it, or when its own list runs out.
    told = httpx.get(f"{fed.hub_url}/api/individuals", headers=Who(kind, token, passport).headers, timeout=60)
    assert told.status_code == 200 and told.json()["meta"]["returnedGranularity"] != "record", told.text
    return Who(kind, token, passport)


# --- the truth: what each route selects, as a holder of every permit sees it --------------------


@dataclass
class Truth:
    """What one Beacon (a node's or the hub's) holds, as the oracle sees it."""

    ids: dict[str, list[str]]  # entry type → the ids its {id} routes are asked with
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # path → dataset → records selected
    people: dict[str, set[str]] = field(default_factory=dict)  # dataset → ids of its individuals, biosamples
    sizes: dict[str, int] = field(default_factory=dict)  # dataset → individuals


@pytest.fixture(scope="module")
def oracle(fed) -> tuple[Who, dict[str, str]]:
    """A researcher holding a permit for every dataset, and what they own that nobody else may
    see or decide on: their access request, one of its items."""
    user, token = new_user(fed, "oracle")
    passport, items, request = permitted(fed, token, EVERYTHING)
    return Who("oracle", token, passport, EVERYTHING), {"request": request, "item": items[0]}


@pytest.fixture(scope="module")
def node_truth(fed, oracle) -> Truth:
    """Node a's records, asked directly."""
    who, _ = oracle

    def get(path: str, **params) -> dict[str, dict]:
        return record_sets(httpx.get(f"{node_url(fed, 'a')}/api{path}", params=params, headers=who.headers, timeout=60))

    found = people(get, EVERYTHING["a"])
    return survey(get, found, {"individuals": [found["egfr"]["individuals"][0], found["lung"]["individuals"][0]],
                               "biosamples": [found["egfr"]["biosamples"][0]], "g_variants": [EGFR_SOMATIC],
                               "datasets": ["egfr", "lung"], "cohorts": ["egfr", "lung"]})


@pytest.fixture(scope="module")
def hub_truth(fed, oracle) -> Truth:
    """Every node's records, asked through the hub; ids are the network's, ``<node>:<id>``."""
    who, _ = oracle

    def get(path: str, **params) -> dict[str, dict]:
        return record_sets(httpx.get(f"{fed.hub_url}/api{path}", params=params, headers=who.headers, timeout=60))

    found = people(get, [f"{n}:{d}" for n, datasets in EVERYTHING.items() for d in datasets])
    return survey(get, found, {
        "individuals": [f"{n}:{found[f'{n}:egfr']['individuals'][0]}" for n in NODES],
        "biosamples": [f"{n}:{found[f'{n}:egfr']['biosamples'][0]}" for n in NODES],
        "g_variants": [EGFR_SOMATIC],  # no node named: every node is asked
        "datasets": ["a:egfr", "b:colon"], "cohorts": ["b:egfr", "a:lung"]})


def record_sets(response: httpx.Response) -> dict[str, dict]:
    body = response.json()
    assert response.status_code == 200 and body["meta"]["returnedGranularity"] == "record", response.text
    return {s["id"]: s for s in body["response"]["resultSets"]}


def people(get, datasets) -> dict[str, dict[str, list[str]]]:
    """The ids of every individual and biosample of each dataset (as the Beacon names it)."""
    out = {}
    for dataset in datasets:
        out[dataset] = {}
        for entry in ("individuals", "biosamples"):
            found = get(f"/datasets/{dataset}/{entry}", limit=0).get(dataset)  # limit=0: a page of 1000
            out[dataset][entry] = sorted(r["id"] for r in found["results"]) if found else []
            assert len(out[dataset][entry]) == (found["resultsCount"] if found else 0)  # every one of them
    return out


def survey(get, found: dict[str, dict[str, list[str]]], ids: dict[str, list[str]]) -> Truth:
    """What every route that returns records selects, in each dataset."""
    truth = Truth(ids, people={d: {*f["individuals"], *f["biosamples"]} for d, f in found.items()},
                  sizes={d: len(f["individuals"]) for d, f in found.items()})
    for template in beacon_templates():
        if kind_of(template) == "records":
            for path in fill(template, ids):
                truth.counts[path] = {d: s["resultsCount"] for d, s in get(path).items()}
    return truth


def node_url(fed, name: str) -> str:
    return f"http://127.0.0.1:{fed.nodes[name].port}"


def fill(template: str, ids: dict[str, list[str]]) -> list[str]:
    """The paths a route is asked at: one per id of its entry type."""
    if "{id}" not in template:
        return [template]
    return [template.replace("{id}", i) for i in ids[template.strip("/").split("/")[0]]]


# --- what each caller may get ------------------------------------------------------------------

PEOPLE_ID = re.compile(r"[0-9a-f]{24}")  # the node's pseudonyms of individuals and biosamples
FINENESS = ("boolean", "count", "record")


def shape(response: httpx.Response, hub: bool = False) -> dict:
    """What an answer releases, in the terms expectations are written in."""
    out: dict = {"status": response.status_code}
    body = response.json()
    if "error" in body or "detail" in body:
        assert "response" not in body and "responseSummary" not in body, body
        return out | {"error": True}
    out["granularity"] = body.get("meta", {}).get("returnedGranularity")
    if "responseSummary" in body:
        out["exists"] = body["responseSummary"]["exists"]
        if "numTotalResults" in body["responseSummary"]:
            out["total"] = body["responseSummary"]["numTotalResults"]
    found = body.get("response", {})
    if "resultSets" in found:
        out["sets"] = {s["id"]: s["resultsCount"] for s in found["resultSets"]}
        out["shown"] = sum(len(s["results"]) for s in found["resultSets"])
    if "collections" in found:
        out["collections"] = {c["id"]: c.get("cohortSize") for c in found["collections"]}
    if "filteringTerms" in found:
        out["terms"] = True
    info = body.get("info", {})
    if "granularity" in info:
        out["withheld"] = info["granularity"]["requested"]
    if hub and "nodes" in info:
        out["nodes"] = {n: o.get("granularity", o["status"]) for n, o in info["nodes"].items()}
    if hub and "atLeast" in info:
        out["atLeast"] = info["atLeast"]
    return out


def leaks(text: str, truth: Truth, allowed: set[str], path: str) -> list[str]:
    """The records of people an answer holds though the caller may not see them."""
    seen = set(PEOPLE_ID.findall(text)) - set(PEOPLE_ID.findall(path))
    return [f"ids of people in {d}: {sorted(seen & people)[:3]}"
            for d, people in sorted(truth.people.items()) if d not in allowed and seen & people]


def document(who: Who, path: str, at_node: bool) -> dict:
    if who.refused and at_node:  # the node checks the Passport before anything else
        return {"status": 401, "error": True}
    return {"status": 200, "granularity": None if path == "/service-info" else "boolean"}


def records(who: Who, node: str, scope: set[str], counts: dict[str, int]) -> tuple[dict, set[str]]:
    """A node's answer about records of people, and the datasets whose records it may hold."""
    opened = who.opens.get(node, set()) & scope
    if opened:  # records of the datasets the Passport opens, and of no other
        total = sum(counts.get(d, 0) for d in opened)
        return {"status": 200, "granularity": "record", "exists": total > 0, "total": total,
                "sets": {d: counts[d] for d in opened if counts.get(d)}, "shown": min(total, PAGE)}, opened
    n = sum(counts.get(d, 0) for d in scope)
    if who.level == "public":
        return {"status": 200, "granularity": "boolean", "exists": n > 0}, set()
    if n == 0 or n >= MIN_CELL:
        return {"status": 200, "granularity": "count", "exists": n > 0, "total": n}, set()
    return {"status": 200, "granularity": "boolean", "exists": True, "withheld": "count"}, set()  # guarded


def cohort_size(who: Who, node: str, dataset: str, sizes: dict[str, int]) -> int | None:
    """A cohort's size is a count: shown where the caller may see counts, and the guard lets it."""
    if who.level == "public" and dataset not in who.opens.get(node, set()):
        return None
    n = sizes[dataset]
    return n if n == 0 or n >= MIN_CELL else None


def scope_of(path: str, datasets: set[str]) -> set[str]:
    """The datasets a route covers: one on a dataset's (or cohort's) routes, else all."""
    parts = path.strip("/").split("/")
    return {parts[1]} if parts[0] in CATALOGUE_TYPES and len(parts) > 1 else set(datasets)


def node_answer(who: Who, node: str, template: str, path: str, counts: dict[str, int],
                sizes: dict[str, int]) -> tuple[dict, set[str]]:
    """What node ``node`` answers on a Beacon route (``path`` as the node receives it), given
    the records the route selects in each of its datasets and their sizes; and the datasets
    whose records the answer may hold."""
    if who.refused:
        return {"status": 401, "error": True}, set()
    if template == UNKNOWN_PATH:
        return {"status": 404, "error": True}, set()
    scope = scope_of(path, EVERYTHING[node])
    kind = kind_of(template)
    if kind == "terms":
        return {"status": 200, "granularity": "boolean", "terms": True}, set()
    if kind == "catalogue":
        shown = {d: cohort_size(who, node, d, sizes) if template.startswith("/cohorts") else None for d in scope}
        return {"status": 200, "granularity": "record", "exists": bool(scope), "total": len(scope),
                "collections": shown}, set()
    return records(who, node, scope, counts)


def plan(path: str) -> dict[str, str]:
    """The nodes the hub asks, each with the path it asks: an id ``<node>:<id>`` names one node."""
    parts = path.strip("/").split("/")
    node, sep, local = parts[1].partition(":") if len(parts) > 1 else ("", "", "")
    if sep and node in NODES:
        return {node: "/" + "/".join([parts[0], local, *parts[2:]])}
    return {n: path for n in NODES}


def hub_answer(who: Who, template: str, path: str, truth: Truth) -> tuple[dict, set[str]]:
    """What the hub's Beacon network answers: each node asked answers as a node does, and the
    network merges (records, when any node released them; else the coarsest answer)."""
    if template == UNKNOWN_PATH:
        return {"status": 404, "error": True}, set()
    if who.refused:  # every node refuses the Passport alike, and so does the network
        return {"status": 401, "error": True}, set()
    parts = {}
    for n, local in plan(path).items():
        counts = {d: truth.counts.get(path, {}).get(f"{n}:{d}", 0) for d in EVERYTHING[n]}
        sizes = {d: truth.sizes[f"{n}:{d}"] for d in EVERYTHING[n]}
        parts[n] = node_answer(who, n, template, local, counts, sizes)
    kind = kind_of(template)
    if kind == "terms":
        return {"status": 200, "granularity": "boolean", "terms": True}, set()
    nodes = {n: want["granularity"] for n, (want, _) in parts.items()}
    if kind == "catalogue":
        shown = {f"{n}:{d}": size for n, (want, _) in parts.items() for d, size in want["collections"].items()}
        return {"status": 200, "granularity": "record", "exists": bool(shown), "total": len(shown),
                "collections": shown, "nodes": nodes}, set()
    opened = {n: want for n, (want, _) in parts.items() if want["granularity"] == "record"}
    allowed = {f"{n}:{d}" for n, (_, may) in parts.items() for d in may}
    if opened:
        total = sum(want["total"] for want in opened.values())
        return {"status": 200, "granularity": "record", "exists": total > 0, "total": total,
                "sets": {f"{n}:{d}": c for n, want in opened.items() for d, c in want["sets"].items()},
                "shown": min(total, PAGE), "nodes": nodes}, allowed
    coarsest = min(nodes.values(), key=FINENESS.index)
    counted = [want["total"] for want, _ in parts.values() if want["granularity"] == "count"]
    if coarsest == "count":
        return {"status": 200, "granularity": "count", "exists": sum(counted) > 0, "total": sum(counted),
                "nodes": nodes}, set()
    want = {"status": 200, "granularity": "boolean", "exists": any(w["exists"] for w, _ in parts.values()),
            "nodes": nodes}
    if counted:  # what the counting nodes released, never a total a withheld count hides in
        want["atLeast"] = sum(counted)
    return want, set()


@dataclass(frozen=True)
class Ask:
    """One request of a matrix case, and exactly what its answer must be."""

    method: str
    path: str
    want: dict  # the answer's shape (a Beacon's), or its status (and where a redirect goes)
    allowed: set[str] = field(default_factory=set)  # datasets whose people the answer may name
    beacon: bool = True
    json: object = None
    params: dict | None = None
    data: dict | None = None


def beacon_asks(truth: Truth, expect) -> list[Ask]:
    """Every Beacon route, {id} filled with each id of its type, by GET and by POST (an empty
    ``beaconRequestBody``: the same query); ``expect(template, path)`` says what it must answer."""
    calls = [(p, p) for p in DOCUMENT_PATHS] + [(t, path) for t in [*beacon_templates(), UNKNOWN_PATH]
                                                 for path in fill(t, truth.ids)]
    return [Ask(method, "/api" + path, *expect(template, path), json={} if method == "POST" else None)
            for template, path in calls for method in METHODS]


def plain(response: httpx.Response) -> dict:
    out = {"status": response.status_code}
    if response.is_redirect:
        out["location"] = response.headers["location"].partition("?")[0]
    return out


def judge(client: httpx.Client, asks: list[Ask], truth: Truth, hub: bool = False) -> list[str]:
    """Every mismatch between what was asked and what came back, and every leak."""
    def send(ask: Ask) -> httpx.Response:
        return client.request(ask.method, ask.path, json=ask.json, params=ask.params, data=ask.data)

    with ThreadPoolExecutor(4) as pool:  # a few at once, as many researchers would
        responses = list(pool.map(send, asks))
    wrong = []
    for ask, response in zip(asks, responses):
        got = shape(response, hub) if ask.beacon else plain(response)
        if got != ask.want:
            wrong.append(f"{ask.method} {ask.path}: expected {ask.want}\n    got {got}"
                         + ("" if ask.beacon else f" {response.text[:200]}"))
        wrong += [f"{ask.method} {ask.path}: {leak}" for leak in leaks(response.text, truth, ask.allowed, ask.path)]
    return wrong


# --- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_of_a_node_answers_each_caller_exactly_what_it_may(fed, node_truth, caller):
    """Node a, asked directly: its Beacon as the matrix says; beside it, public metadata to anyone
    whatever the caller sends, and its envelope route to its hub only (a researcher sealing a
    request as if they were the hub is refused)."""
    who = make_caller(fed, caller)

    def expect(template: str, path: str) -> tuple[dict, set[str]]:
        if template in DOCUMENT_PATHS:
            return document(who, path, at_node=True), set()
        return node_answer(who, "a", template, path, node_truth.counts.get(path, {}), node_truth.sizes)

    node = fed.nodes["a"].home
    as_hub = envelope.seal({"kind": "beacon", "beacon": {"path": "/individuals", "query": {}},
                            "token": who.token, "passport": who.passport}, fed.hub.config.id, node.id, keys.generate())
    asks = beacon_asks(node_truth, expect) + [
        Ask(method, template.format(node_id=node.id, dataset_id="egfr", n=1), {"status": status}, beacon=False,
            json=as_hub if method == "POST" else None)
        for (method, template), status in NODE_ROUTES.items()]
    with httpx.Client(base_url=node_url(fed, "a"), headers=who.headers, timeout=60) as client:
        wrong = judge(client, asks, node_truth)
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("caller", CALLERS)
def test_every_beacon_route_of_the_hub_answers_each_caller_exactly_what_it_may(fed, hub_truth, caller):
    """Through the hub's network: records only where a valid permit opens them, whether the node
    is called directly (a) or polls the hub through the relay (b)."""
    who = make_caller(fed, caller)

    def expect(template: str, path: str) -> tuple[dict, set[str]]:
        if template in DOCUMENT_PATHS:
            return document(who, path, at_node=False), set()
        return hub_answer(who, template, path, hub_truth)

    with httpx.Client(base_url=fed.hub_url, headers=who.headers, timeout=60) as client:
        wrong = judge(client, beacon_asks(hub_truth, expect), hub_truth, hub=True)
    assert not wrong, "\n".join(wrong)


@pytest.fixture(scope="module")
def owned(fed, oracle) -> dict[str, str]:
    """What the hub's routes are asked about: the oracle's access request, item and run (which
    nobody else may see or decide on), a node, a dataset, a file of the portal."""
    who, theirs = oracle
    run = _hub(fed, who.token, "POST", "/api/analyses", json=HUB_ROUTES[("POST", "/api/analyses")].json)
    assert run.status_code == 200, run.text
    return theirs | {"run": run.json()["run"], "node": "a", "dataset": "egfr", "static": "portal.css",
                     "format": "svg"}


@pytest.mark.parametrize("caller", CALLERS)
def test_every_other_route_of_the_hub_answers_each_caller_what_it_may(fed, hub_truth, owned, caller):
    """The hub's API beside its Beacon: public routes to anyone, the others to a signed-in
    researcher only (and what is another's stays theirs); a Passport changes nothing here. The
    portal knows its users by their session alone. No answer names a person's record."""
    who = make_caller(fed, caller)
    asks = []
    for (method, template), call in {**HUB_ROUTES, **PORTAL_ROUTES}.items():
        status = call.anonymous if who.token is None or (method, template) in PORTAL_ROUTES else call.signed_in
        want = {"status": status} | ({"location": call.location} if status == SIGN_IN else {})
        path = template.format(**{name: owned[value] for name, value in call.path.items()})
        body = call.json(fed) if callable(call.json) else call.json
        asks.append(Ask(method, path, want, beacon=False, json=body, params=call.params, data=call.data))
    with httpx.Client(base_url=fed.hub_url, headers=who.headers, timeout=60) as client:
        wrong = judge(client, asks, hub_truth)
    assert not wrong, "\n".join(wrong)
