"""How the portal shows an analysis run: figures (SVG, PNG), tables, and CSV, all from the
run's JSON as ``GET /api/analyses/{run}`` serves it, through the SDK's result classes
(``client.results``), so a figure in the portal is the one ``result.plot()`` draws in a
notebook.

A count the nodes withheld reaches the hub as nothing (``None``), and is shown in every form
here — page, CSV, figure — never as a number: a node's own as ``< k`` (k its minimum cell), a
total with withheld parts by the bounds the released parts give (``portal_cohort``).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from oncofed.client import results
from oncofed.hub.portal_cohort import WITHHELD, count_total, shown_count
from oncofed.model import vocabulary

FORMATS = {"svg": "image/svg+xml", "png": "image/png"}
FIGURES = ("km", "cox", "summary")


def label(value: object) -> str:
    """A level as a reader knows it: a code with its label."""
    text = str(value)
    found = vocabulary.label(text) if ":" in text else None
    return f"{found} ({text})" if found else text


def has_figure(run: dict) -> bool:
    result = run.get("result") or {}
    return run["analysis"] in FIGURES and (run["analysis"] != "summary" or bool(result.get("histogram")))


def figure(run: dict) -> Figure:
    """The run's figure (``has_figure`` says whether it has one)."""
    kind = run["analysis"]
    if kind == "km":
        return _km(run)
    if kind == "cox":
        fig = Figure(figsize=(7, 0.45 * len(results.CoxResult(run).summary) + 1.6), layout="constrained")
        ax = fig.add_subplot()
        results.CoxResult(run).plot(ax=ax)
        ax.set_yticks(ax.get_yticks(), [label(t.get_text()) for t in ax.get_yticklabels()])
        ax.set_title("Cox proportional hazards: log hazard ratios (95% CI)")
        return fig
    hist = run["result"]["histogram"]
    edges, counts = np.asarray(hist["edges"]), np.asarray(hist["counts"])
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", edgecolor="white", color="#2b6cb0")
    ax.set_xlabel(run["result"]["variable"])
    ax.set_ylabel("individuals")
    ax.set_title(f"Distribution of {run['result']['variable']}")
    return fig


def _km(run: dict) -> Figure:
    km = results.KMResult(run)
    fig = Figure(figsize=(8, 5.6), layout="constrained")
    plot, table = fig.subplots(2, 1, height_ratios=[4, 1], sharex=True)
    km.plot(ax=plot)
    handles, names = plot.get_legend_handles_labels()
    if names:
        plot.legend(handles, [label(n) for n in names], title=run["result"].get("group") or None)
    plot.set_title("Kaplan–Meier survival with 95% confidence bands")
    plot.tick_params(labelbottom=True)
    plot.set_xlabel("")
    ticks = at_risk_ticks(km.summary)
    risk = at_risk(km.summary, ticks)
    table.set_xlim(plot.get_xlim())
    table.set_ylim(-0.5, len(risk.index) - 0.5)
    for row, (group, counts) in enumerate(risk.iterrows()):
        for t, n in zip(ticks, counts):
            table.text(t, len(risk.index) - 1 - row, f"{n:,}", ha="center", va="center", fontsize=8)
    table.set_yticks(range(len(risk.index)), [label(g) for g in reversed(risk.index)], fontsize=8)
    table.set_xticks(ticks)
    table.set_title("number at risk", fontsize=9, loc="left")
    table.set_xlabel("days")
    for side in ("top", "right", "left"):
        table.spines[side].set_visible(False)
    table.tick_params(left=False)
    return fig


def at_risk_ticks(summary: pd.DataFrame, n: int = 6) -> list[float]:
    end = float(summary["timeline"].max()) if len(summary) else 0.0
    return [float(t) for t in MaxNLocator(n, steps=[1, 2, 2.5, 5, 10]).tick_values(0, end or 1) if 0 <= t <= end]


def at_risk(summary: pd.DataFrame, ticks: list[float]) -> pd.DataFrame:
    """The number at risk of each group at each tick: those whose time (rounded up to the
    analysis grid, as the curve is computed) is at least the tick."""
    groups = summary.groupby("group") if "group" in summary.columns else [("all", summary)]
    rows = {}
    for group, part in groups:
        part = part.sort_values("timeline")
        times, risk = part["timeline"].to_numpy(), part["at_risk"].to_numpy()
        index = np.searchsorted(times, ticks, side="left")
        rows[str(group)] = [int(risk[i]) if i < len(risk) else 0 for i in index]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[_tick(t) for t in ticks])


def _tick(t: float) -> str:
    return f"{t:g}"


def render(fig: Figure, fmt: str) -> bytes:
    out = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    fig.savefig(out, format=fmt, dpi=150 if fmt == "png" else "figure", metadata=metadata)
    return out.getvalue()


def tables(run: dict) -> list[dict]:
    """The run's result as tables to show: {title, columns, rows} (cells as text)."""
    kind, result = run["analysis"], run.get("result") or {}
    out: list[dict] = []
    if kind == "km":
        s = results.KMResult(run).summary
        risk = at_risk(s, at_risk_ticks(s))
        out.append(_table("Number at risk (days)", risk.rename(index=label), "group"))
        medians = result.get("median")
        medians = medians if isinstance(medians, dict) else {"all": medians}
        out.append({"title": "Median survival (days)", "columns": ["group", "median"],
                    "rows": [[label(g), "not reached" if m is None else f"{m:g}"] for g, m in medians.items()]})
        if result.get("logrank"):
            lr = result["logrank"]
            out.append({"title": "Log-rank test", "columns": ["statistic", "df", "p"],
                        "rows": [[_num(lr["test_statistic"]), str(lr["df"]), _p(lr["p"])]]})
    elif kind in ("cox", "glm"):
        s = results.Result(run).summary
        s.index = [label(i) for i in s.index]
        out.append(_table("Coefficients", s, "covariate"))
    elif kind == "crosstab":
        table = results.CrosstabResult(run).table
        table.index = [label(i) for i in table.index]
        table.columns = [label(c) for c in table.columns]
        out.append(_table(f"{result['row']} × {result['column']}", table, result["row"]))
        if result.get("chi_square"):
            c = result["chi_square"]
            out.append({"title": "Pearson's chi-square test", "columns": ["statistic", "df", "p"],
                        "rows": [[_num(c["statistic"]), str(c["df"]), _p(c["p"])]]})
    elif kind == "summary":
        rows = [["n", _cell(result.get("n"))], ["mean", _num(result.get("mean"))], ["sd", _num(result.get("sd"))],
                ["missing", _cell(result.get("missing"))]]
        if result.get("range"):
            rows.append(["guarded range", f"{_num(result['range'][0])} – {_num(result['range'][1])}"])
        rows += [[f"quantile {q}", _num(v)] for q, v in (result.get("quantiles") or {}).items()]
        out.append({"title": f"Summary of {result.get('variable')}", "columns": ["statistic", "value"], "rows": rows})
    elif kind == "count":
        nodes = result.get("nodes", {})
        per_node = run.get("per_node") or {}
        rows = [[n, shown_count(c, "ok", per_node.get(n, {}).get("min_cell"))] for n, c in sorted(nodes.items())]
        total = count_total(result, per_node)
        out.append({"title": "Individuals", "columns": ["node", "count"], "rows": rows + [["all nodes", total]]})
    return out


def csv(run: dict) -> str:
    """The run's main table as CSV (withheld counts shown as in ``tables``)."""
    kind = run["analysis"]
    if kind == "km":
        frame = results.KMResult(run).summary
    elif kind in ("cox", "glm"):
        frame = results.Result(run).summary
    elif kind == "crosstab":
        frame = results.CrosstabResult(run).table
    else:
        rows = tables(run)
        frame = pd.DataFrame(rows[0]["rows"], columns=rows[0]["columns"]) if rows else pd.DataFrame()
        return frame.to_csv(index=False)
    return frame.to_csv()


def _table(title: str, frame: pd.DataFrame, index_name: str) -> dict:
    return {"title": title, "columns": [index_name, *map(str, frame.columns)],
            "rows": [[str(i), *(_cell(v) for v in row)] for i, row in zip(frame.index, frame.itertuples(index=False))]}


def _cell(value: object) -> str:
    if value is None:  # a count the guard withheld, of no one node
        return WITHHELD
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return _num(float(value))
    return str(value)


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}"


def _p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"
