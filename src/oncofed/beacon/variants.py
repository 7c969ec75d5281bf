"""The ``g_variant`` request parameters as criteria on the store's ``variants`` (alias ``v``),
and the names and coordinates both sides of that translation use.

The store keeps variants as VCF states them: ``position`` is 1-based and indels carry VCF's
padding base (``POS=100 REF=AT ALT=A``). Beacon counts from 0 and its intervals are
half-open, so a stored variant spans ``[position - 1, position - 1 + length(ref))``:

- sequence query (``start``, ``referenceBases``, ``alternateBases``): the variant starting at
  ``start`` with those alleles, ``position = start + 1``. Beacon's trimmed indels (an empty
  or ``-`` allele, padding base left out) match the padded record one base earlier;
- range query (``start``, ``end``): every variant overlapping ``[start, end)``;
- bracket query (``start=[s0, s1]``, ``end=[e0, e1]``): variants starting in ``[s0, s1)`` and
  ending in ``[e0, e1)`` — half-open like every Beacon interval, so ``s1 = s0 + 1`` is the
  precise match the specification describes;
- ``N`` in queried bases matches any one base.

Every query bounds ``position`` by plain comparisons, so DuckDB skips the row groups outside
the region (VCF ingest stores variants in position order).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import BASES, VariantParameters
from oncofed.beacon.selection import Criterion, criterion
from oncofed.model import vocabulary

# Assemblies by their common names; RefSeq assembly accessions are matched by number.
GRCH37, GRCH38 = "GRCh37", "GRCh38"
_ASSEMBLY_NAMES = {"grch37": GRCH37, "hg19": GRCH37, "b37": GRCH37, "hs37d5": GRCH37,
                   "grch38": GRCH38, "hg38": GRCH38}
_GCF = {GRCH37: range(13, 26), GRCH38: range(26, 41)}  # GCF_000001405.<n>
_PATCHES = range(1, 15)

# RefSeq accessions of the assembled chromosomes (NCBI assembly reports).
_REFSEQ = {
    GRCH37: ("NC_000001.10 NC_000002.11 NC_000003.11 NC_000004.11 NC_000005.9 NC_000006.11 NC_000007.13 "
             "NC_000008.10 NC_000009.11 NC_000010.10 NC_000011.9 NC_000012.11 NC_000013.10 NC_000014.8 "
             "NC_000015.9 NC_000016.9 NC_000017.10 NC_000018.9 NC_000019.9 NC_000020.10 NC_000021.8 "
             "NC_000022.10 NC_000023.10 NC_000024.9"),
    GRCH38: ("NC_000001.11 NC_000002.12 NC_000003.12 NC_000004.12 NC_000005.10 NC_000006.12 NC_000007.14 "
             "NC_000008.11 NC_000009.12 NC_000010.11 NC_000011.10 NC_000012.12 NC_000013.11 NC_000014.9 "
             "NC_000015.10 NC_000016.10 NC_000017.11 NC_000018.10 NC_000019.10 NC_000020.11 NC_000021.9 "
             "NC_000022.11 NC_000023.11 NC_000024.10 NC_012920.1"),
}
CHROMOSOMES = tuple(str(n) for n in range(1, 23)) + ("X", "Y", "MT")
REFSEQ: dict[tuple[str, str], str] = {
    (assembly, chromosome): accession
    for assembly, text in _REFSEQ.items()
    for chromosome, accession in zip(CHROMOSOMES, text.split())
}
_BY_ACCESSION = {accession: key for key, accession in REFSEQ.items()}

# variantType → a condition on the alleles of v; sequence types need literal alleles (not a
# symbolic <DEL> or a breakend such as G]17:198982]).
_LITERAL = "regexp_full_match(v.alt, '[ACGTUNRYSWKMBDHV]*')"
_TYPES: dict[str, str] = {
    "SNP": "length(v.ref) = 1 AND length(v.alt) = 1",
    "MNP": f"length(v.ref) = length(v.alt) AND length(v.ref) > 1 AND {_LITERAL}",
    "INDEL": f"length(v.ref) <> length(v.alt) AND {_LITERAL}",
    "DEL": f"(length(v.ref) > length(v.alt) AND {_LITERAL} OR v.alt = '<DEL>')",
    "INS": f"(length(v.ref) < length(v.alt) AND {_LITERAL} OR v.alt = '<INS>')",
    "DUP": "v.alt LIKE '<DUP%'",
    "CNV": "(v.alt LIKE '<DUP%' OR v.alt IN ('<DEL>', '<CNV>'))",
    "BND": r"regexp_matches(v.alt, '[\[\]]')",
}
_TYPES["SNV"] = _TYPES["SNP"]
# A variant's length in bases: the substituted bases, or the inserted or deleted ones.
LENGTH = "CASE WHEN length(v.ref) = length(v.alt) THEN length(v.ref) ELSE abs(length(v.ref) - length(v.alt)) END"

_AMINO = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G",
          "His": "H", "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S",
          "Thr": "T", "Trp": "W", "Tyr": "Y", "Val": "V", "Sec": "U", "Pyl": "O", "Ter": "*"}
_ONE = {one: three for three, one in _AMINO.items()}
_AA = "|".join([*_AMINO, *(re.escape(o) for o in _ONE)])
_CHANGE = re.compile(rf"(?:p\.)?\(?({_AA})(\d+)({_AA}|=|fs)\)?")


def canonical_assembly(name: str) -> str | None:
    """GRCh37 or GRCh38 for any of their names ("hg19", "GRCh38.p13", "GCF_000001405.39")."""
    text = name.strip().lower()
    if text in _ASSEMBLY_NAMES:
        return _ASSEMBLY_NAMES[text]
    base, _, patch = text.partition(".p")
    if base in _ASSEMBLY_NAMES and patch.isdigit():
        return _ASSEMBLY_NAMES[base]
    m = re.fullmatch(r"gc[af]_000001405\.(\d+)", text)
    if m:
        return next((a for a, numbers in _GCF.items() if int(m[1]) in numbers), None)
    return None


def assembly_names(name: str) -> list[str]:
    """Every lower-case name the store may use for this assembly."""
    canonical = canonical_assembly(name)
    if canonical is None:
        return [name.strip().lower()]
    names = [n for n, a in _ASSEMBLY_NAMES.items() if a == canonical]
    names += [f"{canonical.lower()}.p{p}" for p in _PATCHES]
    names += [f"gc{k}_000001405.{n}" for k in "af" for n in _GCF[canonical]]
    return names


def canonical_chromosome(name: str) -> tuple[str, str | None]:
    """(chromosome, assembly or None) of a reference name: ``7``, ``chr7``, ``NC_000007.14``,
    ``refseq:NC_000007.14`` (an accession also names its assembly)."""
    text = name.strip().removeprefix("refseq:")
    if text in _BY_ACCESSION:
        assembly, chromosome = _BY_ACCESSION[text]
        return chromosome, assembly
    text = re.sub(r"^chr", "", text, flags=re.IGNORECASE)
    upper = text.upper()
    if upper in ("M", "MT"):
        return "MT", None
    if upper in ("X", "Y"):
        return upper, None
    return text, None


def chromosome_names(chromosome: str) -> list[str]:
    """The names a VCF may give this chromosome (with and without ``chr``)."""
    if chromosome == "MT":
        return ["MT", "M", "chrM", "chrMT"]
    return [chromosome, f"chr{chromosome}"]


def sequence_id(assembly: str, chromosome: str) -> str:
    """The reference sequence of a stored variant as a CURIE: its RefSeq accession where this
    module knows it, else ``<assembly>:<chromosome>``."""
    canonical = canonical_assembly(assembly)
    chrom, _ = canonical_chromosome(chromosome)
    accession = REFSEQ.get((canonical, chrom)) if canonical else None
    return f"refseq:{accession}" if accession else f"{assembly}:{chromosome}"


def plain_alleles(ref: str, alt: str) -> bool:
    """Both alleles are literal bases (not a symbolic ``<DEL>`` or a breakend)."""
    return bool(BASES.fullmatch(ref) and BASES.fullmatch(alt))


def variant_type(ref: str, alt: str) -> str:
    """The Beacon variantType of a stored variant (the Python twin of ``_TYPES``)."""
    if "[" in alt or "]" in alt:
        return "BND"
    if alt.startswith("<"):
        return alt.strip("<>").split(":")[0]
    if len(ref) == len(alt):
        return "SNP" if len(ref) == 1 else "MNP"
    return "DEL" if len(ref) > len(alt) else "INS"


def amino_acid_change(text: str) -> tuple[str, str, str] | None:
    """(from, position, to) of a protein change in one- or three-letter form (``L858R``,
    ``p.Leu858Arg``, ``p.(Leu858Arg)``), each amino acid in three-letter form."""
    m = _CHANGE.fullmatch(text.strip())
    if not m:
        return None
    first, position, last = m.groups()
    return _ONE.get(first, first), position, _ONE.get(last, last)


def criteria(p: VariantParameters, ref_span: Callable[[], int]) -> list[Criterion]:
    """The parameters as criteria on variants. ``ref_span`` gives the longest reference
    allele stored (asked only for range queries, to bound the positions to read)."""
    out: list[Criterion] = []
    assembly = p.assemblyId
    if p.referenceName is not None:
        chromosome, named = canonical_chromosome(p.referenceName)
        if named and assembly and canonical_assembly(assembly) not in (None, named):
            raise BeaconError(f"referenceName: {p.referenceName} is a {named} sequence, "
                              f"but assemblyId is {assembly}")
        assembly = assembly or named
        names = chromosome_names(chromosome)
        out.append(criterion("variant", f"v.chromosome IN ({', '.join('?' for _ in names)})", *names))
    if assembly is not None:
        # list_position, not list_contains: DuckDB turns list_contains of a parameter into a
        # hash join built for every query (0.4 ms); this stays a filter on the rows the
        # position bounds leave
        out.append(criterion("variant", "list_position(?, lower(v.assembly)) IS NOT NULL",
                             assembly_names(assembly)))
    if p.start is not None:
        out += _positions(p, ref_span)
    elif p.referenceBases is not None or p.alternateBases is not None:
        out += [_allele(column, bases) for column, bases in (("ref", p.referenceBases), ("alt", p.alternateBases))
                if bases is not None]
    if p.variantType is not None:
        out.append(_variant_type(p.variantType))
    if p.variantMinLength is not None:
        out.append(criterion("variant", f"{LENGTH} >= ?", p.variantMinLength))
    if p.variantMaxLength is not None:
        out.append(criterion("variant", f"{LENGTH} <= ?", p.variantMaxLength))
    if p.geneId is not None:
        out.append(criterion("variant", "v.gene = ?", p.geneId))
    if p.aminoacidChange is not None:
        out.append(_protein_change(p.aminoacidChange))
    if p.genomicAlleleShortForm is not None:
        out.append(criterion("variant", "(v.hgvs_g = ? OR v.hgvs_c = ?)", *[p.genomicAlleleShortForm] * 2))
    if p.mateName is not None:
        mate, _ = canonical_chromosome(p.mateName)
        # a breakend's ALT names its mate: G]17:198982] or [chr17:198982[A
        out.append(criterion("variant", "regexp_matches(v.alt, ?)",
                             rf"[\[\]](chr)?{re.escape(mate)}:\d+[\[\]]"))
    return out


def _empty(bases: str | None) -> bool:
    return bases in ("", "-", ".")


def _allele(column: str, bases: str) -> Criterion:
    if "N" in bases:
        return criterion("variant", f"v.{column} LIKE ?", bases.replace("N", "_"))
    return criterion("variant", f"v.{column} = ?", bases)


def _positions(p: VariantParameters, ref_span: Callable[[], int]) -> list[Criterion]:
    start, end = p.start, p.end
    if end is None:  # sequence query
        ref, alt = p.referenceBases, p.alternateBases
        if _empty(ref) or _empty(alt):  # trimmed indel: the padded record starts one base earlier
            inserted = _empty(ref)
            kept, changed = ("ref", "alt") if inserted else ("alt", "ref")
            bases = alt if inserted else ref
            op, value = ("LIKE", bases.replace("N", "_")) if "N" in bases else ("=", bases)
            return [criterion("variant", "v.position = ?", start[0]),
                    criterion("variant", f"length(v.{kept}) = 1 AND v.{changed} {op} v.{kept} || ?", value)]
        return [criterion("variant", "v.position = ?", start[0] + 1),
                *(_allele(c, b) for c, b in (("ref", ref), ("alt", alt)) if b is not None)]
    if len(start) == 1:  # range query: overlaps [start, end)
        out = [criterion("variant", "v.position BETWEEN ? AND ?", max(1, start[0] + 2 - ref_span()), end[0]),
               criterion("variant", "v.position - 1 + length(v.ref) > ?", start[0])]
    else:  # bracket query
        out = [criterion("variant", "v.position BETWEEN ? AND ?", start[0] + 1, start[1]),
               criterion("variant", "v.position - 1 + length(v.ref) >= ? AND v.position - 1 + length(v.ref) < ?",
                         end[0], end[1])]
    return out + [_allele(c, b) for c, b in (("ref", p.referenceBases), ("alt", p.alternateBases))
                  if b is not None and not _empty(b)]


def _variant_type(name: str) -> Criterion:
    if name.upper() in _TYPES:
        return criterion("variant", _TYPES[name.upper()])
    if ":" in name:  # an ontology term (SO, EFO, VCF): the stored class, or below it
        return criterion("variant", "list_contains(?, v.variant_class)", sorted(vocabulary.descendants(name)))
    raise BeaconError(f"variantType: unknown type {name!r}; expected one of {', '.join(sorted(_TYPES))} "
                      "or an ontology term (such as SO:0001483)")


def _protein_change(text: str) -> Criterion:
    change = amino_acid_change(text)
    if change is None:  # some other HGVS protein description: compare it as written
        bare = text.strip().removeprefix("p.")
        return criterion("variant", "(v.hgvs_p = ? OR regexp_matches(v.hgvs_p, ?))", text.strip(),
                         rf"(^|[:;,|\s])p\.\(?{re.escape(bare)}\)?($|[;,|\s])")
    first, position, last = change

    def either(three: str) -> str:
        one = _AMINO.get(three)
        return f"(?:{re.escape(three)}|{re.escape(one)})" if one else re.escape(three)

    pattern = rf"(^|[:;,|\s])p\.\(?{either(first)}{position}{either(last)}\)?($|[;,|\s])"
    return criterion("variant", "regexp_matches(v.hgvs_p, ?)", pattern)
