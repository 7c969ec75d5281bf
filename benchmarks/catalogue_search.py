"""Catalogue search at the hub over 10,000 described datasets: latency of a search with two
facets (and the facet counts it returns), through the real hub's HTTP API. Goal: p95 ≤ 50 ms.

The datasets are generated and labelled: each gets 1–2 cancer types from the verified
vocabulary, the record tables it holds, a country, an access right, DUO codes and a size, and
is stored through the same path a harvest takes (``CatalogueStore.replace``, 20 nodes).

    python benchmarks/catalogue_search.py [--datasets 10000] [--searches 500] [--db postgresql://…]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy

from oncofed.auth import keys
from oncofed.catalogue.records import DatasetRecord
from oncofed.hub import home as hub_home
from oncofed.hub.catalogue import CatalogueStore
from oncofed.hub.catalogue_search import Query, index, search
from oncofed.hub.store import HubStore
from oncofed.model import vocabulary
from oncofed.model.schema import TABLES
from oncofed.testing import free_port

COUNTRIES = ["DE", "NL", "FR", "BE", "ES", "IT", "SE", "FI", "PL", "PT"]
ACCESS = ["public", "restricted", "non-public"]
DUO = [["DUO:0000004"], ["DUO:0000042"], ["DUO:0000006"], ["DUO:0000006", "DUO:0000046"],
       ["DUO:0000007"], ["DUO:0000042", "DUO:0000019"]]
WORDS = ["cohort", "registry", "trial", "biobank", "survival", "screening", "adjuvant", "imaging", "genomic",
         "follow-up", "population", "hospital"]


def generate(n: int, nodes: int, rng: random.Random) -> dict[str, list[DatasetRecord]]:
    cancers = list(vocabulary.group("disease"))
    by_node: dict[str, list[DatasetRecord]] = {f"node-{i:02d}": [] for i in range(nodes)}
    for i in range(n):
        node = f"node-{i % nodes:02d}"
        types = rng.sample(cancers, rng.choice([1, 1, 2]))
        words = rng.sample(WORDS, 3)
        title = f"{vocabulary.label(types[0])} {words[0]} {i}"
        codes = rng.choice(DUO)
        by_node[node].append(DatasetRecord(
            node=node, dataset=f"ds-{i}", iri=f"https://{node}.example.org/dataset/ds-{i}", title=title,
            description=f"A {words[1]} {words[2]} of {' and '.join(vocabulary.label(t) for t in types)}.",
            keywords=words, access=rng.choice(ACCESS), duo=codes,
            duo_diseases=types[:1] if "DUO:0000007" in codes else [],
            countries=[rng.choice(COUNTRIES)], individuals=int(rng.lognormvariate(6, 1.5)) + 5,
            data_types=["individuals", "diseases", *rng.sample([t for t in TABLES if t not in
                                                                ("individuals", "diseases")], 3)],
            cancer_types=types, coding_systems=["NCIT", "LOINC"], version="1", versions=1))
    return by_node


def queries(k: int, rng: random.Random) -> list[Query]:
    cancers = list(vocabulary.group("disease"))
    tables = list(TABLES)
    made = []
    for i in range(k):
        cancer = [rng.choice(cancers)]
        if i % 2:
            made.append(Query(cancer=cancer, country=[rng.choice(COUNTRIES)]))
        else:
            made.append(Query(cancer=cancer, data_type=[rng.choice(tables)]))
    return made


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p = lambda q: ordered[int(q * (len(ordered) - 1))] * 1000  # noqa: E731
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p(0.95):.1f} ms, p99 {p(0.99):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=500)
    parser.add_argument("--db", help="hub database URL (default: a SQLite file)")
    args = parser.parse_args()
    rng = random.Random(6)
    folder = Path(tempfile.mkdtemp(prefix="oncofed-catalogue-bench-"))
    with own_schema(args.db) as db:
        run(args, rng, folder, db)


@contextlib.contextmanager
def own_schema(db: str | None):
    """On PostgreSQL, a schema of the benchmark's own, dropped afterwards: the database is left as found."""
    if not db or not db.startswith("postgresql://"):
        yield db
        return
    schema = f"catalogue_bench_{os.getpid()}"
    engine = sqlalchemy.create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as c:
        c.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{db}{'&' if '?' in db else '?'}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as c:
            c.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def run(args, rng: random.Random, folder: Path, db: str | None) -> None:
    hub = hub_home.init(folder / "hub", "Bench hub", "bench-hub", db)
    store = HubStore(hub.config.db)
    catalogue = CatalogueStore(store)
    t = time.perf_counter()
    for i, (node, found) in enumerate(generate(args.datasets, 20, rng).items()):
        record = store.add_node(node, node, COUNTRIES[i % len(COUNTRIES)], "relay", keys.public_b64(keys.generate()))
        catalogue.replace(record, found, f"https://{node}.example.org", "")
    loading = time.perf_counter() - t
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"hub store {hub.config.db.split(':')[0]}; {args.datasets:,} datasets stored in {loading:.1f} s")

    t = time.perf_counter()
    index(store.engine)
    print(f"the hub's search index built in {time.perf_counter() - t:.2f} s (after each harvest that changed something)")
    searches = queries(args.searches, rng)
    totals = []
    in_process = []
    for q in searches:
        t = time.perf_counter()
        totals.append(search(store.engine, q)["total"])
        in_process.append(time.perf_counter() - t)
    print(f"two-facet searches match {statistics.mean(totals):.0f} datasets on average "
          f"(min {min(totals)}, max {max(totals)}), each with every facet's counts")
    print(f"  in the hub process (search function): {percentiles(in_process)}")

    port = free_port()
    env = os.environ | {"ONCOFED_CATALOGUE_HARVEST_S": "0"}
    server = subprocess.Popen([sys.executable, "-m", "oncofed", "hub", "serve", str(hub.path), "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(100):
                try:
                    if client.get("/api/hub").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for q in searches[:20]:  # warm up
                client.get("/api/catalogue/datasets", params=q.model_dump(exclude_defaults=True))
            over_http = []
            for q in searches:
                params = q.model_dump(exclude_defaults=True)
                t = time.perf_counter()
                response = client.get("/api/catalogue/datasets", params=params)
                over_http.append(time.perf_counter() - t)
                assert response.status_code == 200, response.text
        print(f"  over HTTP (GET /api/catalogue/datasets, one client): {percentiles(over_http)}")
        p95 = sorted(over_http)[int(0.95 * (len(over_http) - 1))]
        print(f"goal p95 <= 50 ms: {'met' if p95 <= 0.050 else 'NOT met'}")
    finally:
        server.terminate()
        server.wait(10)
        store.dispose()


if __name__ == "__main__":
    main()
