"""VCF ingest throughput: records and calls per second for a ~1,000,000-record bgzipped VCF,
against `bcftools query` on the same file in the same run.

The input is GENERATED: the real 1000 Genomes chromosome 22 slice (data/vcf/chr22.vcf.gz,
10,376 records, 5 samples) tiled along chromosome 22 — copy k shifted by k × 701 kb (END= too),
97 copies, 1,006,472 records; past copy 73 the positions run beyond the real chromosome's
length, which the file does not declare. It is written to a temporary folder, bgzipped by
bcftools, and deleted afterwards.

Baseline: Debian's `bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\n'` — the floor of
decompressing and parsing the file. Goal: ingest into the node store in ≤ 2 × that time. Each
repeat times bcftools next to oncofed, so that both see the same load on a shared machine.

Also timed, as the floor of this design: inflating the file to text (``bgzf.inflate``),
DuckDB splitting that text into columns with nothing kept, and the store's write of the
batch read (``Store.write``, the same work as inside the ingest).

    python benchmarks/vcf_ingest.py [--copies 97] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import os
import platform
import pstats
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb

from oncofed.ingest import bgzf, vcf
from oncofed.ingest.pipeline import ingest
from oncofed.ingest.reader import IngestContext
from oncofed.node import home

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "data/vcf/chr22.vcf.gz"
QUERY = r"%CHROM\t%POS\t%REF\t%ALT\n"


def generate(folder: Path, copies: int, bcftools: str) -> tuple[Path, int]:
    header, body = [], []
    for line in gzip.open(SOURCE, "rt"):
        (header if line.startswith("#") else body).append(line)
    rows = [line.split("\t", 2) for line in body]
    first = int(rows[0][1])
    stride = max(int(r[1]) for r in rows) - first + 1000
    plain = folder / "chr22-tiled-GENERATED.vcf"
    end = re.compile(r"(?<=END=)(\d+)")
    with open(plain, "w") as f:
        f.writelines(header)
        for k in range(copies):
            shift = k * stride - first + 1
            f.writelines(f"{c}\t{int(p) + shift}\t{end.sub(lambda m: str(int(m[1]) + shift), rest)}"
                         for c, p, rest in rows)
    out = folder / "chr22-tiled-GENERATED.vcf.gz"
    subprocess.run([bcftools, "view", "--no-version", "-Oz", "-o", str(out), str(plain)], check=True,
                   stderr=subprocess.DEVNULL)
    plain.unlink()
    return out, copies * len(rows)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def fresh_node(folder: Path):
    node = home.init(folder, "bench", "GB")
    with node.store() as store:
        store.add_dataset("g1k", "1000 Genomes chr22 (generated tiling)")
    return node


def split_floor(data: Path, work: Path) -> tuple[float, float]:
    """Seconds to inflate the file to text, and for DuckDB to split that text into columns."""
    text = work / "floor.vcf"
    with open(text, "wb") as out:
        inflating = timed(lambda: bgzf.inflate(data, out.write))
    with open(text, "rb") as f:
        skip, _ = vcf.records_start(f)
    con = duckdb.connect()
    columns = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(14))
    splitting = timed(lambda: con.execute(
        f"SELECT count(*) FROM read_csv('{text}', delim='\\t', quote='', escape='', header=false, "
        f"auto_detect=false, skip={skip}, columns={{{columns}}})").fetchall())
    con.close()
    text.unlink()
    return inflating, splitting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, default=97)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print where one ingest spends its time")
    args = parser.parse_args()
    bcftools = shutil.which("bcftools")
    if bcftools is None:
        raise SystemExit("needs Debian's bcftools (apt-get install bcftools) for the input and the baseline")
    version = subprocess.run([bcftools, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    work = Path(tempfile.mkdtemp(prefix="oncofed-vcf-bench-"))
    try:
        data, records = generate(work, args.copies, bcftools)
        print(f"input: {data.name} ({data.stat().st_size / 1e6:.0f} MB bgzipped, {records:,} generated records, "
              f"5 samples; tiled from data/vcf/chr22.vcf.gz)")
        print(f"machine: {cpu_model()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}, "
              f"DuckDB {duckdb.__version__}, {version}; load average {os.getloadavg()[0]:.1f} at the start")

        def query() -> None:
            subprocess.run([bcftools, "query", "-f", QUERY, str(data)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        times: dict[str, list[float]] = {k: [] for k in ("bcftools", "inflate", "split", "read", "write", "ingest")}
        result = None
        for i in range(args.repeat):
            times["bcftools"].append(timed(query))
            inflating, splitting = split_floor(data, work)
            times["inflate"].append(inflating)
            times["split"].append(splitting)
            node = fresh_node(work / f"read{i}")
            batch = None

            def read() -> None:
                nonlocal batch
                batch = vcf.read([data], IngestContext("g1k", node.pseudonyms, assembly="GRCh37"))

            times["read"].append(timed(read))
            with node.store() as store:
                times["write"].append(timed(lambda: store.write("g1k", batch, format="vcf")))
            node = fresh_node(work / f"ingest{i}")

            def run() -> None:
                nonlocal result
                result = ingest(node, "g1k", "vcf", [data], assembly="GRCh37")

            times["ingest"].append(timed(run))
            shutil.rmtree(work / f"read{i}")
            shutil.rmtree(work / f"ingest{i}")
        best = {k: min(v) for k, v in times.items()}
        calls = result.counts["calls"]
        print(f"load average {os.getloadavg()[0]:.1f} at the end; best of {args.repeat}:")
        print(f"bcftools query: {best['bcftools']:.2f} s -> {records / best['bcftools']:,.0f} records/s")
        print(f"oncofed ingest (into the node store, committed): {best['ingest']:.2f} s -> "
              f"{records / best['ingest']:,.0f} records/s, {calls / best['ingest']:,.0f} calls/s; "
              f"{result.counts['variants']:,} variants, {calls:,} calls")
        print(f"  read (VCF -> batch, no store): {best['read']:.2f} s; the store's write of that batch: "
              f"{best['write']:.2f} s")
        ratio = best["ingest"] / best["bcftools"]
        print(f"ingest / bcftools = {ratio:.2f}x; goal <= 2x: {'met' if ratio <= 2 else 'NOT met'}")
        floor = best["inflate"] + best["split"] + best["write"]
        print(f"floor of this design: inflate {best['inflate']:.2f} s + DuckDB split {best['split']:.2f} s + "
              f"store write {best['write']:.2f} s = {floor:.2f} s = {floor / best['bcftools']:.2f}x bcftools")
        if args.profile:
            node = fresh_node(work / "profiled")
            profile = cProfile.Profile()
            profile.runcall(ingest, node, "g1k", "vcf", [data], assembly="GRCh37")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(18)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
