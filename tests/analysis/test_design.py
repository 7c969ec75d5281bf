"""A node's local design and the agreed one are a reparametrisation apart (``transform``)."""

import numpy as np
import pandas as pd
import pytest

from oncofed.analysis import design
from oncofed.analysis.base import AnalysisError

AGREED = [design.Term("age"), design.Term("grade", ("g1", "g2", "g3"), "g1")]


def frame(grades):
    return pd.DataFrame({"age": np.arange(len(grades), dtype=float) + 40,
                         "grade": pd.Categorical(grades)})


@pytest.mark.parametrize("grades", [["g2", "g3", "g3", "g2"], ["g1", "g3", "g1"], ["g3", "g3"]])
def test_local_coefficients_give_the_agreed_linear_predictor(grades):
    rows = frame(grades)
    local = design.local(rows, ["age", "grade"]).terms
    t = design.transform(local, AGREED, intercept=True)
    beta = np.array([0.5, 0.1, -1.0, 2.0])  # Intercept, age, g2, g3
    agreed = design.matrix(rows, AGREED, intercept=True) @ beta
    np.testing.assert_allclose(design.matrix(rows, local, intercept=True) @ (t @ beta), agreed)
    without = design.transform(local, AGREED)  # Cox: equal up to a constant
    shift = design.matrix(rows, local) @ (without @ beta[1:]) - design.matrix(rows, AGREED) @ beta[1:]
    np.testing.assert_allclose(shift, shift[0])


def test_the_local_design_uses_the_nodes_own_first_level():
    local = design.local(frame(["g3", "g2", "g3"]), ["age", "grade"])
    assert local.terms[1] == design.Term("grade", ("g2", "g3"), "g2")
    assert local.levels == {"grade": 2}
    assert local.cells == {'["grade", "g2"]': 1, '["grade", "g3"]': 2}


def test_a_level_outside_the_agreed_design_is_an_error():
    local = design.local(frame(["g1", "g4"]), ["age", "grade"]).terms
    with pytest.raises(AnalysisError, match="'g4' of 'grade' is not in the agreed design"):
        design.transform(local, AGREED)
