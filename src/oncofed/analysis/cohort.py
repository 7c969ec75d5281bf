"""A cohort: the individuals a request selects at a node, by dataset and by filters on the
analysis variables (``variables``), compiled to parameterised SQL over the node store.

A filter's value is always a bound parameter, never SQL text. Comparisons follow SQL: an
individual whose variable is missing matches no comparison (use ``is_null`` to select them).
``descendant_of`` widens a code to everything below it in the vocabulary, so a filter on
breast carcinoma (NCIT:C4872) also selects its subtypes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict

from oncofed.analysis import cache, variables
from oncofed.analysis.base import AnalysisError
from oncofed.analysis.params import parse
from oncofed.analysis.variables import Variable
from oncofed.model import vocabulary
from oncofed.privacy.policy import GuardPolicy

Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null", "descendant_of"]
_COMPARE = {"=", "!=", "<", "<=", ">", ">="}
_ORDERED = {"<", "<=", ">", ">="}


class Filter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    variable: str
    op: Op
    value: Any = None


class Cohort(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    datasets: list[str] | None = None  # None: every dataset the node holds
    filters: list[Filter] = []


def parse_cohort(data: Cohort | dict | None) -> Cohort:
    """A cohort from its JSON form; a malformed one (unknown op, extra field) is an AnalysisError."""
    return parse(Cohort, data or {}, "cohort")


def _scalar(f: Filter, var: Variable, value: Any) -> Any:
    ok = isinstance(value, str) if var.categorical else (
        isinstance(value, int | float) and not isinstance(value, bool))
    if not ok:
        expected = "a code or text" if var.categorical else "a number"
        raise AnalysisError(f"filter on {f.variable!r} ({f.op}): expected {expected}, got {value!r}")
    return value if var.categorical else float(value)


def _condition(f: Filter) -> tuple[str, list]:
    """One filter as a SQL condition and its parameters, in placeholder order."""
    var = variables.resolve(f.variable)
    expr, params = f"({var.sql})", list(var.params)
    if f.op in ("is_null", "not_null"):
        if f.value is not None:
            raise AnalysisError(f"filter on {f.variable!r} ({f.op}) takes no value")
        return f"{expr} IS {'NOT ' if f.op == 'not_null' else ''}NULL", params
    if f.op in _ORDERED and var.categorical:
        raise AnalysisError(f"filter on {f.variable!r}: {f.op} needs a numeric variable; "
                            f"{f.variable} is categorical (use =, !=, in, not_in or descendant_of)")
    if f.op in _COMPARE:
        return f"{expr} {f.op} ?", params + [_scalar(f, var, f.value)]
    if f.op == "descendant_of":
        if not var.categorical:
            raise AnalysisError(f"filter on {f.variable!r}: descendant_of needs a coded variable")
        codes = sorted(vocabulary.descendants(_scalar(f, var, f.value)))
        return f"list_contains(?, {expr})", [codes] + params
    if not isinstance(f.value, list) or not f.value:
        raise AnalysisError(f"filter on {f.variable!r} ({f.op}): expected a non-empty list, got {f.value!r}")
    values = [_scalar(f, var, v) for v in f.value]
    # list_contains of a missing value is NULL, so neither in nor not_in selects it
    return f"{'NOT ' if f.op == 'not_in' else ''}list_contains(?, {expr})", [values] + params


def _where(cohort: Cohort) -> tuple[str, list]:
    conditions, params = ["TRUE"], []
    if cohort.datasets is not None:
        conditions.append("list_contains(?, i.dataset_id)")
        params.append(list(cohort.datasets) or [""])
    for f in cohort.filters:
        sql, p = _condition(f)
        conditions.append(f"({sql})")
        params += p
    return " AND ".join(conditions), params


class Selection:
    """A node's view of one cohort (implements ``analysis.base.CohortData``), with the node's
    disclosure policy, so a node step can choose a grid no cell of which the guard would
    withhold (releasing a fine grid first and a coarser one after would let the withheld
    cells be recovered by subtraction).

    ``frame`` results are cached (``analysis.cache``) under the cohort's fingerprint and are
    shared between callers: treat them as read-only.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, node: str, cohort: Cohort, policy: GuardPolicy,
                 versions: Mapping[str, str] | None = None):
        self.con, self.node, self.cohort, self.policy = con, node, cohort, policy
        self._versions = versions
        self._where, self._params = _where(cohort)  # a bad filter fails here, before any step runs

    @cached_property
    def fingerprint(self) -> str:
        """Names this cohort's rows exactly: the node, its datasets' content hashes, the filters."""
        if self._versions is not None:
            versions = sorted(self._versions.items())
        else:
            versions = self.con.execute(
                "SELECT dataset_id, content_hash FROM dataset_versions "
                "QUALIFY row_number() OVER (PARTITION BY dataset_id ORDER BY version DESC) = 1 ORDER BY dataset_id"
            ).fetchall()
        text = json.dumps([self.node, versions, self.cohort.model_dump(mode="json")], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    @cached_property
    def records(self) -> int:
        """How many individuals the cohort holds."""
        if "ids" in self.__dict__:  # already listed (the differencing guard asks first): no second query
            return len(self.ids)
        return cache.cached((self.fingerprint, "records"), lambda: self.con.execute(
            f"SELECT count(*) FROM individuals i WHERE {self._where}", self._params).fetchall()[0][0])

    @cached_property
    def ids(self) -> list[str]:
        """The cohort's individuals as ``dataset:pseudonym`` keys, in the order of ``frame``'s
        rows (by dataset, then pseudonym), for the differencing guard."""
        rows = self.con.execute(
            f"SELECT i.dataset_id || ':' || i.id FROM individuals i WHERE {self._where} ORDER BY i.dataset_id, i.id",
            self._params).fetchall()
        return [r[0] for r in rows]

    def complete(self, names: list[str]) -> list[str]:
        """The individuals (``ids``) with a value for every named variable: those an analysis
        of these variables covers."""
        present = self.frame(names).notna().all(axis=1).to_numpy()
        return [k for k, keep in zip(self.ids, present) if keep]

    def frame(self, names: list[str]) -> pd.DataFrame:
        """One row per individual (ordered by dataset and pseudonym), one column per variable:
        numeric ones as float64, categorical ones as pandas Categoricals (levels sorted);
        missing values are NaN."""
        names = list(dict.fromkeys(names))
        resolved = [variables.resolve(n) for n in names]
        return cache.cached((self.fingerprint, "frame", tuple(names)), lambda: self._frame(names, resolved))

    def _frame(self, names: list[str], resolved: list[Variable]) -> pd.DataFrame:
        columns = ", ".join([f"{v.sql} AS v{k}" for k, v in enumerate(resolved)] or ["NULL AS _"])
        params = [p for v in resolved for p in v.params] + self._params
        df = self.con.execute(
            f"SELECT {columns} FROM individuals i WHERE {self._where} ORDER BY i.dataset_id, i.id", params
        ).df()
        if not resolved:
            return pd.DataFrame(index=range(len(df)))
        df.columns = names
        for name, var in zip(names, resolved):
            df[name] = df[name].astype("category") if var.categorical else df[name].astype(float)
        return df


def select(con: duckdb.DuckDBPyConnection, node: str, cohort: Cohort | dict | None,
           policy: GuardPolicy | None = None, versions: Mapping[str, str] | None = None) -> Selection:
    """The cohort at this node; an unknown variable or a malformed filter is an AnalysisError.
    ``versions`` (dataset → content hash), when the caller knows the store cannot change
    under it, saves looking them up."""
    return Selection(con, node, parse_cohort(cohort), policy or GuardPolicy(), versions)


def check(cohort: Cohort) -> None:
    """AnalysisError for a filter no node could run (unknown variable, wrong value type), so
    the hub can refuse a bad request before sending it anywhere."""
    _where(cohort)
