"""The NCI Imaging Data Commons index as an imaging node: time and peak memory of ingesting the
whole index (idc-index-data, ~1,000,000 series), then p50/p95 of a filtered count at the node —
"patients with a CT series, a lung cancer and over 60 at their first imaging study" — run in
process through ``analysis.run`` (the node step the handler runs, without HTTP). Each request
varies the age threshold, so no answer comes from the node's cohort cache.

Goal (issue 8): p95 ≤ 50 ms for the count.

    python benchmarks/idc_ingest.py [--requests 200] [--datasets]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from oncofed.analysis import run
from oncofed.node import home

LUNG_CANCER = ["NCIT:C7377", "NCIT:C4878", "NCIT:C2926", "NCIT:C4917", "NCIT:C3512", "NCIT:C3493"]


def ingest_whole_index(folder: Path) -> tuple[float, int, str]:
    """Seconds and peak RSS (bytes) of `oncofed node ingest --format idc` as a steward runs it."""
    node = folder / "idc-node"
    oncofed = [sys.executable, "-m", "oncofed"]
    subprocess.run([*oncofed, "node", "init", str(node), "--name", "IDC", "--country", "US"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([*oncofed, "node", "add-dataset", str(node), "idc", "--title", "NCI Imaging Data Commons"],
                   check=True, stdout=subprocess.DEVNULL)
    start = time.perf_counter()
    done = subprocess.run([*oncofed, "node", "ingest", str(node), "--dataset", "idc", "--format", "idc"],
                          check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the largest child: the ingest
    return seconds, peak, done.stdout.strip().replace("\n", " ")


def counts(store: Path, requests: int, datasets: list[str] | None) -> tuple[list[float], int]:
    node = home.load(store.parent)
    con = duckdb.connect(str(store), read_only=True)
    times, n = [], 0
    for k in range(requests + 5):
        cohort = {"datasets": datasets, "filters": [
            {"variable": "imaging:CT", "op": "=", "value": 1},
            {"variable": "diagnosis", "op": "in", "value": LUNG_CANCER},
            {"variable": "imaging_age", "op": ">", "value": 60 + k / 1000}]}
        start = time.perf_counter()
        n = run.run("count", {}, cohort, {node.id: con})["count"]
        if k >= 5:  # the first few warm DuckDB's caches
            times.append((time.perf_counter() - start) * 1000)
    con.close()
    return times, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--datasets", action="store_true", help="name the dataset in the cohort, as the hub does")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seconds, peak, said = ingest_whole_index(Path(tmp))
        print(f"ingest of the whole IDC index: {seconds:.1f} s, peak RSS {peak / 2**30:.2f} GiB")
        print(f"  {said}")
        times, n = counts(Path(tmp) / "idc-node" / "store.duckdb", args.requests,
                          ["idc"] if args.datasets else None)
    q = statistics.quantiles(times, n=100)
    print(f"filtered count (CT, lung cancer, over 60 → {n} patients), {len(times)} requests: "
          f"p50 {statistics.median(times):.1f} ms, p95 {q[94]:.1f} ms, max {max(times):.1f} ms")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, DuckDB {duckdb.__version__}")


if __name__ == "__main__":
    main()
