"""Variant request parameters on the store: Beacon's 0-based half-open coordinates against
VCF's 1-based positions and padded alleles, and the names of assemblies and chromosomes."""

import pytest

from constructed import store  # noqa: F401 (fixture)
from oncofed.beacon import selection, variants
from oncofed.beacon.errors import BeaconError
from oncofed.beacon.request import parse_get


def found(store, *params, entry="g_variants", span=None):
    query = parse_get(list(params))
    spans = []

    def ref_span():
        spans.append(1)
        return span or store.con.execute("SELECT max(length(ref)) FROM variants").fetchall()[0][0]

    sel = selection.select(entry, ["ds"], variants.criteria(query.variant, ref_span))
    return {r[1] for r in store.con.execute(*sel.page(100, 0)).fetchall()}


CHR7 = ("referenceName", "7")


def test_a_sequence_query_takes_start_as_the_vcf_position_minus_one(store):
    assert found(store, CHR7, ("start", "99"), ("referenceBases", "C"), ("alternateBases", "T")) == {"snv"}
    assert found(store, CHR7, ("start", "100"), ("referenceBases", "C"), ("alternateBases", "T")) == set()
    assert found(store, CHR7, ("start", "99"), ("alternateBases", "T")) == {"snv"}
    assert found(store, CHR7, ("start", "99"), ("alternateBases", "G")) == set()


def test_padded_indels_match_as_vcf_states_them(store):
    assert found(store, CHR7, ("start", "199"), ("referenceBases", "CA"), ("alternateBases", "C")) == {"del"}
    assert found(store, CHR7, ("start", "299"), ("referenceBases", "G"), ("alternateBases", "GTT")) == {"ins"}


def test_trimmed_indels_match_the_padded_record_one_base_earlier(store):
    # the deleted A is base 200 (0-based) of chromosome 7; VCF pads it with the C before it
    assert found(store, CHR7, ("start", "200"), ("referenceBases", "A"), ("alternateBases", "-")) == {"del"}
    assert found(store, CHR7, ("start", "200"), ("referenceBases", "A"), ("alternateBases", "")) == {"del"}
    assert found(store, CHR7, ("start", "300"), ("referenceBases", "."), ("alternateBases", "TT")) == {"ins"}
    assert found(store, CHR7, ("start", "199"), ("referenceBases", "A"), ("alternateBases", "-")) == set()


def test_n_matches_any_base(store):
    assert found(store, CHR7, ("start", "399"), ("referenceBases", "AN"), ("alternateBases", "NC")) == {"mnp"}
    assert found(store, CHR7, ("start", "299"), ("referenceBases", "G"), ("alternateBases", "GNN")) == {"ins"}


def test_a_range_query_finds_every_variant_overlapping_the_half_open_range(store):
    # longdel spans [499, 509) in Beacon coordinates: a range starting inside it finds it
    assert found(store, CHR7, ("start", "505"), ("end", "590")) == {"longdel", "snv2"}
    assert found(store, CHR7, ("start", "509"), ("end", "590")) == {"snv2"}
    assert found(store, CHR7, ("start", "0"), ("end", "99")) == set()  # snv is base 99
    assert found(store, CHR7, ("start", "0"), ("end", "100")) == {"snv"}
    assert found(store, CHR7, ("start", "99"), ("end", "300"), ("alternateBases", "C")) == {"del"}


def test_the_range_lower_bound_reaches_back_by_the_longest_stored_allele(store):
    # told that no allele is longer than one base, the reader would skip the long deletion
    assert found(store, CHR7, ("start", "505"), ("end", "590"), span=1) == {"snv2"}
    assert found(store, CHR7, ("start", "505"), ("end", "590"), span=10) == {"longdel", "snv2"}


def test_a_bracket_query_bounds_start_and_end_half_open(store):
    # del spans [199, 201); longdel [499, 509)
    assert found(store, CHR7, ("start", "199,200"), ("end", "201,202")) == {"del"}
    assert found(store, CHR7, ("start", "199,200"), ("end", "200,201")) == set()
    assert found(store, CHR7, ("start", "0,1000"), ("end", "505,510")) == {"longdel"}


def test_chromosome_names_with_chr_and_refseq_accessions_name_the_same_sequence(store):
    for name in ("7", "chr7", "CHR7", "NC_000007.13", "refseq:NC_000007.13"):
        assert found(store, ("referenceName", name), ("start", "99"), ("alternateBases", "T")) == {"snv"}
    # the GRCh38 accession names another assembly
    assert found(store, ("referenceName", "NC_000007.14"), ("start", "99"), ("alternateBases", "T")) == set()
    assert found(store, ("referenceName", "8"), ("start", "99"), ("alternateBases", "T")) == set()


def test_assembly_names_and_accessions_are_synonyms(store):
    for name in ("GRCh37", "hg19", "GRCh37.p13", "GCF_000001405.25"):
        assert found(store, ("assemblyId", name), ("geneId", "EGFR")) == {"snv", "del", "ins"}
    assert found(store, ("assemblyId", "hg38"), ("geneId", "EGFR")) == set()
    with pytest.raises(BeaconError, match="referenceName: NC_000007.14 is a GRCh38 sequence"):
        found(store, ("assemblyId", "GRCh37"), ("referenceName", "NC_000007.14"), ("geneId", "EGFR"))


def test_gene_variant_type_and_length(store):
    assert found(store, ("geneId", "BRAF")) == {"mnp", "longdel", "snv2"}
    assert found(store, ("variantType", "SNP")) == {"snv", "snv2"}
    assert found(store, ("variantType", "DEL")) == {"del", "longdel"}
    assert found(store, ("variantType", "INS")) == {"ins"}
    assert found(store, ("variantType", "MNP")) == {"mnp"}
    assert found(store, ("variantType", "SO:0000159")) == {"del", "longdel"}
    assert found(store, ("variantType", "BND")) == {"bnd"}
    assert found(store, ("variantType", "INDEL")) == {"del", "ins", "longdel"}
    assert found(store, ("variantMinLength", "2"), ("variantType", "INDEL")) == {"ins", "longdel"}
    assert found(store, ("variantMinLength", "2"), ("variantMaxLength", "2")) == {"ins", "mnp"}
    with pytest.raises(BeaconError, match="variantType: unknown type 'FOO'"):
        found(store, ("variantType", "FOO"))


@pytest.mark.parametrize("change", ["L858R", "p.L858R", "Leu858Arg", "p.Leu858Arg", "p.(Leu858Arg)"])
def test_an_amino_acid_change_matches_in_one_or_three_letter_form(store, change):
    assert found(store, ("aminoacidChange", change)) == {"snv"}


def test_an_amino_acid_change_matches_after_a_protein_accession_and_not_a_longer_change(store):
    assert found(store, ("aminoacidChange", "V600E")) == {"mnp"}
    assert found(store, ("aminoacidChange", "R1443*")) == {"snv2"}
    assert found(store, ("aminoacidChange", "L85R")) == set()
    assert found(store, ("aminoacidChange", "L858")) == set()


def test_a_mate_name_finds_the_breakends_joining_that_chromosome(store):
    assert found(store, ("mateName", "17")) == found(store, ("mateName", "chr17")) == {"bnd"}
    assert found(store, ("mateName", "1")) == set()


def test_variant_criteria_select_the_individuals_and_biosamples_carrying_them(store):
    assert found(store, ("geneId", "EGFR"), entry="individuals") == {"ann", "bea", "carl"}
    assert found(store, ("geneId", "BRAF"), ("variantType", "SNP"), entry="individuals") == {"bea"}
    assert found(store, CHR7, ("start", "99"), ("alternateBases", "T"), entry="biosamples") == {"ann-t", "carl-t"}


def test_coordinates_and_names_for_records():
    assert variants.sequence_id("GRCh37", "7") == "refseq:NC_000007.13"
    assert variants.sequence_id("hg38", "X") == "refseq:NC_000023.11"
    assert variants.sequence_id("GRCh38", "MT") == "refseq:NC_012920.1"
    assert variants.sequence_id("GRCh37", "GL000192.1") == "GRCh37:GL000192.1"
    assert variants.canonical_chromosome("chrM") == ("MT", None)
    assert variants.canonical_chromosome("NC_000023.10") == ("X", "GRCh37")
    assert variants.amino_acid_change("p.(Val600Glu)") == ("Val", "600", "Glu")
    assert variants.amino_acid_change("R1443*") == ("Arg", "1443", "Ter")
    assert variants.amino_acid_change("c.4375C>T") is None
    assert [variants.variant_type(r, a) for r, a in (("C", "T"), ("AG", "TC"), ("CA", "C"), ("G", "GT"),
                                                     ("N", "<DEL>"), ("G", "G]17:198982]"))] == \
        ["SNP", "MNP", "DEL", "INS", "DEL", "BND"]
