"""Genomic variant calls from VCF and BCF files: variants, calls, and the samples as biosamples.

Columnar: a (b)gzipped VCF is inflated on every core into a temporary text file (``bgzf``),
DuckDB's CSV reader splits it on every core, keeping the records a call or a check can come
from, and DuckDB does the rest in a handful of vectorised queries — split multi-allelic
records, normalise alleles, read genotypes and FORMAT fields, join the annotation. cyvcf2
(htslib) reads the header, and the records of a BCF, which it writes out as VCF text.

What a call is: a sample whose genotype carries an ALT allele, in a record that passed its
filters (FILTER ``PASS`` or ``.``, and a FORMAT ``FT`` of ``PASS`` or ``.`` where there is
one). Hom-ref and no-call genotypes are not calls. A variant is stored when a sample carries
it, or, for a VCF without samples, when the record states it.

Normalisation: a multi-allelic record gives one variant per ALT, and each call's genotype is
rewritten the way ``bcftools norm -m-`` writes it (this ALT → 1, another ALT → 0, ``.``
kept). Alleles are then trimmed to their minimal form: the shared last bases, then the shared
first bases, are removed while both alleles keep at least one base, moving the position on, so
an indel keeps one anchor base as VCF writes it. Alleles are not left-aligned, which needs the
reference genome. Chromosomes lose a ``chr`` prefix and ``M`` becomes ``MT``. Symbolic
(``<DEL>``), breakend and ``*`` alleles are not sequence variants and are skipped.

The variant id is ``assembly:chromosome:position:ref:alt`` of the normalised variant, so the
same variant in two files, or in two ingests, is one row.

Assembly: from the header (``##reference``, ``##contig=<…,assembly=…>``) or ``--assembly``;
GRCh37/hg19/b37 and GRCh38/hg38 are recognised, anything else is an error.

Annotation, where the VCF has it: SnpEff ``ANN``, VEP ``CSQ`` (fields as the header
describes them), or Complete Genomics ``CGA_FI``. Per ALT, the most severe consequence is
kept (as a Sequence Ontology term), with the gene and HGVS of the transcript it comes from.

Origin of a call (somatic / germline), first that applies: the sample sheet's ``origin``; a
normal sample's calls are germline; the record's own status (the ``SOMATIC`` flag, or ``SS``
as Complete Genomics and VarScan write it); a tumour sample with a paired normal (same
individual, same file): germline if the normal carries the allele, somatic if the normal is
called without it.

Allele fraction: FORMAT ``AF``, else VarScan's ``FREQ``, else from ``AD`` when the header
declares it per allele (``Number=R``). Depth: FORMAT ``DP``.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cyvcf2
import duckdb
import numpy as np
import pyarrow as pa

from oncofed.errors import IngestError
from oncofed.ingest import bgzf, samplesheet
from oncofed.ingest.batch import Batch, SourceFile, arrow_schema
from oncofed.ingest.reader import IngestContext, expand
from oncofed.model import vocabulary
from oncofed.model.schema import TABLES
from oncofed.store.connection import one

SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
FIXED = ("CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT")

SNV, MNV, INSERTION, DELETION, DELINS = "SO:0001483", "SO:0002007", "SO:0000667", "SO:0000159", "SO:1000032"
HEMIZYGOUS, HETEROZYGOUS, HOMOZYGOUS = "GENO:0000134", "GENO:0000135", "GENO:0000136"

# Sequence Ontology consequence terms, most severe first (the order Ensembl VEP ranks them).
CONSEQUENCES = (
    ("splice_acceptor_variant", "SO:0001574"), ("splice_donor_variant", "SO:0001575"),
    ("stop_gained", "SO:0001587"), ("frameshift_variant", "SO:0001589"), ("stop_lost", "SO:0001578"),
    ("initiator_codon_variant", "SO:0001582"), ("inframe_insertion", "SO:0001821"),
    ("inframe_deletion", "SO:0001822"), ("missense_variant", "SO:0001583"),
    ("splice_region_variant", "SO:0001630"), ("stop_retained_variant", "SO:0001567"),
    ("synonymous_variant", "SO:0001819"), ("coding_sequence_variant", "SO:0001580"),
    ("5_prime_UTR_variant", "SO:0001623"), ("3_prime_UTR_variant", "SO:0001624"),
    ("intron_variant", "SO:0001627"), ("upstream_gene_variant", "SO:0001631"),
    ("regulatory_region_variant", "SO:0001566"),
)
# Complete Genomics functional impact (CGA_FI: gene id|transcript|symbol|component|impact):
# the impact names a coding consequence, else the component says where the variant falls.
_CGA_IMPACT = {
    "MISSENSE": "missense_variant", "NONSENSE": "stop_gained", "NONSTOP": "stop_lost",
    "SYNONYMOUS": "synonymous_variant", "FRAMESHIFT": "frameshift_variant",
    "DELETE": "inframe_deletion", "INSERT": "inframe_insertion",
}
_CGA_COMPONENT = {
    "DONOR": "splice_donor_variant", "ACCEPTOR": "splice_acceptor_variant", "UTR5": "5_prime_UTR_variant",
    "UTR3": "3_prime_UTR_variant", "INTRON": "intron_variant", "TSS-UPSTREAM": "upstream_gene_variant",
}

_ASSEMBLY_NAMES = {"grch37": "GRCh37", "hg19": "GRCh37", "grch38": "GRCh38", "hg38": "GRCh38"}
_ASSEMBLY_PATTERNS = (
    ("GRCh38", re.compile(r"grch38|hg38|hs38|(?<![a-z0-9])b38(?![0-9])|build.?38|ncbi.?38", re.I)),
    ("GRCh37", re.compile(r"grch37|hg19|hs37|(?<![a-z0-9])b37(?![0-9])|build.?37|ncbi.?37|g1k_v37", re.I)),
    ("NCBI36", re.compile(r"ncbi.?36|hg18|(?<![a-z0-9])b36(?![0-9])|build.?36", re.I)),
)
_INFO_READ = {"ANN", "CSQ", "CGA_FI", "SOMATIC", "SS"}
_TUMOUR_NAMES, _NORMAL_NAMES = {"TUMOR", "TUMOUR"}, {"NORMAL"}
_BASES = "[ACGTNacgtn]+"
_ALLELE = rf"{_BASES}|\*|\.|<[^>]+>|[^,]*[\[\]][^,]*"
_GT = r"(\.|[0-9]+)([/|](\.|[0-9]+))*"
NEWLINE = ord("\n")
_CHROM_LINE = re.compile(rb"^#CHROM.*$", re.M)


def normalise_assembly(name: str) -> str:
    """GRCh37 or GRCh38 from the names users write (``--assembly hg19``)."""
    found = _ASSEMBLY_NAMES.get(name.strip().lower())
    if found is None:
        raise IngestError("unknown assembly", field="--assembly", expected="GRCh37, GRCh38, hg19 or hg38", got=name)
    return found


def trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """Minimal alleles, VCF-anchored (the rule the SQL in ``_ALLELES`` applies, for one variant)."""
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


# --- header --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    path: Path
    lines: list[str]  # the meta-information lines (##…)
    samples: list[str]
    bcf: bool

    @property
    def name(self) -> str:
        return self.path.name

    def declared(self, kind: str) -> dict[str, dict[str, str]]:
        """``##INFO``/``##FORMAT`` definitions by ID: their Number, Type and Description."""
        out = {}
        for line in self.lines:
            if line.startswith(f"##{kind}=<"):
                fields = dict(re.findall(r'([A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^,>]*)', line[len(kind) + 4:]))
                out[fields.get("ID", "")] = {k: v.strip('"') for k, v in fields.items()}
        return out

    def meta(self, key: str) -> list[str]:
        return [line.split("=", 1)[1].strip() for line in self.lines if line.startswith(f"##{key}=")]


def read_header(path: Path) -> Header:
    where = str(path)
    try:
        vcf = cyvcf2.VCF(where, lazy=True)
    except Exception as e:  # noqa: BLE001 - cyvcf2 raises plain exceptions for unreadable headers
        raise IngestError(f"not a readable VCF or BCF file: {e}", file=where, line=1,
                          expected="a VCF header (##fileformat=VCFv4.x … #CHROM line)") from None
    try:
        raw = vcf.raw_header
        samples = list(vcf.samples)
    finally:
        vcf.close()
    lines = raw.splitlines()
    if not lines or not lines[0].startswith("##fileformat=VCF"):
        raise IngestError("not a VCF file", file=where, line=1, expected="##fileformat=VCFv4.x",
                          got=lines[0][:60] if lines else "")
    dupes = {s for s in samples if samples.count(s) > 1}
    if dupes:
        raise IngestError(f"sample {sorted(dupes)[0]!r} appears twice in the #CHROM line", file=where,
                          field="#CHROM", expected="unique sample names")
    return Header(path, [line for line in lines if line.startswith("##")], samples, _is_bcf(path))


def _is_bcf(path: Path) -> bool:
    """BCF by content, whatever the file is called: its text starts with the bytes BCF."""
    with open(path, "rb") as f:
        start = f.read(1 << 16)
    if start[:2] == bgzf.MAGIC:
        start = zlib.decompressobj(31).decompress(start, 3)
    return start[:3] == b"BCF"


def assembly(header: Header, given: str | None) -> str:
    """The header's assembly, agreeing with ``--assembly`` when both are given."""
    candidates = header.meta("reference") + header.meta("assembly") + [
        d.get("assembly", "") for d in header.declared("contig").values()]
    found: dict[str, str] = {}
    for text in candidates:
        for name, pattern in _ASSEMBLY_PATTERNS:
            if text and pattern.search(text):
                found.setdefault(name, text)
                break
    where = str(header.path)
    if "NCBI36" in found:
        raise IngestError("the VCF is on NCBI36 (hg18), which oncofed does not hold", file=where,
                          field="##reference", expected="GRCh37 or GRCh38", got=found["NCBI36"])
    if len(found) > 1:
        raise IngestError("the header names two assemblies", file=where, field="##reference",
                          expected="one assembly", got=sorted(found.values()))
    stated = next(iter(found), None)
    if given is not None:
        wanted = normalise_assembly(given)
        if stated is not None and stated != wanted:
            raise IngestError(f"--assembly {given} disagrees with the header", file=where, field="##reference",
                              expected=wanted, got=found[stated])
        return wanted
    if stated is None:
        raise IngestError("the VCF does not name its assembly", file=where, field="##reference",
                          expected="a ##reference or ##contig assembly= line, or --assembly GRCh37/GRCh38")
    return stated


# --- samples -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    name: str  # as in the VCF
    individual: str  # source identifiers, pseudonymised when rows are made
    biosample: str
    tumour_normal: str | None
    origin: str | None  # from the sample sheet
    normal: int | None = None  # column index of the paired normal sample


def samples_of(header: Header, sheet: samplesheet.SampleSheet | None) -> list[Sample]:
    """Who each VCF sample is: from the sheet, else each sample its own individual; a tumour/
    normal pair that the header declares (and no sheet contradicts) is one individual."""
    tumours = {v for v in header.meta("tumor_sample") + header.meta("tumour_sample")}
    normals = set(header.meta("normal_sample"))
    for sample_line in header.meta("SAMPLE"):
        sid = re.search(r"ID=([^,>]+)", sample_line)
        if sid and sid.group(1).upper() in _TUMOUR_NAMES:
            tumours.add(sid.group(1))
        elif sid and sid.group(1).upper() in _NORMAL_NAMES:
            normals.add(sid.group(1))
    tumours |= {s for s in header.samples if s.upper() in _TUMOUR_NAMES}
    normals |= {s for s in header.samples if s.upper() in _NORMAL_NAMES}
    pair = len(tumours & set(header.samples)) == 1 and len(normals & set(header.samples)) == 1
    out = []
    for s in header.samples:
        kind = "tumour" if s in tumours else "normal" if s in normals else None
        if sheet is not None:
            row = sheet.row(header.name, s)
            if row is None:
                raise IngestError(f"sample {s!r} of {header.name} is not in the sample sheet", file=sheet.path,
                                  field="sample", expected=f"a row for every sample of {header.name}", got=s)
            out.append(Sample(s, row.individual, row.biosample, row.tumour_normal or kind, row.origin))
        else:
            individual = next(iter(tumours & set(header.samples))) if pair and kind else s
            out.append(Sample(s, individual, s, kind, None))
    return [_with_normal(s, out) for s in out]


def _with_normal(sample: Sample, samples: list[Sample]) -> Sample:
    if sample.tumour_normal != "tumour":
        return sample
    normals = [i for i, o in enumerate(samples) if o.tumour_normal == "normal" and o.individual == sample.individual]
    return dataclasses.replace(sample, normal=normals[0]) if len(normals) == 1 else sample


# --- reading -------------------------------------------------------------------------------


def read(paths: list[Path], ctx: IngestContext) -> Batch:
    files = expand(paths, SUFFIXES)
    sheet = samplesheet.load(ctx.samples) if ctx.samples else None
    headers = [read_header(f) for f in files]  # every header is checked before the long reading
    if sheet is not None:
        sheet.check_covers({h.name: h.samples for h in headers})
    plans = [(h, assembly(h, ctx.assembly), samples_of(h, sheet)) for h in headers]
    ctx.progress(total=sum(f.stat().st_size for f in files), description="reading VCF")
    try:
        variants, calls, skipped = _read_all(plans, ctx, numbered=False)
    except _Unnumbered:
        # an error must name its line: read again with the lines numbered, which it reports
        quiet = dataclasses.replace(ctx, progress=lambda **_: None)
        variants, calls, skipped = _read_all(plans, quiet, numbered=True)
    if any(skipped.values()):
        ctx.progress(description="VCF records skipped: " + ", ".join(f"{k} ×{n}" for k, n in skipped.items() if n))
    individuals, biosamples = _sample_rows([s for _, _, ss in plans for s in ss], ctx)
    tables = {"individuals": individuals, "biosamples": biosamples, "variants": variants, "calls": calls}
    codes = {c for t in (variants, calls) for name in ("variant_class", "consequence", "zygosity")
             if name in t.column_names for c in t.column(name).unique().to_pylist() if c}
    return Batch(tables, {c: vocabulary.label(c) for c in codes if vocabulary.label(c)},
                 [SourceFile.of(f) for f in files])


class _Unnumbered(Exception):
    """An error to report in a reading whose records carry no line numbers (see ``_load``)."""


def _read_all(plans: list[tuple[Header, str, list[Sample]]], ctx: IngestContext,
              numbered: bool) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    con = duckdb.connect()
    try:
        con.register("consequences", pa.table({
            "term": [t for t, _ in CONSEQUENCES], "code": [c for _, c in CONSEQUENCES],
            "severity": list(range(len(CONSEQUENCES)))}))
        skipped: dict[str, int] = {}
        variants, calls = [_placed("variants").empty_table()], [_placed("calls").empty_table()]
        for header, asm, samples in plans:
            found = _read_file(con, header, asm, samples, ctx, skipped, numbered)
            if found is not None:
                variants.append(_typed(found[0], _placed("variants")))
                calls.append(_typed(found[1], _placed("calls")))
            ctx.progress(advance=header.path.stat().st_size)
        return *_combine(con, pa.concat_tables(variants), pa.concat_tables(calls), numbered), skipped
    finally:
        con.close()


def _placed(table: str) -> pa.Schema:
    """A table's rows as read, with the file and line each came from."""
    return arrow_schema(TABLES[table]).append(pa.field("line", pa.int64())).append(pa.field("file", pa.string()))


@dataclass(frozen=True)
class Text:
    """A file's records as VCF text in a file: ``skip`` lines of header, then the records
    from byte ``start``, the first of them on line ``skip + 1``."""
    path: Path
    skip: int
    start: int


@contextmanager
def _text(header: Header) -> Iterator[Text]:
    """The records as text DuckDB can read on every core: a plain VCF as it is; a (b)gzipped
    VCF inflated into a temporary file; a BCF written out as VCF by htslib. Empty lines are
    noted on the way, since DuckDB would skip them unseen (and number the lines after wrongly)."""
    path = header.path
    with tempfile.TemporaryDirectory(prefix="oncofed-vcf-") as folder:
        text = path
        if header.bcf or bgzf.is_gzip(path):
            text = Path(folder) / "records.vcf"
            with open(text, "wb") as f:
                out = _EmptyLines(f)
                if header.bcf:
                    _write_bcf(header, out.write)
                else:
                    bgzf.inflate(path, out.write)
        else:
            out = _EmptyLines(None)
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    out.write(chunk)
        with open(text, "rb") as f:
            start = records_start(f)
        if start is None:
            raise IngestError("no #CHROM header line", file=str(path), expected="a line starting with #CHROM")
        found = Text(text, *start)
        if any(at >= found.start for at in out.found):
            raise _column_error(header, found, "an empty line")
        yield found


class _EmptyLines:
    """Writes through to ``sink`` (if any), noting where the empty lines in the text are."""

    def __init__(self, sink: BinaryIO | None):
        self.sink, self.at, self.last, self.found = sink, 0, NEWLINE, []

    def write(self, data: bytes) -> None:
        if data:
            self.found += (self.at + empty_lines(data, self.last)).tolist()
            self.at, self.last = self.at + len(data), data[-1]
        if self.sink is not None:
            self.sink.write(data)


def empty_lines(data: bytes, previous: int) -> np.ndarray:
    """Offsets in ``data`` of the newlines that end an empty line, ``previous`` being the
    byte before ``data``."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == NEWLINE)
    if not ends.size:
        return ends
    before = np.concatenate(([-1 if previous == NEWLINE else -2], ends[:-1]))
    return ends[ends - before == 1]


def records_start(text: BinaryIO) -> tuple[int, int] | None:
    """(lines, bytes) of VCF text before the first record, which follows the #CHROM line;
    None without that line."""
    head = b""
    while True:
        more = text.read(max(1 << 20, len(head)))
        head += more
        found = _CHROM_LINE.search(head)
        if found and (found.end() < len(head) or not more):
            start = min(found.end() + 1, len(head))
            return head.count(b"\n", 0, start), start
        if not more:
            return None


def _write_bcf(header: Header, write: Callable[[bytes], object]) -> None:
    vcf = cyvcf2.VCF(str(header.path))
    try:
        write(vcf.raw_header.encode())
        lines = (str(v).encode() for v in vcf)
        while batch := list(itertools.islice(lines, 1 << 14)):
            write(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in batch))
    except Exception as e:  # noqa: BLE001 - htslib errors arrive as plain exceptions
        raise IngestError(f"the BCF file is truncated or corrupt: {e}", file=str(header.path)) from None
    finally:
        vcf.close()


def _names(header: Header) -> list[str]:
    """The columns of a record, the samples named s0, s1, …"""
    return list(FIXED[:8]) + (["FORMAT"] + [f"s{i}" for i in range(len(header.samples))] if header.samples else [])


def _column_error(header: Header, text: Text, reason: str) -> IngestError:
    """The error for a body DuckDB cannot split into the header's columns, naming the first
    line with another number (an empty line has one), found by reading the text line by line."""
    where, n = str(header.path), len(_names(header))
    with open(text.path, "rb") as f:
        f.seek(text.start)
        for i, line in enumerate(f):
            columns = line.count(b"\t") + 1
            if columns != n:
                return IngestError("a record with the wrong number of columns", file=where, line=text.skip + 1 + i,
                                   expected=f"{n} tab-separated columns ({len(header.samples)} samples)",
                                   got=f"{columns} columns")
    return IngestError(f"not a readable VCF body: {reason}", file=where)


def _read_file(con: duckdb.DuckDBPyConnection, header: Header, asm: str, samples: list[Sample],
               ctx: IngestContext, skipped: dict[str, int], numbered: bool) -> tuple[pa.Table, pa.Table] | None:
    """The file's variants and calls, each with its line and file; None for a VCF without
    records (its samples are still the biosamples it names)."""
    where = str(header.path)
    with _text(header) as text:
        if not _load(con, header, text, bool(samples), numbered):
            return None
    try:
        _check_records(con, where, header.bcf, numbered)
        con.execute(_ALLELES.replace("{chromosome}", _chromosomes(con)).replace("{assembly}", asm))
        for name, sql in (("filtered records", "SELECT count(*) FROM raw WHERE FILTER NOT IN ('PASS', '.')"),
                          ("symbolic or breakend alleles", "SELECT count(*) FROM alt_alleles WHERE NOT sequence")):
            skipped[name] = skipped.get(name, 0) + one(con, sql)[0]
        _annotations(con, header)
        if samples:
            _calls(con, header, samples, ctx, numbered)
        carried = "SEMI JOIN file_calls c ON c.line = a.line AND c.k = a.k" if samples else ""
        variants = con.sql(f"""
            SELECT a.id, '{asm}' AS assembly, a.chromosome, a.position, a.ref, a.alt, n.gene, n.hgvs_g, n.hgvs_c,
                n.hgvs_p, {_VARIANT_CLASS} AS variant_class, n.consequence, a.line, ? AS file
            FROM alt_alleles a {carried} LEFT JOIN annotation n ON n.line = a.line AND n.k = a.k
            WHERE a.sequence""", params=[where]).to_arrow_table()
        if not samples:
            return variants, _placed("calls").empty_table()
        return variants, con.sql("""
            SELECT a.id AS variant_id, c.biosample_id, c.individual_id, c.genotype, c.zygosity, c.origin,
                c.allele_fraction, c.depth, c.line, ? AS file
            FROM file_calls c JOIN alt_alleles a ON a.line = c.line AND a.k = c.k WHERE a.sequence""",
                                 params=[where]).to_arrow_table()
    finally:
        con.execute("DROP VIEW raw")
        con.execute("DROP TABLE records")


def _load(con, header: Header, text: Text, with_samples: bool, numbered: bool) -> bool:
    """The records that can matter as table ``records`` (view ``raw``, by ``line``); False when
    the file has none.

    DuckDB splits the text on every core, and the records only a check or a call can come
    from are kept: a record that passed its filters, has plain alleles and a GT first in
    FORMAT, and whose samples' genotypes hold no ALT allele gives neither a variant nor a
    call (four in five records of the five-sample 1000 Genomes slice). Line numbers would
    make DuckDB's reading serial, so ``numbered=False`` keys the records by their order
    instead; an error that must name a line then raises ``_Unnumbered`` (see ``read``).
    """
    names = _names(header)
    if text.start >= text.path.stat().st_size:
        return False
    # INFO is long and read only for annotation and somatic status
    skip = {"ID", "QUAL"} | (set() if set(header.declared("INFO")) & _INFO_READ else {"INFO"})
    columns = ", ".join(f"{_literal(n)}: 'VARCHAR'" for n in names)
    source = (f"read_csv({_literal(str(text.path))}, delim='\\t', quote='', escape='', header=false, "
              f"auto_detect=false, compression='none', skip={text.skip}, max_line_size={1 << 24}, "
              f"columns={{{columns}}}, force_not_null=[{', '.join(_literal(n) for n in names)}])")
    ordinary = (f"FILTER IN ('PASS', '.') AND CHROM <> '' AND NOT contains(CHROM, ':') "
                f"AND coalesce(TRY_CAST(POS AS BIGINT) >= 1, false) AND regexp_full_match(REF, '{_BASES}') "
                f"AND regexp_full_match(ALT, '{_BASES}(,{_BASES})*')")
    if with_samples:
        gt_first = "(FORMAT = 'GT' OR starts_with(FORMAT, 'GT:'))"
        carriers = " OR ".join(f"regexp_matches(s{i}, '^[^:]*[1-9]')" for i in range(len(header.samples)))
        kept = f"NOT ({ordinary} AND {gt_first}) OR {carriers}"
    else:
        kept = "true"
    selected = ", ".join(n for n in names if n not in skip)
    line = f"ordinality + {text.skip} AS line, " if numbered else ""
    try:
        con.execute(f"CREATE TEMP TABLE records AS SELECT {line}{selected} FROM {source}"
                    f"{' WITH ORDINALITY' if numbered else ''} WHERE {kept}")
    except (duckdb.InvalidInputException, duckdb.ConversionException) as e:
        raise _column_error(header, text, str(e).splitlines()[0]) from None
    con.execute(f"CREATE TEMP VIEW raw AS SELECT {'' if numbered else 'rowid AS line, '}* FROM records")
    return True


def _first_bad(con, where: str, checks: list[tuple[str, str, str]], bcf: bool, numbered: bool,
               relation: str = "raw", got_sql: dict[str, str] | None = None) -> None:
    """One scan for several checks; the earliest bad record is reported."""
    firsts = ", ".join(f"min(CASE WHEN {sql} THEN line END)" for _, sql, _ in checks)
    found = one(con, f"SELECT {firsts} FROM {relation}")
    hits = [(line, c) for line, c in zip(found, checks) if line is not None]
    if not hits:
        return
    if not numbered:
        raise _Unnumbered
    line, (field, bad, expected) = min(hits, key=lambda h: h[0])
    got = con.execute(f"SELECT {(got_sql or {}).get(field, field)} FROM {relation} WHERE line = ? AND {bad} LIMIT 1",
                      [line]).fetchall()[0][0]
    raise IngestError(f"a malformed {field}", file=where, line=None if bcf else line,
                      record=str(line) if bcf else None, field=field.split(" ")[0], expected=expected, got=got)


def _check_records(con, where: str, bcf: bool, numbered: bool) -> None:
    _first_bad(con, where, [
        ("CHROM", "CHROM = '' OR CHROM LIKE '%:%'", "a chromosome name"),
        ("POS", "TRY_CAST(POS AS BIGINT) IS NULL OR TRY_CAST(POS AS BIGINT) < 1", "a position of 1 or more"),
        ("REF", f"NOT regexp_full_match(REF, '{_BASES}')", "bases A, C, G, T or N"),
        ("ALT", f"NOT regexp_full_match(ALT, '({_ALLELE})(,({_ALLELE}))*')",
         "bases, '.', '*', a symbolic <ID> or a breakend, separated by commas"),
    ], bcf, numbered)


# One row per ALT allele of every record that passed its filters; the normalised variant.
_ALLELES = rf"""
CREATE OR REPLACE TEMP TABLE alt_alleles AS
WITH split AS (
    SELECT line, CHROM, CAST(POS AS BIGINT) AS pos, upper(REF) AS ref, string_split(ALT, ',') AS alts
    FROM raw WHERE FILTER IN ('PASS', '.') AND ALT <> '.'
), one_alt AS (
    SELECT line, CHROM, pos, ref, unnest(alts) AS alt_raw, unnest(range(1, len(alts) + 1)) AS k
    FROM split
), seq AS (
    SELECT *, regexp_full_match(alt_raw, '{_BASES}') AS sequence, upper(alt_raw) AS alt0 FROM one_alt
), suffix AS (
    SELECT *, CASE WHEN len(ref) > 1 AND len(alt0) > 1 AND sequence THEN
        len(list_filter(range(1, least(len(ref), len(alt0))), lambda i: right(ref, i) = right(alt0, i)))
        ELSE 0 END AS s FROM seq
), cut AS (
    SELECT *, left(ref, len(ref) - s) AS ref1, left(alt0, len(alt0) - s) AS alt1 FROM suffix
), prefix AS (
    SELECT *, CASE WHEN len(ref1) > 1 AND len(alt1) > 1 THEN
        len(list_filter(range(1, least(len(ref1), len(alt1))), lambda i: left(ref1, i) = left(alt1, i)))
        ELSE 0 END AS p FROM cut
), normalised AS (
    SELECT line, k, alt_raw, sequence, {{chromosome}} AS chromosome,
           pos + p AS position, ref1[p + 1:] AS ref, alt1[p + 1:] AS alt
    FROM prefix
)
SELECT *, '{{assembly}}:' || chromosome || ':' || position || ':' || ref || ':' || alt AS id FROM normalised
"""

def chromosome(name: str) -> str:
    """The chromosome as the store names it: no ``chr`` prefix, ``M`` as ``MT``."""
    bare = name[3:] if name[:3].lower() == "chr" else name
    return "MT" if bare.upper() == "M" else bare


def _chromosomes(con) -> str:
    """SQL renaming the file's chromosomes; per distinct name, which is cheap at any size."""
    names = [r[0] for r in con.execute("SELECT DISTINCT CHROM FROM raw").fetchall()]
    renamed = {n: chromosome(n) for n in names if chromosome(n) != n}
    if not renamed:
        return "CHROM"
    return "CASE CHROM " + " ".join(f"WHEN {_literal(k)} THEN {_literal(v)}" for k, v in renamed.items()) + \
        " ELSE CHROM END"


_VARIANT_CLASS = f"""CASE
    WHEN len(a.ref) = 1 AND len(a.alt) = 1 THEN '{SNV}'
    WHEN len(a.ref) = len(a.alt) THEN '{MNV}'
    WHEN len(a.ref) = 1 AND a.alt[1] = a.ref THEN '{INSERTION}'
    WHEN len(a.alt) = 1 AND a.ref[1] = a.alt THEN '{DELETION}'
    ELSE '{DELINS}' END"""


def _annotations(con, header: Header) -> None:
    """annotation(line, k, gene, hgvs_g, hgvs_c, hgvs_p, consequence): per ALT, the most
    severe consequence and the gene and HGVS of the transcript it is on."""
    info = header.declared("INFO")
    entries = None
    for tag in ("ANN", "CSQ"):
        if tag in info:
            description = info[tag].get("Description", "")
            spec = description.split("Format:", 1)[1] if "Format:" in description else description.split(":", 1)[-1]
            fields = [f.strip(" '\"") for f in spec.split("|")]
            pos = {f: i + 1 for i, f in enumerate(fields)}

            def col(*names: str, pos=pos) -> str:
                i = next((pos[n] for n in names if n in pos), None)
                return f"nullif(f[{i}], '')" if i else "NULL"

            if "ALLELE_NUM" in pos:
                match = f"a.k = TRY_CAST({col('ALLELE_NUM')} AS INTEGER)"
            elif tag == "CSQ":
                # VEP writes an allele without the first base when every allele of the record shares it
                match = (f"{col('Allele')} = CASE WHEN list_bool_and([left(x, 1) = left(r.REF, 1) AND len(x) > 0 "
                         f"FOR x IN string_split(r.ALT, ',')]) THEN coalesce(nullif(a.alt_raw[2:], ''), '-') "
                         "ELSE a.alt_raw END")
            else:
                match = f"a.alt_raw = {col('Allele')}"
            feature = col("Feature_ID", "Feature")
            hgvs_c = col("HGVS.c", "HGVSc")
            entries = f"""
                WITH e AS (
                    SELECT line, unnest(x) AS entry, unnest(range(len(x))) AS n
                    FROM (SELECT line, string_split(regexp_extract(INFO, '(?:^|;){tag}=([^;]*)', 1), ',') AS x
                          FROM raw WHERE INFO LIKE '%{tag}=%')
                ), f AS (SELECT e.line, n, string_split(entry, '|') AS f, r.REF, r.ALT
                         FROM e JOIN raw r ON r.line = e.line)
                SELECT a.line, a.k, n, unnest(string_split({col('Annotation', 'Consequence')}, '&')) AS term,
                       {col('Gene_Name', 'SYMBOL')} AS gene, {col('HGVSg')} AS hgvs_g,
                       CASE WHEN {hgvs_c} LIKE '%:%' OR {feature} IS NULL THEN {hgvs_c}
                            ELSE {feature} || ':' || {hgvs_c} END AS hgvs_c,
                       {col('HGVS.p', 'HGVSp')} AS hgvs_p
                FROM f AS r JOIN alt_alleles a ON a.line = r.line AND {match}"""
            break
    if entries is None and "CGA_FI" in info:
        impact = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _CGA_IMPACT.items())
        component = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _CGA_COMPONENT.items())
        entries = f"""
            WITH per_alt AS (
                SELECT a.line, a.k, string_split(string_split(
                    regexp_extract(r.INFO, '(?:^|;)CGA_FI=([^;]*)', 1), ',')[a.k], '&') AS x
                FROM raw r JOIN alt_alleles a ON a.line = r.line WHERE r.INFO LIKE '%CGA_FI=%'
            ), e AS (SELECT line, k, unnest(x) AS entry, unnest(range(len(x))) AS n FROM per_alt),
            f AS (SELECT line, k, n, string_split(entry, '|') AS f FROM e)
            SELECT line, k, n, coalesce(CASE f[5] {impact} END, CASE f[4] {component} END) AS term,
                   nullif(f[3], '') AS gene, NULL AS hgvs_g, NULL AS hgvs_c, NULL AS hgvs_p
            FROM f WHERE len(f) >= 5"""
    if entries is None:
        con.execute("CREATE OR REPLACE TEMP TABLE annotation (line BIGINT, k BIGINT, gene VARCHAR, hgvs_g VARCHAR, "
                    "hgvs_c VARCHAR, hgvs_p VARCHAR, consequence VARCHAR)")
        return
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE annotation AS
        WITH t AS ({entries})
        SELECT t.line, t.k,
               arg_min(t.gene, (coalesce(c.severity, 999), t.n)) AS gene,
               arg_min(t.hgvs_g, (coalesce(c.severity, 999), t.n)) AS hgvs_g,
               arg_min(t.hgvs_c, (coalesce(c.severity, 999), t.n)) AS hgvs_c,
               arg_min(t.hgvs_p, (coalesce(c.severity, 999), t.n)) AS hgvs_p,
               arg_min(c.code, coalesce(c.severity, 999)) AS consequence
        FROM t LEFT JOIN consequences c ON c.term = t.term
        GROUP BY t.line, t.k""")


def _calls(con, header: Header, samples: list[Sample], ctx: IngestContext, numbered: bool) -> None:
    """file_calls(line, k, biosample_id, individual_id, genotype, zygosity, origin,
    allele_fraction, depth): one row per sample and ALT it carries."""
    where = str(header.path)
    fmt = header.declared("FORMAT")
    formats = [r[0] for r in con.execute("SELECT DISTINCT FORMAT FROM raw").fetchall()]
    keys = ("GT", "DP", "AD", "AF", "FREQ", "FT")
    positions = {k.lower(): [(f.split(":").index(k) + 1) if k in f.split(":") else 0 for f in formats] for k in keys}
    if len(formats) == 1:  # the usual case: every position is a constant, no join
        fmt_join, has_gt = "", "true" if positions["gt"][0] else "false"

        def field(key: str, cell: str) -> str:
            return f"split_part({cell}, ':', {positions[key][0]})" if positions[key][0] else "NULL"
    else:
        con.register("fmt", pa.table({"FORMAT": formats} | positions))
        fmt_join, has_gt = "JOIN fmt m USING (FORMAT)", "m.gt > 0"

        def field(key: str, cell: str) -> str:
            return f"CASE WHEN m.{key} > 0 THEN split_part({cell}, ':', m.{key}) END"
    ad_per_allele = fmt.get("AD", {}).get("Number") == "R"
    info = header.declared("INFO")
    status = "NULL"
    if "SOMATIC" in info or "SS" in info:
        ss = "lower(regexp_extract(INFO, '(?:^|;)SS=([^;]*)', 1))"
        status = ("CASE WHEN regexp_matches(INFO, '(^|;)SOMATIC(;|$)') THEN 'somatic' "
                  f"WHEN {ss} IN ('somatic', '2') THEN 'somatic' "
                  f"WHEN {ss} IN ('germline', 'loh', '1', '3') THEN 'germline' END")
    # what is the same for all of a sample's calls joins them at the end, by the sample's column
    con.register("file_samples", pa.table({
        "i": list(range(len(samples))),
        "biosample_id": ctx.pseudonyms.many(f"{ctx.dataset_id}/biosample", [s.biosample for s in samples]),
        "individual_id": ctx.pseudonyms.many(ctx.dataset_id, [s.individual for s in samples]),
        "sheet_origin": pa.array([s.origin for s in samples], pa.string()),
        "tumour_normal": pa.array([s.tumour_normal for s in samples], pa.string())}))
    # One row per sample of a record, its columns unnested as a list: one pass over the records
    # however many samples there are. A tumour's paired normal is found in the same list.
    cells = ", ".join(f"s{i}" for i in range(len(samples)))
    normals = "[" + ", ".join("NULL" if s.normal is None else str(s.normal + 1) for s in samples) + "]"
    normal_gt = field("gt", f"r.cells[{normals}[t.i + 1]]") if any(s.normal is not None for s in samples) else "NULL"
    cell = "r.cells[t.i + 1]"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE sample_calls AS
        SELECT * FROM (
            SELECT r.line, t.i, r.alts, {field('gt', cell)} AS gt, {field('dp', cell)} AS dp,
                   {field('ad', cell)} AS ad, {field('af', cell)} AS af, {field('freq', cell)} AS freq,
                   {field('ft', cell)} AS ft, {normal_gt} AS normal_gt, r.status
            FROM (SELECT line, ALT AS alts, FORMAT, {status} AS status, [{cells}] AS cells
                  FROM raw WHERE FILTER IN ('PASS', '.') AND ALT <> '.') r {fmt_join}
            CROSS JOIN range({len(samples)}) AS t(i)
            WHERE {has_gt})
        WHERE gt NOT IN ('0/0', '0|0', './.', '.|.', '0', '.') AND regexp_matches(gt, '[1-9]')""")
    if len(formats) > 1:
        con.unregister("fmt")
    diploid = "gt IN ('0/1', '1/0', '1/1', '0|1', '1|0', '1|1')"  # valid whatever the ALT: no parsing
    _first_bad(con, where, [
        ("GT", f"NOT ({diploid} OR regexp_full_match(gt, '{_GT}'))", "a genotype such as 0/1, 1|1 or ./1"),
        ("GT allele", f"NOT {diploid} AND list_max([TRY_CAST(x AS INTEGER) FOR x IN regexp_split_to_array(gt, "
                      "'[/|]')]) > len(string_split(alts, ','))",
         "allele numbers no larger than the number of ALT alleles"),
        ("DP", "dp NOT IN ('', '.') AND TRY_CAST(dp AS INTEGER) IS NULL", "an integer depth"),
    ], header.bcf, numbered, relation="sample_calls", got_sql={"GT allele": "gt"})
    fraction = [
        "TRY_CAST(nullif(split_part(af, ',', k), '.') AS DOUBLE)",
        "CASE WHEN NOT contains(alts, ',') THEN TRY_CAST(rtrim(freq, '%') AS DOUBLE) / 100 END",
    ]
    if ad_per_allele:
        fraction.append("""(SELECT CASE WHEN list_sum(d) > 0 THEN d[k + 1] / list_sum(d) END
                            FROM (SELECT [TRY_CAST(x AS DOUBLE) FOR x IN string_split(ad, ',')] AS d))""")

    def select(k: str, genotype: str, zygosity: str, normal_has: str, normal_called: str, relation: str) -> str:
        return f"""
            SELECT line, {k} AS k, biosample_id, individual_id, {genotype} AS genotype, {zygosity} AS zygosity,
                   CASE WHEN sheet_origin IS NOT NULL THEN sheet_origin
                        WHEN tumour_normal = 'normal' THEN 'germline'
                        WHEN status IS NOT NULL THEN status
                        WHEN {normal_has} THEN 'germline'
                        WHEN {normal_called} THEN 'somatic' END AS origin,
                   coalesce({", ".join(fraction)}) AS allele_fraction,
                   TRY_CAST(nullif(dp, '.') AS INTEGER) AS depth
            FROM {relation} JOIN file_samples USING (i)"""

    passed = "(SELECT * FROM sample_calls WHERE ft IS NULL OR ft IN ('', '.', 'PASS'))"
    # Most calls are of one ALT in a diploid genotype: read them without lists.
    simple = f"NOT contains(alts, ',') AND {diploid}"
    one_alt = select(
        "1", "gt", f"CASE WHEN gt IN ('1/1', '1|1') THEN '{HOMOZYGOUS}' ELSE '{HETEROZYGOUS}' END",
        "contains(normal_gt, '1')", "normal_gt IS NOT NULL AND NOT contains(normal_gt, '.')",
        f"(SELECT *, 1 AS k FROM {passed} WHERE {simple})")
    zygosity = (f"CASE WHEN list_contains(alleles, '.') THEN NULL WHEN len(alleles) = 1 THEN '{HEMIZYGOUS}' "
                "WHEN len(list_filter(alleles, lambda x: x = CAST(k AS VARCHAR))) = len(alleles) "
                f"THEN '{HOMOZYGOUS}' ELSE '{HETEROZYGOUS}' END")
    per_alt = f"""(
        SELECT c.*, CAST(x AS INTEGER) AS k,
               [CASE WHEN y = '.' THEN '.' WHEN y = x THEN '1' ELSE '0' END FOR y IN alleles] AS split
        FROM (SELECT *, regexp_split_to_array(gt, '[/|]') AS alleles,
                     regexp_split_to_array(normal_gt, '[/|]') AS normal_alleles
              FROM {passed} WHERE NOT ({simple})) c,
             unnest(list_distinct(list_filter(alleles, lambda x: x NOT IN ('0', '.')))) AS t(x))"""
    any_alt = select(
        "k", "CASE WHEN contains(gt, '/') THEN array_to_string(split, '/') ELSE array_to_string(split, '|') END",
        zygosity, "list_contains(normal_alleles, CAST(k AS VARCHAR))",
        "normal_alleles IS NOT NULL AND NOT list_contains(normal_alleles, '.')", per_alt)
    con.execute(f"CREATE OR REPLACE TEMP VIEW file_calls AS {one_alt} UNION ALL {any_alt}")


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _combine(con, variants: pa.Table, calls: pa.Table, numbered: bool) -> tuple[pa.Table, pa.Table]:
    """One row per variant across the files; a sample carrying one variant twice is an error."""
    cols, call_cols = TABLES["variants"].column_names, TABLES["calls"].column_names
    con.register("variants_all", variants)
    con.register("calls_all", calls)
    try:
        # Only a variant read from two records can be carried twice by one sample.
        con.execute("CREATE OR REPLACE TEMP TABLE twice AS "
                    "SELECT id FROM variants_all GROUP BY id HAVING count(*) > 1")
        if not one(con, "SELECT count(*) FROM twice")[0]:
            return variants.select(cols), calls.select(call_cols)
        dup = con.execute("""
            SELECT variant_id, list(file ORDER BY file, line)[1], list(line ORDER BY file, line)
            FROM calls_all WHERE variant_id IN (SELECT id FROM twice)
            GROUP BY variant_id, biosample_id HAVING count(*) > 1 LIMIT 1""").fetchall()
        if dup and not numbered:
            raise _Unnumbered
        if dup:
            variant, file, lines = dup[0]
            raise IngestError(f"a sample carries variant {variant} twice (lines {', '.join(map(str, lines[:6]))})",
                              file=file, line=lines[1], expected="each variant once per sample")
        firsts = ", ".join(f"min({c}) AS {c}" for c in cols[1:])
        once = f"SELECT {', '.join(cols)} FROM variants_all WHERE id NOT IN (SELECT id FROM twice)"
        merged = con.sql(f"{once} UNION ALL SELECT id, {firsts} FROM variants_all "
                         "WHERE id IN (SELECT id FROM twice) GROUP BY id").to_arrow_table()
        return _typed(merged, arrow_schema(TABLES["variants"])), calls.select(call_cols)
    finally:
        con.unregister("variants_all")
        con.unregister("calls_all")


def _typed(data: pa.Table, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_arrays([data.column(f.name).cast(f.type) for f in schema], schema=schema)


def _sample_rows(samples: list[Sample], ctx: IngestContext) -> tuple[pa.Table, pa.Table]:
    """Individuals and biosamples of the samples. Records other sources made are kept as
    they are (a clinical ingest's individual keeps its sex), the sheet adding tumour/normal."""
    stored_individuals = set(ctx.stored("individuals").column("id").to_pylist())
    stored_biosamples = {r["id"]: r for r in ctx.stored("biosamples").to_pylist()}
    individuals: dict[str, dict] = {}
    biosamples: dict[str, dict] = {}
    for s in samples:
        pid = ctx.pseudonym(s.individual)
        bid = ctx.pseudonym(s.biosample, namespace=f"{ctx.dataset_id}/biosample")
        if pid not in stored_individuals:
            individuals.setdefault(pid, {"id": pid})
        row = dict(stored_biosamples.get(bid) or {"id": bid, "individual_id": pid})
        if row["individual_id"] != pid:
            raise IngestError(f"biosample {s.biosample!r} belongs to another individual in the store",
                              field="individual_id", expected="the individual stored with this biosample",
                              got=s.individual)
        if s.tumour_normal:
            row["tumour_normal"] = s.tumour_normal
        previous = biosamples.setdefault(bid, row)
        if previous.get("tumour_normal") != row.get("tumour_normal"):
            raise IngestError(f"biosample {s.biosample!r} is both tumour and normal", field="tumour_normal",
                              expected="one designation per biosample")
    return (pa.Table.from_pylist(list(individuals.values()), schema=arrow_schema(TABLES["individuals"])),
            pa.Table.from_pylist(list(biosamples.values()), schema=arrow_schema(TABLES["biosamples"])))
