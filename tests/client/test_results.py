"""The SDK's result classes: every analysis's result has a ``.summary`` DataFrame a notebook
can use, withheld counts as <NA> (never a number), and a histogram plot for a summary."""

import matplotlib
import pandas as pd
import pytest

from oncofed.analysis import cells, count, crosstab, summary
from oncofed.analysis.base import Partial
from oncofed.client.results import result_for

matplotlib.use("Agg")


def as_run(analysis: str, result: dict):
    return result_for(analysis)({"run": "r1", "analysis": analysis, "result": result, "per_node": {}})


def test_a_count_summarises_per_node_with_withheld_parts_as_na():
    result = count.hub_step({"a": Partial(records=40, cells={"count": 40}),
                             "b": Partial(records=0, suppressed=["count", "records"])}, {}, {}).result
    frame = as_run("count", result).summary
    assert frame.index.tolist() == ["a", "b"] and frame.loc["a", "count"] == 40 and frame.loc["b", "count"] is pd.NA


def test_a_crosstab_summarises_as_its_table():
    k = cells.key
    result = crosstab.hub_step({"a": Partial(records=30, cells={k("x", "p"): 10, k("y", "q"): 20})},
                               {"row": "stage", "column": "sex"}, {}).result
    frame = as_run("crosstab", result).summary
    assert frame.to_numpy().tolist() == [[10, 0], [0, 20]] and frame.index.name == "stage"


def test_a_summary_lists_its_statistics_and_plots_its_histogram():
    params = summary.validate({"variable": "age", "bins": 4, "quantiles": [0.5]})
    first = summary.hub_step({"a": Partial(records=20, stats={"sum": 1000.0, "m2": 380.0, "range": [40.0, 60.0]})},
                             params, {})
    done = summary.hub_step({"a": Partial(records=20, cells={cells.key(0, 2): 10, cells.key(2, 4): 10})},
                            params, first.state)
    result = as_run("summary", done.result)
    frame = result.summary
    assert frame.loc["n", "value"] == 20 and frame.loc["mean", "value"] == pytest.approx(50.0)
    assert frame.loc["sd", "value"] == pytest.approx((380.0 / 19) ** 0.5)
    assert frame.loc["quantile 0.5", "value"] == pytest.approx(50.0)
    assert {"range low", "range high"} <= set(frame.index)
    ax = result.plot()
    assert ax.get_xlabel() == "age" and len(ax.patches) == 1  # one filled outline of the released bins
    with pytest.raises(ValueError, match="no histogram"):
        as_run("summary", first.state["result"]).plot()
