"""Clinical ingest throughput: rows per second for a 1,000,000-row CSV on one core.

The input is GENERATED: rows resampled with replacement from the real Rotterdam breast-cancer
cohort (data/rotterdam), each given a new unique patient id, so the values are real rows and
the identifiers are not. It is written to benchmarks/out/ and never shipped. The mapping is
the cohort's own (data/rotterdam/mapping.yaml): per row one individual, one disease, five
measurements, up to two treatments and two outcomes.

Baseline in the same run: pandas.read_csv of the same file (just parsing it, no mapping, no
store), the usual way such a file is loaded in Python.

    python benchmarks/ingest_clinical.py [--rows 1000000] [--repeat 3] [--cores 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from oncofed.ingest.pipeline import ingest
from oncofed.node import home

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


def generate(rows: int) -> Path:
    path = OUT / f"rotterdam-resampled-GENERATED-{rows}.csv"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    real = pd.read_csv(REPO / "data/rotterdam/rotterdam.csv", keep_default_na=False, dtype=str)
    picked = real.iloc[np.random.default_rng(2026).integers(0, len(real), rows)].reset_index(drop=True)
    picked["pid"] = [f"gen{i:07d}" for i in range(rows)]
    picked["rownames"] = [str(i + 1) for i in range(rows)]
    picked.to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=1, help="pin to this many cores (the goal is for one)")
    args = parser.parse_args()
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.cores]))
    data = generate(args.rows)
    print(f"input: {data.name} ({data.stat().st_size / 1e6:.0f} MB, {args.rows:,} generated rows)")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, pinned to {args.cores} of {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    ingest_times, pandas_times = [], []
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="oncofed-bench-"))
        try:
            node = home.init(work / "node", "bench", "NL")
            with node.store() as store:
                store.add_dataset("rotterdam", "Rotterdam (generated scale-up)")
            t = time.perf_counter()
            result = ingest(node, "rotterdam", "csv", [data], mapping=REPO / "data/rotterdam/mapping.yaml")
            ingest_times.append(time.perf_counter() - t)
            records = sum(result.counts.values())
        finally:
            shutil.rmtree(work)
        t = time.perf_counter()
        pd.read_csv(data)
        pandas_times.append(time.perf_counter() - t)
    best, base = min(ingest_times), min(pandas_times)
    print(f"oncofed ingest: {best:.2f} s best of {args.repeat} -> {args.rows / best:,.0f} rows/s "
          f"({records:,} model records written, pseudonymised, hashed, committed)")
    print(f"baseline pandas.read_csv only: {base:.2f} s -> {args.rows / base:,.0f} rows/s")
    print(f"goal >= 200,000 rows/s: {'met' if args.rows / best >= 200_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
