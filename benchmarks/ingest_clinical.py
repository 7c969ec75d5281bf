"""Clinical ingest throughput: rows per second for a 1,000,000-row CSV on one core.

The input is GENERATED: rows resampled with replacement from the real Rotterdam breast-cancer
cohort (data/rotterdam), each given a new unique patient id, so the values are real rows and
the identifiers are not. It is written to benchmarks/out/ and never shipped. The mapping is
the cohort's own (data/rotterdam/mapping.yaml): per row one individual, one disease, five
measurements, up to two treatments and two outcomes.

Baseline in the same run: pandas.read_csv of the same file (just parsing it, no mapping, no
store), the usual way such a file is loaded in Python.

Also timed, as the floor of this design (each part measured alone, on the same core): pyarrow
parsing the file into text columns, as the reader does; the keyed hash of the million patient
ids; DuckDB inserting the model records the reader made into a fresh store and committing
them; and the content digest of those rows. These are what any ingest must do here, before
any mapping or check.

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
import pyarrow as pa
import pyarrow.csv as pacsv

from oncofed.ingest import clinical
from oncofed.ingest.pipeline import ingest
from oncofed.ingest.reader import IngestContext
from oncofed.model.schema import TABLES
from oncofed.node import home
from oncofed.store import content_hash

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


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def floor(data: Path, work: Path) -> dict[str, float]:
    """Seconds of the parts every ingest of this file must do, each alone."""
    node = home.init(work / "floor", "bench", "NL")
    out = {"parse": timed(lambda: pacsv.read_csv(data, read_options=pacsv.ReadOptions(use_threads=False),
                                                 convert_options=pacsv.ConvertOptions(
                                                     column_types={"pid": pa.string()})))}
    ids = pd.read_csv(data, usecols=["pid"], dtype=str)["pid"].tolist()
    out["pseudonymise"] = timed(lambda: node.pseudonyms.many("rotterdam", ids))
    batch = clinical.read_csv([data], IngestContext("rotterdam", node.pseudonyms, country="NL",
                                                    mapping=REPO / "data/rotterdam/mapping.yaml"))
    with node.store() as store:  # the store's own tables (pseudonym columns uncompressed)
        con = store.con
        for name, table in batch.tables.items():
            con.register(f"_{name}", table)

        def insert() -> None:
            con.execute("SET preserve_insertion_order = false")
            con.execute("BEGIN")
            for name in batch.tables:
                cols = ", ".join(TABLES[name].column_names)
                con.execute(f"INSERT INTO {name} (dataset_id, {cols}) SELECT 'rotterdam', {cols} FROM _{name}")
            con.execute("COMMIT")

        out["insert"] = timed(insert)
        out["digest"] = timed(lambda: [con.execute(content_hash.digest_sql(TABLES[name], name)).fetchall()
                                       for name in batch.tables])
    return out


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
    ingest_times, pandas_times, floors = [], [], []
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
            floors.append(floor(data, work))
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
    parts = {k: min(f[k] for f in floors) for k in floors[0]}
    total = sum(parts.values())
    print("floor of this design (each part alone, best of the repeats): "
          + " + ".join(f"{k} {v:.2f} s" for k, v in parts.items())
          + f" = {total:.2f} s -> {args.rows / total:,.0f} rows/s at most")


if __name__ == "__main__":
    main()
