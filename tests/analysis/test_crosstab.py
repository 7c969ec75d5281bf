"""The crosstab's hub step: the nodes' released tables add up cell by cell, a level one node
lacks counts as zero there, and the chi-square test runs on the sum."""

import scipy.stats

from oncofed.analysis import cells, crosstab
from oncofed.analysis.base import Partial


def test_the_nodes_tables_add_up_and_the_test_runs_on_the_sum():
    k = cells.key
    a = Partial(records=60, cells={k("x", "p"): 20, k("x", "q"): 30, k("y", "p"): 10}, levels={"stage": 2, "sex": 2})
    b = Partial(records=21, cells={k("x", "p"): 9, k("y", "q"): 12, cells.key("missing"): 6},
                levels={"stage": 2, "sex": 2})
    result = crosstab.hub_step({"a": a, "b": b}, {"row": "stage", "column": "sex"}, {}).result
    assert result["table"]["data"] == [[29, 30], [10, 12]]
    assert result["n"] == 81 and result["missing"] == 6 and result["nodes"] == {"a": 60, "b": 21}
    statistic, p, df, _ = scipy.stats.chi2_contingency([[29, 30], [10, 12]], correction=False)
    assert result["chi_square"] == {"statistic": statistic, "df": df, "p": p}
