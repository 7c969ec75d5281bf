"""How the portal shows a run's result, from the run's JSON, without a server."""

import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import DATA

from oncofed.analysis import tables
from oncofed.analysis.run import run as run_analysis
from oncofed.hub import portal_results as pr
from oncofed.ingest.pipeline import ingest
from oncofed.node import home
from oncofed.privacy.policy import GuardPolicy

LUNG = DATA / "ncctg-lung"


def run(analysis, result):
    return {"run": "r1", "analysis": analysis, "result": result, "per_node": {}, "status": "done"}


KM = pd.DataFrame({"group": ["a"] * 4, "timeline": [0.0, 30.0, 60.0, 90.0], "at_risk": [20, 20, 12, 6],
                   "events": [0, 3, 4, 6], "censored": [0, 5, 2, 0], "survival": [1, 0.85, 0.57, 0.0],
                   "ci_lower": [1, 0.6, 0.3, 0.0], "ci_upper": [1, 0.95, 0.8, 0.0]})


def test_the_number_at_risk_is_read_off_the_grid_the_curve_was_computed_on():
    risk = pr.at_risk(KM, [0, 30, 45, 60, 90, 120])
    assert risk.loc["a"].tolist() == [20, 20, 12, 12, 6, 0]


def test_a_km_result_has_a_figure_in_both_formats_and_a_csv():
    km = run("km", {"summary": tables.to_json(KM.set_index(pd.RangeIndex(4))), "median": {"a": 60.0},
                    "logrank": None, "notes": []})
    assert pr.has_figure(km)
    fig = pr.figure(km)
    assert pr.render(fig, "svg").lstrip().startswith(b"<?xml") and pr.render(fig, "png").startswith(b"\x89PNG")
    assert pr.csv(km).splitlines()[0] == ",group,timeline,at_risk,events,censored,survival,ci_lower,ci_upper"
    assert [t["title"] for t in pr.tables(km)] == ["Number at risk (days)", "Median survival (days)"]


def test_a_crosstab_shows_its_cells_and_a_withheld_count_its_bounds_never_a_number():
    table = pd.DataFrame([[12, 0], [30, 7]], index=pd.Index(["x", "y"], name="row"), columns=["p", "q"], dtype=object)
    crosstab = run("crosstab", {"row": "row", "column": "col", "table": tables.to_json(table), "chi_square": None,
                                "notes": []})
    assert pr.tables(crosstab)[0]["rows"] == [["x", "12", "0"], ["y", "30", "7"]]
    assert pr.csv(crosstab).replace("\r", "").splitlines() == ["row,p,q", "x,12,0", "y,30,7"]
    count = run("count", {"count": None, "at_least": 40, "nodes": {"a": 40, "b": None}, "suppressed": ["b"]})
    count["per_node"] = {"a": {"status": "ok", "min_cell": 5}, "b": {"status": "ok", "min_cell": 5}}
    assert pr.tables(count)[0]["rows"] == [["a", "40"], ["b", "< 5"], ["all nodes", "41–44"]]
    assert "< 5" in pr.csv(count) and not pr.has_figure(count)


# results the analyses compute: the NCCTG lung trial at two nodes, split as the demo splits it ----


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    folder, opened = tmp_path_factory.mktemp("portal-results"), {}
    split = {"de": "TRY_CAST(inst AS DOUBLE) <= 7", "nl": "inst IS NULL OR TRY_CAST(inst AS DOUBLE) > 7"}
    for node, where in split.items():
        h = home.init(folder / node, node, node.upper())
        with h.store() as store:
            store.add_dataset("ncctg-lung", "NCCTG lung")
        ingest(h, "ncctg-lung", "csv", [LUNG / "lung.csv"], mapping=LUNG / "mapping.yaml", where=where)
        opened[node] = duckdb.connect(str(h.store_path), read_only=True)
    yield opened
    for con in opened.values():
        con.close()


def computed(stores, analysis: str, params: dict) -> dict:
    """A run as ``GET /api/analyses/{run}`` serves it, its result computed by the analysis under
    the default guard."""
    result = run_analysis(analysis, params, {"datasets": ["ncctg-lung"]}, stores, policy=GuardPolicy())
    assert result.pop("refused") == {}
    return run(analysis, result) | {"per_node": {n: {"status": "ok", "min_cell": 5} for n in stores}}


def drawn_text(svg: bytes) -> list[str]:
    """The text a figure shows (matplotlib draws text as paths, each after a comment naming it)."""
    return re.findall(r"<!-- (.*?) -->", svg.decode())


def test_a_cox_result_is_a_forest_plot_of_its_covariates_and_a_csv_of_its_coefficients(stores):
    cox = computed(stores, "cox", {"duration": "os_days", "event": "os_event", "covariates": ["age", "sex"]})
    coef = cox["result"]["summary"]
    assert coef["index"] == ["age", "sex[T.NCIT:C20197]"]
    assert pr.has_figure(cox)
    fig = pr.figure(cox)
    svg, png = pr.render(fig, "svg"), pr.render(fig, "png")
    shown = drawn_text(svg)
    assert {"age", "sex[T.NCIT:C20197]", "Cox proportional hazards: log hazard ratios (95% CI)"} <= set(shown)
    assert png.startswith(b"\x89PNG")
    points = fig.axes[0].lines[0]  # one point a covariate, at its log hazard ratio
    assert list(points.get_xdata()) == [row[coef["columns"].index("coef")] for row in coef["data"]]

    lines = pr.csv(cox).replace("\r", "").splitlines()
    assert lines[0] == ("covariate,coef,exp(coef),se(coef),coef lower 95%,coef upper 95%,exp(coef) lower 95%,"
                        "exp(coef) upper 95%,cmp to,z,p,-log2(p)")
    assert [line.split(",")[0] for line in lines[1:]] == coef["index"]
    assert [[float(v) for v in line.split(",")[1:]] for line in lines[1:]] == coef["data"]
    shown_table = pr.tables(cox)[0]
    assert shown_table["title"] == "Coefficients" and [r[0] for r in shown_table["rows"]] == coef["index"]


def test_a_summary_result_is_a_histogram_of_the_released_bins_and_a_csv_of_its_statistics(stores):
    summary = computed(stores, "summary", {"variable": "age", "bins": 10})
    result = summary["result"]
    hist = result["histogram"]
    assert result["n"] == 228 and sum(hist["counts"]) == 228
    assert pr.has_figure(summary)
    fig = pr.figure(summary)
    bars = fig.axes[0].patches  # one bar a released bin, over exactly that bin
    assert [b.get_height() for b in bars] == hist["counts"]
    assert np.allclose([b.get_x() for b in bars], hist["edges"][:-1])
    assert np.allclose([b.get_x() + b.get_width() for b in bars], hist["edges"][1:])
    shown = drawn_text(pr.render(fig, "svg"))
    assert {"Distribution of age", "age", "individuals"} <= set(shown)
    assert pr.render(fig, "png").startswith(b"\x89PNG")

    lines = pr.csv(summary).replace("\r", "").splitlines()
    q = result["quantiles"]
    assert lines == ["statistic,value", "n,228", f"mean,{result['mean']:.4g}", f"sd,{result['sd']:.4g}", "missing,0",
                     f"guarded range,{result['range'][0]:.4g} – {result['range'][1]:.4g}",
                     *(f"quantile {k},{v:.4g}" for k, v in q.items())]
    assert list(q) == ["0.25", "0.5", "0.75"]

