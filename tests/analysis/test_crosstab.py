"""The crosstab's hub step: cells add up over nodes; a cell any node withheld stays withheld,
with what the others released beside it, so the portal can bound it truthfully."""

from oncofed.analysis import cells, crosstab
from oncofed.analysis.base import Partial


def test_a_cell_one_node_withheld_keeps_the_parts_the_others_released():
    k = cells.key
    a = Partial(records=60, cells={k("x", "p"): 20, k("x", "q"): 30, k("y", "p"): 10})
    b = Partial(records=12, cells={k("x", "p"): 9, k("y", "p"): 0}, suppressed=[k("x", "q")])
    result = crosstab.hub_step({"a": a, "b": b}, {"row": "stage", "column": "sex"}, {}).result
    assert result["table"]["data"] == [[29, None], [10, 0]]
    assert result["suppressed"] == [["x", "q"]] and result["n"] is None and result["chi_square"] is None
    assert result["withheld"] == [{"row": "x", "column": "q", "nodes": ["b"], "released": 30}]
