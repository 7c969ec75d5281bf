"""Latency of one federated count, researcher to answer: over 3 direct nodes and over 3 relay
nodes on localhost (real hub and node processes, SQLite hub store, the demo lung trial split
across the nodes by institution). Goal: p50 ≤ 20 ms direct, ≤ 50 ms relay.

Baseline in the same run: a bare HTTP GET of the hub's public info, the floor any request
through the hub pays.

    python benchmarks/roundtrip.py [--requests 200]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import httpx

from oncofed.testing import LocalFederation

REPO = Path(__file__).resolve().parents[1]
SPLIT = ["TRY_CAST(inst AS DOUBLE) <= 7", "TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13",
         "inst IS NULL OR TRY_CAST(inst AS DOUBLE) >= 15"]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def measure(transport: str, requests: int) -> tuple[list[float], list[float]]:
    with LocalFederation() as lf:
        for i, where in enumerate(SPLIT):
            lf.add_node(f"n{i}", transport=transport).add_dataset(
                "lung", REPO / "data/ncctg-lung/lung.csv", mapping=REPO / "data/ncctg-lung/mapping.yaml", where=where)
        fed = lf.start()
        for _ in range(10):  # warm up connections and caches
            fed.count(datasets=["lung"])
        counts, floor = [], []
        with httpx.Client() as client:
            for _ in range(requests):
                t = time.perf_counter()
                result = fed.count(datasets=["lung"])
                counts.append(time.perf_counter() - t)
                assert result.count == 228, result.raw
                t = time.perf_counter()
                client.get(f"{lf.hub_url}/api/hub")
                floor.append(time.perf_counter() - t)
        return counts, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}; {args.requests} counts per transport")
    for transport, goal in (("direct", 0.020), ("relay", 0.050)):
        counts, floor = measure(transport, args.requests)
        p50, p95 = percentiles(counts)
        f50, _ = percentiles(floor)
        print(f"{transport:6}: count p50 {p50 * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms "
              f"(goal p50 ≤ {goal * 1000:.0f} ms: {'met' if p50 <= goal else 'NOT met'}); "
              f"bare GET to the hub p50 {f50 * 1000:.1f} ms")


if __name__ == "__main__":
    main()
