"""What an analysis gives back to a researcher: the hub's result as DataFrames named the way
lifelines and statsmodels name them, each node's part, and a plot where one helps."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


class Provenance:
    """A run's provenance: an RO-Crate (Workflow Run Crate) the hub builds for every completed
    run, naming who ran what, when, on which nodes and dataset versions, and the result."""

    def __init__(self, run_id: str, fetch: Callable[[str], bytes]):
        self.run_id, self._fetch = run_id, fetch

    def zip(self) -> bytes:
        """The crate as the hub serves it, zipped."""
        return self._fetch(self.run_id)

    def save(self, path: str | Path) -> Path:
        """Write the crate into the folder ``path`` (made if missing), or as a zip file when
        ``path`` ends in .zip; ``oncofed rerun PATH`` re-runs it."""
        path = Path(path)
        data = self.zip()
        if path.suffix == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return path
        path.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            z.extractall(path)
        return path

    def __repr__(self) -> str:
        return f"<Provenance of run {self.run_id}: .save(folder) writes its RO-Crate>"


class Result:
    def __init__(self, raw: dict, provenance: Callable[[str], bytes] | None = None):
        self.raw = raw
        self.run_id: str = raw["run"]
        self.analysis: str = raw["analysis"]
        self.result: dict = raw["result"] or {}
        self._provenance = provenance

    @property
    def provenance(self) -> Provenance:
        """The run's RO-Crate: ``result.provenance.save("crate/")``."""
        if self._provenance is None:
            raise ValueError("this result is not connected to a hub, so its provenance cannot be fetched")
        return Provenance(self.run_id, self._provenance)

    @property
    def per_node(self) -> pd.DataFrame:
        """Each node's status (ok / refused / timed out / error), why, and the dataset versions it used."""
        rows = [{"node": n, **p} for n, p in sorted(self.raw["per_node"].items())]
        return pd.DataFrame(rows).set_index("node") if rows else pd.DataFrame()

    @property
    def summary(self) -> pd.DataFrame:
        return _frame(self.result.get("summary"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.analysis} run {self.run_id}>\n{self.summary}"


def _frame(table) -> pd.DataFrame:
    """A result table: {"columns": [...], "index": [...], "data": [[...]]} (pandas 'split')."""
    if table is None:
        return pd.DataFrame()
    frame = pd.DataFrame(table["data"], columns=table["columns"])
    if table.get("index") is not None:
        frame.index = pd.Index(table["index"], name=table.get("index_name"))
    return frame


class CountResult(Result):
    @property
    def count(self) -> int | None:
        """The number of individuals; None when a node's share was too small to release."""
        return self.result.get("count")

    @property
    def summary(self) -> pd.DataFrame:
        """Individuals per node (<NA> where a node withheld a small count)."""
        nodes = self.result.get("nodes") or {}
        return pd.DataFrame({"count": pd.array(list(nodes.values()), dtype="Int64")},
                            index=pd.Index(list(nodes), name="node"))


class CrosstabResult(Result):
    @property
    def table(self) -> pd.DataFrame:
        return _frame(self.result.get("table"))

    @property
    def summary(self) -> pd.DataFrame:
        return self.table


class SummaryResult(Result):
    @property
    def summary(self) -> pd.DataFrame:
        """n, mean, sd, missing, the guarded range and the quantiles, one row each."""
        r = self.result
        rows = {"n": r.get("n"), "mean": r.get("mean"), "sd": r.get("sd"), "missing": r.get("missing")}
        if r.get("range"):
            rows |= {"range low": r["range"][0], "range high": r["range"][1]}
        rows |= {f"quantile {q}": v for q, v in (r.get("quantiles") or {}).items()}
        return pd.DataFrame({"value": list(rows.values())}, index=pd.Index(list(rows), name="statistic"))

    def plot(self, ax=None):
        """The histogram the nodes released (bins merged where their counts were small)."""
        import matplotlib.pyplot as plt

        histogram = self.result.get("histogram")
        if not histogram:
            raise ValueError("this summary has no histogram: " + "; ".join(self.result.get("notes", [])))
        ax = ax or plt.subplots()[1]
        edges = histogram["edges"]
        ax.stairs(histogram["counts"], edges, fill=True, alpha=0.6)
        ax.set_xlabel(self.result.get("variable", ""))
        ax.set_ylabel("individuals")
        return ax


class KMResult(Result):
    def plot(self, ax=None):
        """Survival with its confidence band, one curve per group."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots()[1]
        s = self.summary
        groups = s.groupby("group") if "group" in s.columns else [(None, s)]
        for name, g in groups:
            ax.step(g["timeline"], g["survival"], where="post", label=name)
            ax.fill_between(g["timeline"], g["ci_lower"], g["ci_upper"], step="post", alpha=0.2)
        ax.set_xlabel("days")
        ax.set_ylabel("survival probability")
        ax.set_ylim(0, 1.02)
        if "group" in s.columns:
            ax.legend()
        return ax


class CoxResult(Result):
    def plot(self, ax=None):
        """A forest plot of the coefficients with their 95% intervals."""
        import matplotlib.pyplot as plt

        s = self.summary
        ax = ax or plt.subplots(figsize=(6, 0.4 * len(s) + 1))[1]
        y = range(len(s))
        ax.errorbar(s["coef"], list(y), xerr=[s["coef"] - s["coef lower 95%"], s["coef upper 95%"] - s["coef"]],
                    fmt="o", capsize=3)
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_yticks(list(y), s.index)
        ax.set_xlabel("log hazard ratio (95% CI)")
        return ax


class Rerun:
    """A recorded run run again (``Federation.rerun``): whether the result is identical, and if
    not, where it differs and which dataset versions changed."""

    def __init__(self, recorded, result: Result, dataset_changes: list, differences: list[str]):
        self.recorded = recorded  # oncofed.hub.provenance.Recorded: what the crate says
        self.result = result
        self.dataset_changes = dataset_changes  # [DatasetChange(node, dataset, old, new)]
        self.differences = differences  # where the results differ, e.g. "result.count: 228 → 233"

    @property
    def identical(self) -> bool:
        return not self.differences

    def to_json(self) -> dict:
        return {"run": self.recorded.run_id, "rerun": self.result.run_id, "analysis": self.recorded.analysis,
                "version": self.recorded.version, "identical": self.identical, "differences": self.differences,
                "dataset_changes": [{"node": c.node, "dataset": c.dataset, "old": c.old, "new": c.new}
                                    for c in self.dataset_changes]}

    def __repr__(self) -> str:
        head = f"rerun of {self.recorded.analysis} run {self.recorded.run_id}: "
        if self.identical:
            return head + "identical result" + ("" if not self.dataset_changes else " (though datasets changed)")
        lines = [head + "the result differs"] + [f"  {d}" for d in self.differences]
        lines += [f"  dataset changed: {c}" for c in self.dataset_changes]
        return "\n".join(lines)


_RESULTS = {"count": CountResult, "crosstab": CrosstabResult, "summary": SummaryResult, "km": KMResult,
            "cox": CoxResult}


def result_for(analysis: str) -> type[Result]:
    return _RESULTS.get(analysis, Result)
