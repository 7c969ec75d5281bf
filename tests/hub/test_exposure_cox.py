"""Acceptance (issue 8): a federated Cox model with a region-level deprivation covariate on
LeukSurv split across three real nodes equals lifelines on the pooled data, stratified by node."""

import pandas as pd
import pytest

from conftest import DATA
from oncofed.testing import LocalFederation

LEUK = DATA / "leuksurv"
TABLE, MAPPING, DISTRICTS = LEUK / "leuksurv.csv", LEUK / "mapping.yaml", LEUK / "district-townsend.csv"
DEPRIVATION = "exposure:ONCOFED:townsend_score_district_mean"
SPLIT = {"a": "CAST(fac_district AS INTEGER) <= 8", "b": "CAST(fac_district AS INTEGER) BETWEEN 9 AND 16",
         "c": "CAST(fac_district AS INTEGER) >= 17"}


@pytest.fixture(scope="module")
def leuksurv(tmp_path_factory):
    with LocalFederation(tmp_path_factory.mktemp("leuksurv")) as lf:
        for name, where in SPLIT.items():
            lf.add_node(name, country="GB", transport="relay" if name == "c" else "direct") \
                .add_dataset("leuksurv", TABLE, mapping=MAPPING, where=where) \
                .add_dataset("leuksurv", DISTRICTS, format="exposures", region_column="district",
                             region_coding="leuksurv-district")
        lf.start()
        yield lf


def pooled() -> pd.DataFrame:
    df = pd.read_csv(TABLE, float_precision="round_trip")
    means = pd.read_csv(DISTRICTS, float_precision="round_trip").set_index("district").value
    df["deprivation"] = df.fac_district.map(means)
    df["male"] = df.fac_sex.astype(float)  # sex is dummy-coded against its first level, female
    df["node"] = ["a" if d <= 8 else "b" if d <= 16 else "c" for d in df.fac_district]
    return df


def test_cox_with_a_deprivation_covariate_equals_lifelines_stratified_by_node(leuksurv):
    from lifelines import CoxPHFitter

    result = leuksurv.federation.cox("os_days", "os_event", ["age", "sex", DEPRIVATION], datasets=["leuksurv"])
    assert set(result.per_node.status) == {"ok"}
    df = pooled()
    cph = CoxPHFitter().fit(df[["time", "event", "num_age", "male", "deprivation", "node"]], "time", "event",
                            strata=["node"], fit_options={"precision": 1e-12})
    ours = result.summary
    sex = next(i for i in ours.index if i.startswith("sex"))
    for ours_name, theirs in (("age", "num_age"), (sex, "male"), (DEPRIVATION, "deprivation")):
        for col in ("coef", "se(coef)"):
            assert ours.loc[ours_name, col] == pytest.approx(cph.summary.loc[theirs, col], rel=1e-6, abs=1e-9)


def test_deprivation_filters_a_federated_count(leuksurv):
    df = pooled()
    result = leuksurv.federation.count(datasets=["leuksurv"], where=[(DEPRIVATION, ">=", 2.0)])
    assert result.count == int((df.deprivation >= 2.0).sum())
