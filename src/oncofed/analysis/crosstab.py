"""Crosstab: individuals by the levels of two variables, with Pearson's chi-square test of
independence on the pooled table.

A node's table is released whole or not at all (``privacy.guard``): a node holding a cell of
one to four individuals refuses, and the table is the other nodes' sum, with that node's
refusal in the run's per-node statuses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats
from pydantic import model_validator

from oncofed.analysis import cells, tables, variables
from oncofed.analysis.base import CohortData, Partial, Step
from oncofed.analysis.params import Params, parse
from oncofed.analysis.registry import Registered
from oncofed.model import vocabulary

NAME, VERSION = "crosstab", "1"
MISSING = cells.key("missing")


class CrosstabParams(Params):
    row: str
    column: str

    @model_validator(mode="after")
    def _variables(self) -> CrosstabParams:
        if self.row == self.column:
            raise ValueError("row and column must be different variables")
        variables.resolve(self.row)
        variables.resolve(self.column)
        return self


def validate(params: dict) -> dict:
    return parse(CrosstabParams, params).model_dump()


def node_step(data: CohortData, params: dict, state: dict) -> Partial:
    p = parse(CrosstabParams, params)
    frame = data.frame([p.row, p.column])
    complete = frame.dropna()
    counts = complete.groupby([p.row, p.column], sort=False, observed=True).size()
    found = {cells.key(cells.level(r), cells.level(c)): int(n) for (r, c), n in counts.items() if n}
    missing = len(frame) - len(complete)
    return Partial(records=len(complete), cells=found | ({MISSING: missing} if missing else {}),
                   levels={p.row: complete[p.row].nunique(), p.column: complete[p.column].nunique()})


def hub_step(partials: dict[str, Partial], params: dict, state: dict) -> Step:
    p = parse(CrosstabParams, params)
    totals, _ = cells.combine(partials)
    pairs = {tuple(cells.parts(k)) for k in totals if k != MISSING}
    rows, columns = sorted({r for r, _ in pairs}), sorted({c for _, c in pairs})
    table = pd.DataFrame([[totals.get(cells.key(r, c), 0) for c in columns] for r in rows],
                         index=pd.Index(rows, name=p.row), columns=columns, dtype=object)
    notes = []
    chi_square = None
    if len(rows) < 2 or len(columns) < 2:
        notes.append("the chi-square test needs at least two levels of each variable")
    else:
        statistic, pvalue, df, _ = scipy.stats.chi2_contingency(table.to_numpy(dtype=float), correction=False)
        chi_square = {"statistic": float(statistic), "df": int(df), "p": float(pvalue)}
    labels = {str(level): vocabulary.label(level) for level in [*rows, *columns]
              if isinstance(level, str) and vocabulary.label(level)}
    return Step(True, result={
        "analysis": NAME, "row": p.row, "column": p.column,
        "table": tables.to_json(table),
        "n": int(np.sum([totals.get(cells.key(r, c), 0) for r in rows for c in columns])),
        "missing": totals.get(MISSING, 0),
        "chi_square": chi_square, "labels": labels, "notes": notes,
        "nodes": {node: q.records for node, q in partials.items()},
    })


def uses(params: dict) -> list[str]:
    p = parse(CrosstabParams, params)
    return [p.row, p.column]


ANALYSIS = Registered(NAME, VERSION, validate, node_step, hub_step, uses)
