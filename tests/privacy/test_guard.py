import json
import random
import re

import numpy as np
import pytest

from oncofed.analysis.base import GuardRefusal, Partial
from oncofed.privacy import guard
from oncofed.privacy.policy import GuardPolicy

DEFAULT = GuardPolicy()
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def numbers_in(text: str) -> set[float]:
    return {float(t) for t in NUMBER.findall(text)}


def random_partials(seed: int, n: int = 40):
    rng = random.Random(seed)
    for _ in range(n):
        cells = {f"cell_{chr(97 + i)}": rng.choice([0, 1, 2, 3, 4, rng.randint(0, 60)])
                 for i in range(rng.randint(1, 8))}
        records = rng.choice([sum(cells.values()), rng.randint(0, 12), rng.randint(0, 200)])
        model = rng.random() < 0.5  # a model's partial (with stats) or a table of counts
        yield Partial(records=records, cells=cells, parameters=rng.randint(0, 5) if model else 0,
                      stats={"sum": [1.5]} if model else {}, levels={"stage": rng.randint(2, 45)})


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("policy", [DEFAULT, GuardPolicy(count_rounding=5), GuardPolicy(min_cell=3, min_records=3)],
                         ids=["default", "rounding", "loose"])
def test_small_counts_never_leave_the_guard(seed, policy):
    for partial in random_partials(seed):
        floor = policy.min_records if partial.stats else policy.min_cell
        small = {float(n) for n in range(1, policy.min_cell)} | (
            {float(partial.records)} if 0 < partial.records < floor else set())
        try:
            out = guard.apply(partial, policy)
        except GuardRefusal as e:
            assert not numbers_in(e.reason) & small, e.reason
            assert not numbers_in(str(e)) & small
            continue
        assert not {float(v) for v in out.cells.values()} & small
        assert set(out.cells) | set(out.suppressed) - {"records"} == set(partial.cells)
        assert out.records not in small
        released = json.dumps(out.to_json()["cells"])
        assert not numbers_in(released) & small, released


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_a_small_count_is_withheld_and_marked(n):
    out = guard.apply(Partial(records=n, cells={"count": n}), DEFAULT)
    assert out.cells == {} and out.records == 0 and set(out.suppressed) == {"count", "records"}
    assert guard.guard_count(n, DEFAULT) is None


@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("shape", ["records", "other cells", "levels"])
def test_a_table_with_a_small_cell_is_refused_whole_not_thinned(n, shape):
    """With the small cell withheld, the records (or a count of the cohort) less the other
    cells would give it back."""
    partial = {"records": Partial(records=46 + n, cells={"small": n, "big": 46}),
               "other cells": Partial(records=0, cells={"small": n, "big": 46}),
               "levels": Partial(records=n, cells={"small": n}, levels={"stage": 1})}[shape]
    with pytest.raises(GuardRefusal, match="released whole or not at all") as e:
        guard.apply(partial, DEFAULT)
    assert not numbers_in(e.value.reason) & {1.0, 2.0, 3.0, 4.0, 46.0 + n}


def test_zero_is_released_as_zero():
    out = guard.apply(Partial(records=20, cells={"none": 0, "all": 20}), DEFAULT)
    assert out.cells == {"none": 0, "all": 20}
    assert out.suppressed == []
    assert guard.guard_count(0, GuardPolicy(count_rounding=10)) == 0


def test_counts_at_the_threshold_are_released():
    assert guard.guard_count(5, DEFAULT) == 5
    assert guard.guard_count(4, GuardPolicy(min_cell=3)) == 4


@pytest.mark.parametrize("records", [0, 1, 4, 9])
def test_too_few_records_are_refused_without_saying_how_many(records):
    with pytest.raises(GuardRefusal, match="fewer than 10 individuals") as e:
        guard.apply(Partial(records=records, cells={"x": records}, stats={"s": [1.0]}), DEFAULT)
    assert float(records) not in numbers_in(e.value.reason)


def test_records_must_also_pass_the_cell_rule():
    with pytest.raises(GuardRefusal, match="fewer than 5"):
        guard.apply(Partial(records=4, stats={"s": [1.0]}), GuardPolicy(min_records=2))


def test_too_many_parameters_for_the_records_are_refused():
    guard.apply(Partial(records=30, parameters=9, stats={"s": [1.0]}), DEFAULT)  # 9 ≤ 0.33 × 30 = 9.9
    with pytest.raises(GuardRefusal, match="too many parameters") as e:
        guard.apply(Partial(records=30, parameters=10, stats={"s": [1.0]}), DEFAULT)
    assert 30.0 not in numbers_in(e.value.reason)


def test_a_factor_with_too_many_levels_is_refused():
    guard.apply(Partial(records=100, levels={"region": 40}), DEFAULT)
    with pytest.raises(GuardRefusal, match="factor 'region' has more than 40 levels"):
        guard.apply(Partial(records=100, levels={"region": 41}), DEFAULT)


@pytest.mark.parametrize(("n", "base", "expected"), [
    (5, 5, 5), (6, 5, 5), (7, 5, 5), (8, 5, 10), (12, 10, 10), (15, 10, 20),
    (5, 10, 10), (5, 100, 100), (149, 100, 100),
])
def test_released_counts_are_rounded_to_the_base(n, base, expected):
    policy = GuardPolicy(count_rounding=base)
    assert guard.guard_count(n, policy) == expected
    assert guard.apply(Partial(records=200, cells={"c": n}), policy).cells == {"c": expected}


def test_records_are_not_rounded():
    assert guard.apply(Partial(records=23, stats={"s": [1.0]}), GuardPolicy(count_rounding=10)).records == 23


def test_the_input_is_never_changed():
    partial = Partial(records=40, cells={"a": 7, "b": 33}, stats={"xtx": np.eye(2), "sums": [1.0, 2.0]},
                      parameters=2, levels={"f": 3}, suppressed=["earlier"])
    before = (dict(partial.cells), [list(r) for r in partial.stats["xtx"]], list(partial.stats["sums"]),
              dict(partial.levels), list(partial.suppressed))
    out = guard.apply(partial, GuardPolicy(count_rounding=5))
    out.stats["sums"].append(3.0)
    out.stats["xtx"][0, 0] = 9
    out.suppressed.append("x")
    assert (dict(partial.cells), [list(r) for r in partial.stats["xtx"]], list(partial.stats["sums"]),
            dict(partial.levels), list(partial.suppressed)) == before
    assert out.suppressed[:1] == ["earlier"] and out.cells == {"a": 5, "b": 35}


def test_a_model_with_a_small_count_is_refused_not_thinned():
    with pytest.raises(GuardRefusal, match="below the minimum"):
        guard.apply(Partial(records=40, cells={"events": 3}, stats={"gradient": [0.1]}, parameters=1), DEFAULT)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "7"])
def test_a_cell_that_is_not_a_count_is_a_bug(bad):
    with pytest.raises(ValueError, match="non-negative integer"):
        guard.apply(Partial(records=20, cells={"c": bad}), DEFAULT)


def test_numpy_integer_counts_are_accepted():
    out = guard.apply(Partial(records=np.int64(20), cells={"c": np.int64(12), "d": np.int32(8)}), DEFAULT)
    assert out.cells == {"c": 12, "d": 8} and type(out.cells["c"]) is int and out.suppressed == []


@pytest.mark.parametrize("n, released", [(0, 0), (3, None), (7, 7), (120, 120)])
def test_a_table_follows_the_cell_rule_not_the_model_minimum(n, released):
    out = guard.apply(Partial(records=n, cells={"count": n}), DEFAULT)
    assert out.cells.get("count") == released
    if released is None:
        assert out.records == 0 and set(out.suppressed) == {"count", "records"}
