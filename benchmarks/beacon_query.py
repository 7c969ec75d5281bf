"""Beacon query latency: sequence and range queries on ``/api/g_variants`` at a node holding
10,000,000 variant records, and through the hub over 3 nodes. Goal: node p50 ≤ 10 ms, hub
p95 ≤ 100 ms on localhost.

The variants are GENERATED: the real 1000 Genomes chromosome 22 slice (data/vcf/chr22.vcf.gz,
10,376 records) tiled along chromosome 22 by ``vcf_ingest.generate`` (copy k shifted by
k × 701 kb; 964 copies for 10 M records, so positions run to 676 Mb, far past chr22's real
51 Mb, which the file does not declare), then cut to its first 8 columns (a sites-only VCF,
as aggregate Beacons such as gnomAD's hold). Sites-only because a VCF with samples stores only
the variants some sample carries: the 5 samples of the slice carry 22 % of its records, so 10 M
stored variants would need 45 M records. It is bgzipped, indexed (CSI: tabix's .tbi stops at
2^29) and ingested with the real ingest path (``ingest.pipeline.ingest``, format vcf,
GRCh37) into one node store. The store holds no pseudonym (no individual, sample or call),
nothing about its node (ids and keys live in the node folder) and an empty audit log, so each
of the 3 nodes — made by ``node init`` with its own id, keys and secret — starts from a copy of
that one store file.

Measured, one request after another, with random positions among the tiled records (half
sequence queries for a stored variant, half for a random position, mostly misses; ranges of
1 kb at random positions):

- in process: ``node.beacon.answer`` on the store (parse, select, guard, audit);
- at the node: HTTP GET to a real ``oncofed node serve`` with a researcher token (count);
- through the hub: HTTP GET to a real hub fanning out to 3 nodes (2 direct, 1 relay);
- baselines: a bare GET of ``/api/info`` at the node and the hub (the HTTP floor), and
  Debian's ``bcftools view -H -r 22:POS-POS`` on the indexed tiled file (a process each).

    python benchmarks/beacon_query.py [--records 10000000] [--queries 200] [--work DIR]

``--work DIR`` keeps the generated file and the built store there and reuses them next time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vcf_ingest import SOURCE, generate  # noqa: E402  (the tiling, shared with the ingest benchmark)

from oncofed.beacon.request import parse_get  # noqa: E402
from oncofed.ingest.pipeline import ingest  # noqa: E402
from oncofed.node import beacon, home  # noqa: E402
from oncofed.node.beacon import Caller, Route  # noqa: E402
from oncofed.node.ratelimit import RateLimit  # noqa: E402
from oncofed.testing import LocalFederation  # noqa: E402

DATASET = "g1k"
ASSEMBLY = "GRCh37"
WINDOW = 1000  # bases of a range query
LABEL = "GENERATED.txt"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def source_records() -> int:
    return int(subprocess.run(f"gzip -dc {SOURCE} | grep -vc '^#'", shell=True, capture_output=True,
                              text=True, check=True).stdout)


# --- the generated node store --------------------------------------------------------------


def build(work: Path, records: int, bcftools: str) -> tuple[Path, Path]:
    """The tiled sites-only VCF (indexed) and a node store holding it; reused when built."""
    sites = work / "chr22-tiled-sites-GENERATED.vcf.gz"
    template = work / "template"
    if (work / LABEL).exists():
        print(f"reusing {work} ({(work / LABEL).read_text().strip()})")
        return sites, template / home.STORE
    work.mkdir(parents=True, exist_ok=True)
    copies = math.ceil(records / source_records())
    t = time.perf_counter()
    tiled, n = generate(work, copies, bcftools)
    subprocess.run(["bash", "-o", "pipefail", "-c",
                    f"gzip -dc '{tiled}' | cut -f1-8 | bgzip -@ {os.cpu_count()} -c > '{sites}'"], check=True)
    tiled.unlink()
    subprocess.run([bcftools, "index", "--threads", str(os.cpu_count()), "-f", str(sites)], check=True)
    print(f"generated {sites.name}: {n:,} records, {copies} copies of {SOURCE.name}, sites only, "
          f"{sites.stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - t:.0f} s")
    node = home.init(template, "template", "GB")
    with node.store() as store:
        store.add_dataset(DATASET, "1000 Genomes chr22, tiled 964 times along the chromosome (GENERATED)")
    t = time.perf_counter()
    result = ingest(node, DATASET, "vcf", [sites], assembly=ASSEMBLY)
    took = time.perf_counter() - t
    print(f"ingested with ingest.pipeline.ingest: {result.counts['variants']:,} variants in {took:.1f} s "
          f"({n / took:,.0f} records/s)")
    if result.counts["variants"] < records:
        raise SystemExit(f"the store holds {result.counts['variants']:,} variants, fewer than {records:,}")
    (work / LABEL).write_text(f"GENERATED: {n:,} records tiled from {SOURCE.name}, {copies} copies, sites only; "
                              f"{result.counts['variants']:,} variants; ingest {took:.1f} s\n")
    return sites, template / home.STORE


def layout(store: Path) -> str:
    """How the variants lie in the file: row groups, and how many overlap in position."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        rows = con.execute("SELECT count(*), count(DISTINCT row_group_id) FROM pragma_storage_info('variants') "
                           "WHERE column_name = 'position' AND segment_type <> 'VALIDITY'").fetchall()[0]
        spans = con.execute("""
            SELECT row_group_id, min(stats['min']::BIGINT), max(stats['max']::BIGINT)
            FROM pragma_storage_info('variants') WHERE column_name = 'position' AND segment_type <> 'VALIDITY'
            GROUP BY 1 ORDER BY 2""").fetchall()
        total = con.execute("SELECT count(*), max(position) FROM variants").fetchall()[0]
    finally:
        con.close()
    overlaps = sum(1 for (_, _, hi), (_, lo, _) in zip(spans, spans[1:]) if hi is not None and lo is not None
                   and lo <= hi)
    width = statistics.median([hi - lo for _, lo, hi in spans if lo is not None and hi is not None] or [0])
    return (f"{total[0]:,} variants in {rows[1]} row groups, positions 1..{total[1]:,}; median row-group position "
            f"span {int(width):,} bases; {overlaps} row groups overlap the next in position")


# --- the queries ----------------------------------------------------------------------------


def queries(store: Path, n: int, seed: int) -> tuple[list[dict], list[dict]]:
    """``n`` sequence queries (half for a stored variant, half at a random position) and ``n``
    range queries of WINDOW bases at random positions, as GET parameters."""
    rng = random.Random(seed)
    con = duckdb.connect(str(store), read_only=True)
    try:
        top = con.execute("SELECT max(position) FROM variants").fetchall()[0][0]
        stored = con.execute(f"SELECT position, ref, alt FROM variants USING SAMPLE {n // 2} ROWS (reservoir, {seed})"
                             ).fetchall()
    finally:
        con.close()
    base = {"assemblyId": ASSEMBLY, "referenceName": "22"}
    sequence = [base | {"start": str(p - 1), "referenceBases": r, "alternateBases": a} for p, r, a in stored]
    sequence += [base | {"start": str(rng.randrange(top)), "referenceBases": "A", "alternateBases": "T"}
                 for _ in range(n - len(sequence))]
    rng.shuffle(sequence)
    ranges = []
    for _ in range(n):
        start = rng.randrange(top)
        ranges.append(base | {"start": str(start), "end": str(start + WINDOW)})
    return sequence, ranges


def in_process(store: Path, node: home.NodeHome, kinds: dict[str, list[dict]]) -> dict[str, list[float]]:
    """``node.beacon.answer`` timed on a copy of the store: parse, select, guard and audit."""
    con = duckdb.connect(str(store))
    info, route = beacon.beacon_info(node), Route("g_variants")
    caller = Caller("registered", "benchmark-researcher")

    def ask(params: dict) -> float:
        t = time.perf_counter()
        reply = beacon.answer(con, info, route, parse_get(params.items()), caller, node.config.guard)
        took = time.perf_counter() - t
        assert reply.status == 200, reply.body
        return took

    try:
        t = time.perf_counter()
        ask(kinds["sequence"][0])
        print(f"in process, first query (reads what it caches per dataset version): "
              f"{(time.perf_counter() - t) * 1000:.0f} ms")
        return {kind: [ask(p) for p in params] for kind, params in kinds.items()}
    finally:
        con.close()


def over_http(client: httpx.Client, url: str, kinds: dict[str, list[dict]], token: str,
              check) -> tuple[dict[str, list[float]], dict[str, int]]:
    headers = {"Authorization": f"Bearer {token}"}
    times: dict[str, list[float]] = {}
    hits: dict[str, int] = {}
    for kind, params in kinds.items():
        times[kind], hits[kind] = [], 0
        for p in params:
            t = time.perf_counter()
            response = client.get(url, params=p, headers=headers)
            times[kind].append(time.perf_counter() - t)
            assert response.status_code == 200, response.text
            body = response.json()
            check(body)
            hits[kind] += body["responseSummary"]["exists"]
    return times, hits


def floor(client: httpx.Client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        client.get(url).raise_for_status()
        out.append(time.perf_counter() - t)
    return out


def bcftools_view(bcftools: str, sites: Path, sequence: list[dict]) -> tuple[list[float], int]:
    out, found = [], 0
    for p in sequence:
        pos = int(p["start"]) + 1
        t = time.perf_counter()
        text = subprocess.run([bcftools, "view", "-H", "-r", f"22:{pos}-{pos}", str(sites)], check=True,
                              capture_output=True, text=True).stdout
        out.append(time.perf_counter() - t)
        wanted = [str(pos), p["referenceBases"], p["alternateBases"]]
        found += any([f[1], f[3], f[4]] == wanted for f in (line.split("\t") for line in text.splitlines()))
    return out, found


class PrebuiltFederation(LocalFederation):
    """A LocalFederation whose nodes, each made by ``node init`` with its own identity, start
    from a copy of one prebuilt store (sound here: see the module's docstring)."""

    def __init__(self, store: Path, **kwargs):
        super().__init__(**kwargs)
        self.store = store

    def _build(self, node) -> None:
        super()._build(node)
        shutil.copyfile(self.store, node.home.store_path)
        # one researcher asking ~150 times a second would soon meet the node's default rate limit
        unlimited = RateLimit(per_minute=1e9, burst=10**9)
        node.home = node.home.save(node.home.config.model_copy(update={"rate": unlimited}))


def over_federation(template: Path, work: Path, kinds: dict[str, list[dict]], hub_kinds: dict[str, list[dict]],
                    serve: bool) -> dict[str, tuple[float, float]]:
    """The queries over HTTP at node a, then through the hub; the HTTP floor of each."""
    results: dict[str, tuple[float, float]] = {}
    with PrebuiltFederation(template, workdir=Path(tempfile.mkdtemp(prefix="federation-", dir=work))) as lf:
        lf.add_node("a")
        lf.add_node("b")
        lf.add_node("c", transport="relay")
        lf.start()
        node_url = f"http://127.0.0.1:{lf.nodes['a'].port}"
        headers = {"Authorization": f"Bearer {lf.token}"}
        with httpx.Client(timeout=60) as client:
            for name, url in (("node over HTTP", node_url), ("hub over 3 nodes", lf.hub_url)):
                t = time.perf_counter()
                client.get(f"{url}/api/g_variants", params=kinds["sequence"][0], headers=headers).raise_for_status()
                print(f"{name}, first query: {(time.perf_counter() - t) * 1000:.0f} ms")

            def at_node(body: dict) -> None:
                assert body["meta"]["returnedGranularity"] in ("count", "boolean"), body

            def at_hub(body: dict) -> None:
                statuses = {n: s["status"] for n, s in body["info"]["nodes"].items()}
                assert statuses == {"a": "ok", "b": "ok", "c": "ok"}, statuses

            print("at the node (HTTP GET /api/g_variants, researcher token):")
            times, hits = over_http(client, f"{node_url}/api/g_variants", kinds, lf.token, at_node)
            for kind in kinds:
                results[f"node {kind}"] = report(kind, times[kind], f"  {hits[kind]} found")
            results["node floor"] = report("baseline: GET /api/info", floor(client, f"{node_url}/api/info", 200))

            print("through the hub (3 nodes: 2 direct, 1 relay):")
            times, hits = over_http(client, f"{lf.hub_url}/api/g_variants", hub_kinds, lf.token, at_hub)
            for kind in kinds:
                results[f"hub {kind}"] = report(kind, times[kind], f"  {hits[kind]} found")
            results["hub floor"] = report("baseline: GET /api/info", floor(client, f"{lf.hub_url}/api/info", 200))
            if serve:
                (work / "token").write_text(lf.token)
                print(f"serving: node a pid {lf.nodes['a'].process.pid} at {node_url}, hub at {lf.hub_url}, "
                      f"token in {work / 'token'}; Ctrl-C or SIGTERM to stop")
                signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leaves the with: ends the processes
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
    return results


def report(name: str, samples: list[float], extra: str = "") -> tuple[float, float]:
    p50, p95 = percentiles(samples)
    print(f"  {name:34} p50 {p50 * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms   (n={len(samples)}){extra}")
    return p50, p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=200, help="per kind (sequence, range) at the node")
    parser.add_argument("--hub-queries", type=int, default=100, help="per kind through the hub")
    parser.add_argument("--baseline-queries", type=int, default=50, help="bcftools view runs")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--work", type=Path, help="keep the generated data here and reuse it")
    parser.add_argument("--serve", action="store_true",
                        help="after measuring, keep the federation up until Ctrl-C or SIGTERM (to attach py-spy)")
    args = parser.parse_args()
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        raise SystemExit("needs Debian's bcftools (apt-get install bcftools) to index the input and as the baseline")
    version = subprocess.run([bcftools, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"DuckDB {duckdb.__version__}, {version}; load average {os.getloadavg()[0]:.1f}")
    work = args.work or Path(tempfile.mkdtemp(prefix="oncofed-beacon-bench-"))
    try:
        sites, template = build(work, args.records, bcftools)
        print(f"store: {layout(template)}")
        sequence, ranges = queries(template, args.queries, args.seed)
        kinds = {"sequence": sequence, "range": ranges}
        results: dict[str, tuple[float, float]] = {}

        print("in process (node.beacon.answer on a copy of the store):")
        scratch = work / "in-process.duckdb"
        shutil.copyfile(template, scratch)
        try:
            for kind, samples in in_process(scratch, home.load(template.parent), kinds).items():
                results[f"in-process {kind}"] = report(kind, samples)
        finally:
            scratch.unlink(missing_ok=True)

        hub_kinds = {k: v[:args.hub_queries] for k, v in kinds.items()}
        results |= over_federation(template, work, kinds, hub_kinds, args.serve)

        print(f"baseline: bcftools view -H -r 22:POS-POS {sites.name} (one process each, CSI index):")
        times, found = bcftools_view(bcftools, sites, sequence[:args.baseline_queries])
        results["bcftools view"] = report("sequence", times, f"  {found} found")

        node50 = max(results["node sequence"][0], results["node range"][0])
        hub95 = max(results["hub sequence"][1], results["hub range"][1])
        print(f"goal node p50 ≤ 10 ms: {'met' if node50 <= 0.010 else 'NOT met'} ({node50 * 1000:.1f} ms); "
              f"hub p95 ≤ 100 ms: {'met' if hub95 <= 0.100 else 'NOT met'} ({hub95 * 1000:.1f} ms)")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        print(json.dumps({k: [round(v * 1000, 2) for v in pair] for k, pair in results.items()}))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            for folder in work.glob("federation-*"):
                shutil.rmtree(folder, ignore_errors=True)
            (work / "token").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
