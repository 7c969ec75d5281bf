"""What a catalogue entry takes from the data: never a count or an age the guard would withhold."""

import pandas as pd
import pytest

from conftest import DATA

from oncofed.catalogue.facts import facts
from oncofed.ingest.pipeline import ingest
from oncofed.privacy.policy import GuardPolicy

LUNG = DATA / "ncctg-lung"


def lung_node(node, where: str | None = None):
    ingest(node, "ds", "csv", [LUNG / "lung.csv"], mapping=LUNG / "mapping.yaml", where=where)
    return node


def test_counts_and_types_come_from_the_data(node):
    lung_node(node)
    with node.store(read_only=True) as store:
        found = facts(store, "ds", GuardPolicy())
        counts = store.counts("ds")
    assert found.individuals == len(pd.read_csv(LUNG / "lung.csv")) == counts["individuals"]
    assert found.records == sum(counts.values())
    assert found.data_types == tuple(t for t, n in counts.items() if n)
    assert found.cancer_types == ("NCIT:C4878",)
    assert set(found.coding_systems) >= {"NCIT", "LOINC"}
    assert [v.version for v in found.versions] == [1]


def test_typical_ages_are_the_min_cell_th_youngest_and_oldest(node):
    lung_node(node)
    ages = sorted(pd.read_csv(LUNG / "lung.csv").age)
    with node.store(read_only=True) as store:
        found = facts(store, "ds", GuardPolicy(min_cell=5))
        wider = facts(store, "ds", GuardPolicy(min_cell=1))
    assert (found.min_age, found.max_age) == (ages[4], ages[-5])
    assert (wider.min_age, wider.max_age) == (ages[0], ages[-1])


@pytest.mark.parametrize("rounding", [1, 10])
def test_released_counts_follow_the_node_policy(node, rounding):
    lung_node(node)
    with node.store(read_only=True) as store:
        found = facts(store, "ds", GuardPolicy(count_rounding=rounding))
    n = len(pd.read_csv(LUNG / "lung.csv"))
    assert found.individuals == (n if rounding == 1 else round(n / rounding) * rounding)


def test_a_small_dataset_releases_no_count_no_ages_no_cancer_type(node):
    lung_node(node, where="TRY_CAST(age AS DOUBLE) >= 80")  # 4 patients
    with node.store(read_only=True) as store:
        assert store.counts("ds")["individuals"] == 4
        found = facts(store, "ds", GuardPolicy())
    assert found.individuals is None and found.records is not None
    assert found.min_age is None and found.max_age is None
    assert found.cancer_types == () and found.countries == ()
