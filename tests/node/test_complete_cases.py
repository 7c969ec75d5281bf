"""The differencing guard covers the individuals an answer is about, not only its cohort: an
analysis that leaves out the few individuals without a value for one of its variables would,
beside a count of the whole cohort (or a model without that variable), single those few out.
End to end through real node processes on the lung trial, split as the demo splits it."""

import pandas as pd
import pytest

from conftest import DATA
from oncofed.client.federation import FederationError
from oncofed.testing import LocalFederation

LUNG, LUNG_MAP = DATA / "ncctg-lung/lung.csv", DATA / "ncctg-lung/mapping.yaml"
SPLIT = {"a": "TRY_CAST(inst AS DOUBLE) <= 7", "b": "TRY_CAST(inst AS DOUBLE) BETWEEN 10 AND 13",
         "c": "inst IS NULL OR TRY_CAST(inst AS DOUBLE) >= 15"}
WEIGHT_LOSS = "measurement:ONCOFED:weight_loss_6_months"  # missing for 4, 4 and 6 patients at a, b, c
MEAL = "measurement:ONCOFED:meal_calories"  # missing for 16, 17 and 14


def missing(column: str) -> dict[str, int]:
    df = pd.read_csv(LUNG)
    node = ["a" if i <= 7 else "b" if 10 <= i <= 13 else "c" for i in df.inst.fillna(99)]
    return df[column].isna().groupby(node).sum().to_dict()


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    with LocalFederation(tmp_path_factory.mktemp("complete-cases")) as lf:
        for name, where in SPLIT.items():
            lf.add_node(name, transport="relay" if name == "c" else "direct") \
                .add_dataset("lung", LUNG, mapping=LUNG_MAP, where=where)
        yield lf.start()


def test_a_model_leaving_out_a_few_of_its_cohort_is_refused_where_it_would(fed):
    assert missing("wt.loss") == {"a": 4, "b": 4, "c": 6}
    fed.count(datasets=["lung"])
    cox = fed.cox("os_days", "os_event", ["age", WEIGHT_LOSS], datasets=["lung"])
    status = cox.per_node
    assert status.loc["a", "status"] == status.loc["b", "status"] == "refused"
    assert "lack a value for a variable the analysis uses" in status.loc["a", "reason"]
    assert not {"1", "2", "3", "4"} & set(status.loc["a", "reason"].split())
    assert status.loc["c", "status"] == "ok"  # six left out: as many as a released count may hold


def test_the_same_holds_for_every_analysis_that_drops_missing_values(fed):
    for result in (fed.glm("os_event", ["age", WEIGHT_LOSS], family="binomial", datasets=["lung"]),
                   fed.summary(WEIGHT_LOSS, datasets=["lung"])):
        status = result.per_node
        assert status.loc["a", "status"] == "refused" and status.loc["c", "status"] == "ok"
        assert "lack a value" in status.loc["a", "reason"]


def test_leaving_out_none_or_many_is_answered(fed):
    assert all(n >= 5 for n in missing("meal.cal").values())
    cox = fed.cox("os_days", "os_event", ["age", MEAL], datasets=["lung"])
    assert set(cox.per_node.status) == {"ok"}
    assert cox.result["n"] == len(pd.read_csv(LUNG).dropna(subset=["meal.cal"]))
    assert set(fed.cox("os_days", "os_event", ["age", "sex"], datasets=["lung"]).per_node.status) == {"ok"}


def test_two_analyses_whose_individuals_differ_by_a_few_are_not_both_answered(fed):
    """Each leaves out five or more at node c, but they differ from each other by fewer."""
    df = pd.read_csv(LUNG)
    c = df[df.inst.isna() | (df.inst >= 15)]
    assert c["meal.cal"].isna().sum() >= 5 and 0 < (c["meal.cal"].notna() & c["wt.loss"].isna()).sum() < 5
    first = fed.cox("os_days", "os_event", ["age", MEAL], datasets=["lung"], nodes=["c"])
    assert first.per_node.loc["c", "status"] == "ok"
    with pytest.raises(FederationError, match=r"c: refused \(this cohort differs by fewer than 5"):
        fed.cox("os_days", "os_event", ["age", MEAL, WEIGHT_LOSS], datasets=["lung"], nodes=["c"])
