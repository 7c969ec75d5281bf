"""VCF ingest on the real files in data/vcf: HCC1187 tumour/normal (Complete Genomics) and a
1000 Genomes slice of chromosome 22; allele counts checked against bcftools; broken inputs."""

import gzip
import os
import shutil
import subprocess
from collections import Counter

import pyarrow as pa
import pytest

from conftest import DATA, sha256
from oncofed.ingest.batch import Batch, arrow_schema
from oncofed.ingest.pipeline import ingest
from oncofed.ingest.vcf import trim
from oncofed.model.schema import TABLES
from oncofed.store.connection import one

VCF = DATA / "vcf"
CHR7, H1187, CHR22, SHEET = VCF / "chr7-sub.vcf.gz", VCF / "h1187-10k.vcf.gz", VCF / "chr22.vcf.gz", VCF / "hcc1187-samples.tsv"
EGFR_SOMATIC = "GRCh37:7:55083588:C:T"  # SS=Somatic, tumour 1/0 (FT PASS), normal 0/0


def bcftools() -> str:
    """The bcftools binary; tests needing it skip without it, except under CI, which installs it."""
    found = shutil.which("bcftools")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bcftools is not installed, and CI needs it (.ci/run installs it)")
        pytest.skip("bcftools is not installed (apt-get install bcftools)")
    return found


def rows(node, sql, params=()):
    with node.store() as store:
        return store.con.execute(sql, list(params)).fetchall()


def test_hcc1187_is_one_individual_with_a_tumour_and_a_normal_biosample(node):
    result = ingest(node, "ds", "vcf", [CHR7], samples=SHEET)
    assert result.created
    assert result.counts["individuals"] == 1 and result.counts["biosamples"] == 2
    assert result.counts["variants"] == 1135 and result.counts["calls"] == 2158
    tumour = node.pseudonyms.one("ds/biosample", "HCC1187-T1")
    normal = node.pseudonyms.one("ds/biosample", "HCC1187-N1")
    assert dict(rows(node, "SELECT id, tumour_normal FROM biosamples")) == {tumour: "tumour", normal: "normal"}
    assert rows(node, "SELECT DISTINCT individual_id FROM biosamples") == [(node.pseudonyms.one("ds", "HCC1187"),)]
    assert rows(node, "SELECT DISTINCT assembly FROM variants") == [("GRCh37",)]


def test_a_known_somatic_egfr_variant_is_a_tumour_call_only(node):
    ingest(node, "ds", "vcf", [CHR7], samples=SHEET)
    assert rows(node, "SELECT chromosome, position, ref, alt, gene, variant_class, consequence FROM variants "
                      "WHERE id = ?", [EGFR_SOMATIC]) == [("7", 55083588, "C", "T", "EGFR", "SO:0001483", "SO:0001631")]
    calls = rows(node, "SELECT biosample_id, genotype, zygosity, origin, depth FROM calls WHERE variant_id = ?",
                 [EGFR_SOMATIC])
    assert calls == [(node.pseudonyms.one("ds/biosample", "HCC1187-T1"), "1/0", "GENO:0000135", "somatic", 146)]


def test_calls_of_the_normal_are_germline_and_low_quality_calls_are_left_out(node):
    ingest(node, "ds", "vcf", [CHR7], samples=SHEET)
    normal = node.pseudonyms.one("ds/biosample", "HCC1187-N1")
    assert rows(node, "SELECT DISTINCT origin FROM calls WHERE biosample_id = ?", [normal]) == [("germline",)]
    # 39 records are SS=Somatic; 12 of them have a tumour call whose FT is PASS.
    assert one_value(node, "SELECT count(*) FROM calls WHERE origin = 'somatic'") == 12
    # a somatic record whose tumour call failed its filter (FT=SQLOW) is not stored
    assert not rows(node, "SELECT 1 FROM variants WHERE id = 'GRCh37:7:55015705:A:T'")


def one_value(node, sql):
    with node.store() as store:
        return one(store.con, sql)[0]


def test_multi_allelic_records_split_into_minimal_variants(node):
    ingest(node, "ds", "vcf", [H1187], samples=SHEET)
    # 1:62231 GACACACATAC → G,GACACACAT, both samples 1|2
    got = rows(node, "SELECT v.id, v.variant_class, c.genotype FROM variants v JOIN calls c ON c.variant_id = v.id "
                     "WHERE v.chromosome = '1' AND v.position BETWEEN 62231 AND 62240 ORDER BY v.id, c.genotype")
    assert got == [("GRCh37:1:62231:GACACACATAC:G", "SO:0000159", "1|0"), ("GRCh37:1:62231:GACACACATAC:G", "SO:0000159", "1|0"),
                   ("GRCh37:1:62239:TAC:T", "SO:0000159", "0|1"), ("GRCh37:1:62239:TAC:T", "SO:0000159", "0|1")]
    # 1:57998 AG → GT,AT: normal 1|., tumour 1|2
    got = rows(node, "SELECT v.id, v.variant_class, c.genotype, c.zygosity FROM variants v JOIN calls c "
                     "ON c.variant_id = v.id WHERE v.chromosome = '1' AND v.position IN (57998, 57999) "
                     "ORDER BY v.id, c.genotype")
    assert got == [("GRCh37:1:57998:AG:GT", "SO:0002007", "1|.", None),
                   ("GRCh37:1:57998:AG:GT", "SO:0002007", "1|0", "GENO:0000135"),
                   ("GRCh37:1:57999:G:T", "SO:0001483", "0|1", "GENO:0000135")]


def test_alleles_are_trimmed_to_their_minimal_anchored_form():
    assert trim(100, "GACACACATAC", "GACACACAT") == (108, "TAC", "T")
    assert trim(100, "CA", "C") == (100, "CA", "C")
    assert trim(100, "AG", "AT") == (101, "G", "T")
    assert trim(100, "ACT", "ACTT") == (101, "C", "CT")
    assert trim(100, "GAC", "TAT") == (100, "GAC", "TAT")


def test_without_a_sheet_each_sample_is_an_individual_under_a_pseudonym(node):
    result = ingest(node, "ds", "vcf", [CHR22], assembly="hg19")
    assert result.counts["individuals"] == 5 and result.counts["biosamples"] == 5
    assert result.counts["variants"] == 2274 and result.counts["calls"] == 5145
    ids = {r[0] for r in rows(node, "SELECT id FROM individuals")}
    assert ids == {node.pseudonyms.one("ds", s) for s in ("HG00096", "HG00097", "HG00099", "HG00100", "HG00101")}
    stored = " ".join(str(r) for r in rows(node, "SELECT * FROM calls") + rows(node, "SELECT * FROM biosamples"))
    assert "HG00096" not in stored
    assert rows(node, "SELECT DISTINCT origin FROM calls") == [(None,)]


def _bcftools_allele_counts(path):
    """(chrom, pos, ref, alt) → AC, as bcftools computes it from the genotypes, split per ALT
    and trimmed the way the reader trims."""
    tool = bcftools()
    fill = subprocess.run([tool, "+fill-tags", str(path), "-Ou", "--", "-t", "AC"], capture_output=True, check=True)
    split = subprocess.run([tool, "norm", "-m-", "-Ou"], input=fill.stdout, capture_output=True, check=True)
    query = subprocess.run([tool, "query", "-f", r"%CHROM\t%POS\t%REF\t%ALT\t%AC\n"], input=split.stdout,
                           capture_output=True, check=True)
    counts = {}
    for line in query.stdout.decode().splitlines():
        chrom, pos, ref, alt, ac = line.split("\t")
        if int(ac) and not alt.startswith("<"):
            counts[(chrom, *trim(int(pos), ref, alt))] = int(ac)
    return counts


def test_allele_counts_from_the_stored_calls_equal_bcftools(node):
    expected = _bcftools_allele_counts(CHR22)
    ingest(node, "ds", "vcf", [CHR22], assembly="GRCh37")
    got = rows(node, "SELECT v.chromosome, v.position, v.ref, v.alt, "
                     "sum(len(regexp_extract_all(c.genotype, '1'))) FROM variants v "
                     "JOIN calls c ON c.variant_id = v.id GROUP BY ALL")
    assert {(c, p, r, a): int(n) for c, p, r, a, n in got} == expected
    assert len(expected) == 2274


def test_a_bcf_and_a_plain_vcf_read_like_the_bgzipped_vcf(node, tmp_path):
    tool = bcftools()
    bcf, plain = tmp_path / "chr7.bcf", tmp_path / "chr7.vcf"
    subprocess.run([tool, "view", "--no-version", "-Ob", "-o", str(bcf), str(CHR7)], check=True, capture_output=True)
    plain.write_bytes(gzip.decompress(CHR7.read_bytes()))
    with node.store() as store:
        store.add_dataset("b", "BCF")
        store.add_dataset("p", "plain")
    first = ingest(node, "ds", "vcf", [CHR7], samples=SHEET)
    from_bcf = ingest(node, "b", "vcf", [bcf], samples=SHEET)
    from_plain = ingest(node, "p", "vcf", [plain], samples=SHEET)
    assert first.counts == from_bcf.counts == from_plain.counts
    queries = ["SELECT id, gene, consequence FROM variants WHERE dataset_id = ? ORDER BY id",
               "SELECT variant_id, genotype, origin, depth FROM calls WHERE dataset_id = ? ORDER BY ALL"]
    for sql in queries:
        assert rows(node, sql, ["ds"]) == rows(node, sql, ["b"]) == rows(node, sql, ["p"])


def test_reingesting_creates_no_new_version(node):
    ingest(node, "ds", "vcf", [CHR7, H1187], samples=SHEET)
    before = sha256(node.store_path)
    again = ingest(node, "ds", "vcf", [CHR7, H1187], samples=SHEET)
    assert not again.created and again.version == 1
    assert sha256(node.store_path) == before


def test_a_variant_in_two_files_is_one_row(node, tmp_path):
    other = tmp_path / "again.vcf.gz"
    shutil.copy(CHR22, other)
    sheet = tmp_path / "s.tsv"
    sheet.write_text("sample\tindividual_id\tbiosample_id\tfile\n" + "".join(
        f"{s}\t{s}\t{s}-{f}\t{f}\n" for s in ("HG00096", "HG00097", "HG00099", "HG00100", "HG00101")
        for f in ("chr22.vcf.gz", "again.vcf.gz")))
    result = ingest(node, "ds", "vcf", [CHR22, other], samples=sheet, assembly="GRCh37")
    assert result.counts["variants"] == 2274 and result.counts["calls"] == 2 * 5145
    assert result.counts["individuals"] == 5 and result.counts["biosamples"] == 10


def test_a_sample_of_a_clinical_record_keeps_that_record(node):
    individual = node.pseudonyms.one("ds", "HCC1187")
    person = pa.Table.from_pylist([{"id": individual, "sex": "NCIT:C16576", "country": "US"}],
                                  schema=arrow_schema(TABLES["individuals"]))
    with node.store() as store:
        store.write("ds", Batch({"individuals": person}), format="test")
    ingest(node, "ds", "vcf", [CHR7], samples=SHEET)
    assert rows(node, "SELECT id, sex, country FROM individuals") == [(individual, "NCIT:C16576", "US")]


def _annotated(tmp_path, tag: str, header: str, value: str):
    """chr7-sub.vcf.gz with one annotation field added to the EGFR somatic record."""
    lines = gzip.decompress(CHR7.read_bytes()).decode().splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith("#CHROM"):
            out.append(header + "\n")
        if line.startswith("7\t55083588\t"):
            cols = line.split("\t")
            cols[7] += f";{tag}={value}"
            line = "\t".join(cols)
        out.append(line)
    path = tmp_path / f"{tag}.vcf"
    path.write_text("".join(out))
    return path


def test_snpeff_ann_gives_the_most_severe_consequence_gene_and_hgvs(node, tmp_path):
    header = ('##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: \'Allele | Annotation | '
              'Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | Transcript_BioType | Rank | '
              'HGVS.c | HGVS.p | cDNA.pos / cDNA.length | CDS.pos / CDS.length | AA.pos / AA.length | Distance | '
              'ERRORS / WARNINGS / INFO\'">')
    value = ("T|upstream_gene_variant|MODIFIER|EGFR|ENSG00000146648|transcript|ENST00000450046|protein_coding||"
             "c.-100C>T|||||100|,T|missense_variant&splice_region_variant|MODERATE|EGFR|ENSG00000146648|transcript|"
             "ENST00000275493|protein_coding|3/28|c.323C>T|p.Thr108Met|500/9821|323/3633|108/1210||")
    ingest(node, "ds", "vcf", [_annotated(tmp_path, "ANN", header, value)], samples=SHEET)
    assert rows(node, "SELECT gene, consequence, hgvs_c, hgvs_p FROM variants WHERE id = ?", [EGFR_SOMATIC]) == [
        ("EGFR", "SO:0001583", "ENST00000275493:c.323C>T", "p.Thr108Met")]
    assert rows(node, "SELECT label FROM terms WHERE id = 'SO:0001583'") == [("missense variant",)]


def test_vep_csq_is_read_by_its_header_format(node, tmp_path):
    header = ('##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl VEP. '
              'Format: Allele|Consequence|IMPACT|SYMBOL|Gene|Feature_type|Feature|BIOTYPE|HGVSc|HGVSp|HGVSg">')
    value = ("T|synonymous_variant|LOW|EGFR|ENSG00000146648|Transcript|ENST00000275493|protein_coding|"
             "ENST00000275493.2:c.324C>T|ENSP00000275493.2:p.Thr108%3D|7:g.55083588C>T")
    ingest(node, "ds", "vcf", [_annotated(tmp_path, "CSQ", header, value)], samples=SHEET)
    assert rows(node, "SELECT gene, consequence, hgvs_c, hgvs_g FROM variants WHERE id = ?", [EGFR_SOMATIC]) == [
        ("EGFR", "SO:0001819", "ENST00000275493.2:c.324C>T", "7:g.55083588C>T")]


# --- broken input ------------------------------------------------------------------------------


def _lines_replaced(tmp_path, old: str, new: str, name="bad.vcf"):
    text = gzip.decompress(CHR7.read_bytes()).decode()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def _chr22_replaced(tmp_path, old: str, new: str, count: int = 1):
    text = gzip.decompress(CHR22.read_bytes()).decode()
    assert old in text
    path = tmp_path / "bad.vcf"
    path.write_text(text.replace(old, new, count))
    return path


def _chr22_record_twice(tmp_path):
    text = gzip.decompress(CHR22.read_bytes()).decode()
    record = next(line for line in text.splitlines(keepends=True) if line.startswith("22\t50310046\t"))
    path = tmp_path / "twice.vcf"
    path.write_text(text.replace(record, record + record))
    return path


def _truncated(tmp_path):
    path = tmp_path / "cut.vcf.gz"
    path.write_bytes(CHR7.read_bytes()[:60_000])
    return path


def _block_boundary_cut(tmp_path):
    data = CHR7.read_bytes()
    path = tmp_path / "cut.vcf.gz"
    path.write_bytes(data[:-28])  # without the BGZF end-of-file block
    return path


def _sheet(tmp_path, text):
    path = tmp_path / "sheet.tsv"
    path.write_text(text)
    return path


N1, T1 = "HCC1187-H-200-37-ASM-N1", "HCC1187-H-200-37-ASM-T1"
BROKEN = {
    # name: (make the VCF, extra CLI arguments, fragments the message must hold)
    "truncated bgzip": (_truncated, [], ["cut.vcf.gz", "truncated", "BGZF block"]),
    "no end-of-file block": (_block_boundary_cut, [], ["cut.vcf.gz", "truncated", "end-of-file"]),
    "bad position": (lambda t: _lines_replaced(t, "\n7\t55083588\t", "\n7\t55O83588\t"), [],
                     ["bad.vcf", "line 248", "field 'POS'", "a position of 1 or more", "got '55O83588'"]),
    "bad ref": (lambda t: _lines_replaced(t, "\n7\t55083588\t.\tC\t", "\n7\t55083588\t.\tX\t"), [],
                ["line 248", "field 'REF'", "bases A, C, G, T or N", "got 'X'"]),
    "bad genotype": (lambda t: _lines_replaced(t, ":5:146:PASS:372:1/0:", ":5:146:PASS:372:1/x:"), [],
                     ["line 248", "field 'GT'", "a genotype such as 0/1", "got '1/x'"]),
    "allele beyond ALT": (lambda t: _lines_replaced(t, ":5:146:PASS:372:1/0:", ":5:146:PASS:372:3/0:"), [],
                          ["line 248", "field 'GT'", "no larger than the number of ALT", "got '3/0'"]),
    # line 223 has two calls, 1|0 and 1|0
    "bad genotype beside a good call": (
        lambda t: _chr22_replaced(t, "1|0:1.000:-4.70,-0.67,-0.10", "1/x:1.000:-4.70,-0.67,-0.10"),
        ["--assembly", "GRCh37"], ["line 223", "field 'GT'", "got '1/x'"]),
    "a sample carrying a variant twice": (_chr22_record_twice, ["--assembly", "GRCh37"],
                                          ["twice.vcf", "line 224", "GRCh37:22:50310046:", "twice (lines 223, 224)"]),
    "empty line": (lambda t: _chr22_replaced(t, "\n22\t50310046\t", "\n\n22\t50310046\t"), ["--assembly", "GRCh37"],
                   ["line 223", "wrong number of columns", "expected 14", "1 columns"]),
    "missing column": (lambda t: _lines_replaced(t, "\t.\t.\tCGA_WINEND=55002000;NS=2\t", "\t.\tCGA_WINEND=55002000;NS=2\t"),
                       [], ["bad.vcf", "line 61", "wrong number of columns", "expected 11", "10 columns"]),
    "sheet sample not in the VCF": (
        lambda t: CHR7, ["--samples", lambda t: _sheet(t, f"sample\tindividual_id\n{N1}\tP\n{T1}\tP\nHCC1187-T2\tP\n")],
        ["sheet.tsv", "line 4", "sample 'HCC1187-T2' is not in any of the VCF files", N1]),
    "VCF sample not in the sheet": (
        lambda t: CHR7, ["--samples", lambda t: _sheet(t, f"sample\tindividual_id\n{N1}\tP\n")],
        [f"sample '{T1}' of chr7-sub.vcf.gz is not in the sample sheet"]),
    "bad sheet value": (
        lambda t: CHR7, ["--samples", lambda t: _sheet(t, f"sample\tindividual_id\ttumour_normal\n{N1}\tP\tblood\n")],
        ["sheet.tsv", "line 2", "field 'tumour_normal'", "tumour, tumor or normal", "got 'blood'"]),
    "assembly not stated": (lambda t: CHR22, [], ["chr22.vcf.gz", "does not name its assembly", "--assembly"]),
    "unknown --assembly": (lambda t: CHR22, ["--assembly", "hg17"], ["field '--assembly'", "GRCh37, GRCh38", "got 'hg17'"]),
    "NCBI36": (lambda t: VCF / "ex2.vcf", [], ["ex2.vcf", "NCBI36", "expected GRCh37 or GRCh38"]),
    "assembly disagrees": (lambda t: CHR7, ["--assembly", "GRCh38"], ["chr7-sub.vcf.gz", "disagrees", "build37.fa"]),
    "missing file": (lambda t: t / "nope.vcf.gz", [], ["nope.vcf.gz", "no such file"]),
    "not a VCF": (lambda t: _sheet(t, "just text\n").rename(t / "x.vcf") and t / "x.vcf", [],
                  ["x.vcf", "VCF"]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_input_is_refused_with_where_and_what_and_leaves_the_store_alone(node, tmp_path, cli, case):
    make, extra, fragments = BROKEN[case]
    assert ingest(node, "ds", "vcf", [H1187], samples=SHEET).created
    path = make(tmp_path)
    extra = [e(tmp_path) if callable(e) else e for e in extra]
    before = sha256(node.store_path)
    result = cli("node", "ingest", node.path, path, "--dataset", "ds", "--format", "vcf", *extra, ok=False)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert sha256(node.store_path) == before


def test_the_cli_ingests_a_tumour_normal_pair_with_a_sample_sheet(node, cli):
    args = ["node", "ingest", node.path, CHR7, H1187, "--dataset", "ds", "--format", "vcf", "--samples", SHEET]
    out = " ".join(cli(*args).output.split())
    assert "version 1" in out and "2 biosamples" in out and "calls" in out
    assert "unchanged" in cli(*args).output
    counts = Counter(dict(rows(node, "SELECT origin, count(*) FROM calls GROUP BY origin")))
    assert counts["somatic"] == 13



def test_allele_fraction_comes_from_format_af_or_per_allele_depths(node, tmp_path):
    """The real files carry neither (Complete Genomics' AD is per haplotype, Number=2): two
    records of chr22 given AD (Number=R) and AF here."""
    header = [line for line in gzip.decompress(CHR22.read_bytes()).decode().splitlines() if line.startswith("#")]
    header[1:1] = ['##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
                   '##FORMAT=<ID=AF,Number=A,Type=Float,Description="Allele fractions">',
                   '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">']
    records = ["22\t50300078\trs7410291\tA\tG\t100\tPASS\t.\tGT:AD:DP\t0|1:6,4:10\t0|0:9,0:9\t1|1:0,7:7\t0|0:5,0:5\t0|0:8,0:8",
               "22\t50300086\trs147922003\tC\tT,G\t100\tPASS\t.\tGT:AF:DP\t1|2:0.25,0.5:8\t0|0:0,0:9\t0|0:0,0:7\t0|0:0,0:5\t0|0:0,0:8"]
    path = tmp_path / "af.vcf"
    path.write_text("\n".join(header + records) + "\n")
    ingest(node, "ds", "vcf", [path], assembly="GRCh37")
    got = rows(node, "SELECT variant_id, genotype, allele_fraction, depth FROM calls ORDER BY ALL")
    assert got == [("GRCh37:22:50300078:A:G", "0|1", 0.4, 10), ("GRCh37:22:50300078:A:G", "1|1", 1.0, 7),
                   ("GRCh37:22:50300086:C:G", "0|1", 0.5, 8), ("GRCh37:22:50300086:C:T", "1|0", 0.25, 8)]
