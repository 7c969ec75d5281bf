"""VCF ingest throughput: records per second for a ~1,000,000-record bgzipped VCF, against
`bcftools query` on the same file in the same run.

The input is GENERATED: the real 1000 Genomes chromosome 22 slice (data/vcf/chr22.vcf.gz,
10,376 records, 5 samples) tiled along chromosome 22 — copy k shifted by k × 701 kb (END= too),
97 copies, 1,006,472 records; past copy 73 the positions run beyond the real chromosome's
length, which the file does not declare. It is written to a temporary folder, bgzipped by
bcftools, and deleted afterwards.

Baseline: Debian's `bcftools query -f '%CHROM\\t%POS\\t%REF\\t%ALT\\n'` — the floor of
decompressing and parsing the file. Goal: ingest into the node store in ≤ 2 × that time.

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

from oncofed.ingest import vcf
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
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {version}")

        def query() -> None:
            subprocess.run([bcftools, "query", "-f", QUERY, str(data)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        base = min(timed(query) for _ in range(args.repeat))
        read_times, ingest_times = [], []
        for i in range(args.repeat):
            node = home.init(work / f"node{i}", "bench", "GB")
            with node.store() as store:
                store.add_dataset("g1k", "1000 Genomes chr22 (generated tiling)")
            ctx = IngestContext("g1k", node.pseudonyms, assembly="GRCh37")
            read_times.append(timed(lambda: vcf.read([data], ctx)))
            result = None

            def run() -> None:
                nonlocal result
                result = ingest(node, "g1k", "vcf", [data], assembly="GRCh37")

            ingest_times.append(timed(run))
            shutil.rmtree(work / f"node{i}")
        best, read = min(ingest_times), min(read_times)
        print(f"bcftools query: {base:.2f} s best of {args.repeat} -> {records / base:,.0f} records/s")
        print(f"oncofed read (VCF -> batch, no store): {read:.2f} s -> {records / read:,.0f} records/s")
        print(f"oncofed ingest (into the node store, committed): {best:.2f} s best of {args.repeat} -> "
              f"{records / best:,.0f} records/s; {result.counts['variants']:,} variants, "
              f"{result.counts['calls']:,} calls")
        ratio = best / base
        print(f"ingest / bcftools = {ratio:.1f}x; goal <= 2x: {'met' if ratio <= 2 else 'NOT met'}")
        if args.profile:
            node = home.init(work / "profiled", "bench", "GB")
            with node.store() as store:
                store.add_dataset("g1k", "profile")
            profile = cProfile.Profile()
            profile.runcall(ingest, node, "g1k", "vcf", [data], assembly="GRCh37")
            pstats.Stats(profile).sort_stats("cumulative").print_stats(18)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
