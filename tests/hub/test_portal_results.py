"""How the portal shows a run's result, from the run's JSON, without a server."""

import pandas as pd

from oncofed.analysis import tables
from oncofed.hub import portal_results as pr


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
