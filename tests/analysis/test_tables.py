"""Count, crosstab and summary equal SQL, pandas and scipy on the pooled rows; a withheld
count shows as withheld, never as a number, and a table with a small cell is not released."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from demo_nodes import pooled, stores  # noqa: F401 (fixtures)

from oncofed.analysis import tables
from oncofed.analysis.base import AnalysisError
from oncofed.analysis.run import run
from oncofed.privacy.policy import GuardPolicy

BREAST = {"filters": [{"variable": "diagnosis", "op": "descendant_of", "value": "NCIT:C4872"}]}


def test_count_equals_sql_counts(stores):
    result = run("count", {}, BREAST, stores)
    sql = {node: con.execute("SELECT count(*) FROM diseases WHERE code = 'NCIT:C4872'").fetchall()[0][0]
           for node, con in stores.items()}
    assert result["nodes"] == sql and result["count"] == sum(sql.values()) == 686 + 2982


def test_a_count_with_a_withheld_part_is_unknown(stores):
    cohort = {"filters": [{"variable": "age", "op": ">=", "value": 78}]}  # demo-de: 4 such patients
    result = run("count", {}, cohort, stores, policy=GuardPolicy())
    assert result["nodes"] == {"demo-de": None, "demo-nl": 127, "demo-fr": 30}
    assert result["count"] is None and result["at_least"] == 157 and result["suppressed"] == ["demo-de"]


def test_crosstab_equals_pandas_and_scipy(stores, pooled):
    result = run("crosstab", {"row": "grade", "column": "dataset"}, None, stores)
    ours = tables.to_frame(result["table"])
    rows = pooled(["grade", "dataset"])
    theirs = pd.crosstab(rows["grade"], rows["dataset"])
    pd.testing.assert_frame_equal(ours.astype(int), theirs, check_names=False, check_column_type=False)
    statistic, p, df, _ = scipy.stats.chi2_contingency(theirs.to_numpy(), correction=False)
    assert result["chi_square"] == {"statistic": pytest.approx(statistic, rel=1e-12), "df": df,
                                    "p": pytest.approx(p, rel=1e-9)}
    assert result["missing"] == rows["grade"].isna().sum()  # lung has no grade
    assert result["labels"]["NCIT:C28079"] == "Grade 3"


def test_crosstab_of_numbers_keeps_them_numbers(stores, pooled):
    result = run("crosstab", {"row": "treated:NCIT:C15632", "column": "os_event"}, None, stores)
    ours = tables.to_frame(result["table"])
    rows = pooled(["treated:NCIT:C15632", "os_event"]).dropna()
    theirs = pd.crosstab(rows["treated:NCIT:C15632"], rows["os_event"])
    assert list(ours.index) == [0, 1] and list(ours.columns) == [0, 1]
    np.testing.assert_array_equal(ours.to_numpy(dtype=int), theirs.to_numpy())


def test_a_node_whose_table_holds_a_small_cell_refuses_it_whole(stores, pooled):
    """Withholding the one small cell would not do: the node's table total, or a count of the
    same cohort, gives it back by subtraction. The table is the other nodes' sum."""
    ecog = "measurement:LOINC:89247-1"  # one lung patient has ECOG 3, at demo-nl
    lung = {"datasets": ["ncctg-lung"]}
    result = run("crosstab", {"row": ecog, "column": "sex"}, lung, stores, policy=GuardPolicy())
    rows = pooled([ecog, "sex"], lung)
    small = {node for node, part in rows.groupby("node")
             if set(pd.crosstab(part[ecog], part["sex"]).to_numpy().ravel()) & {1, 2, 3, 4}
             or 0 < part[[ecog, "sex"]].isna().any(axis=1).sum() < 5}
    assert "demo-nl" in small and set(result["refused"]) == small
    assert all("released whole or not at all" in reason for reason in result["refused"].values())
    kept = rows[~rows.node.isin(small)]
    theirs = pd.crosstab(kept[ecog], kept["sex"])
    ours = tables.to_frame(result["table"])
    np.testing.assert_array_equal(ours.to_numpy(dtype=int), theirs.to_numpy())
    assert result["n"] == theirs.to_numpy().sum() and result["chi_square"] is not None
    assert not {n for row in result["table"]["data"] for n in row} & {1, 2, 3, 4}


def test_summary_n_mean_sd_equal_pandas(stores, pooled):
    for variable in ("age", "measurement:ONCOFED:pr_ligand_binding", "os_days"):
        result = run("summary", {"variable": variable}, None, stores)
        values = pooled([variable])[variable]
        assert result["n"] == values.count() and result["missing"] == values.isna().sum()
        assert result["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert result["sd"] == pytest.approx(values.std(), rel=1e-12)


def test_summary_quantiles_are_within_a_bin_of_pandas(stores, pooled):
    result = run("summary", {"variable": "age", "bins": 50, "quantiles": [0.1, 0.5, 0.9]}, None, stores)
    values = pooled(["age"])["age"].dropna()
    width = np.diff(result["histogram"]["edges"]).max()
    assert sum(result["histogram"]["counts"]) == len(values)
    for q, ours in result["quantiles"].items():
        assert abs(ours - values.quantile(float(q))) <= width


def test_summary_never_releases_the_minimum_or_maximum(stores, pooled):
    policy = GuardPolicy()
    # the clinical cohorts: demo-nl's one HCC1187 individual has no age, and a count of 1 missing is withheld
    clinical = {"datasets": ["gbsg2", "rotterdam", "colon", "ncctg-lung"]}
    result = run("summary", {"variable": "age"}, clinical, stores, policy=policy)
    assert result["refused"] == {}
    values = pooled(["age"], clinical)["age"]
    low, high = result["range"]
    assert values.min() < low and high < values.max()
    edges, counts = result["histogram"]["edges"], result["histogram"]["counts"]
    assert edges[0] == low and edges[-1] == high and sum(counts) == values.count()


def test_summary_of_a_categorical_variable_is_refused(stores):
    with pytest.raises(AnalysisError, match="categorical"):
        run("summary", {"variable": "sex"}, None, stores)
