"""Run a federated analysis in one process, over node stores this process can open: the
same rounds the hub drives over HTTP (node steps, guard, hub step, until done), for tests,
benchmarks and notebooks next to the data.

Node steps run one after another. Every partial and every state goes through JSON on its
way, as it would over the wire, so a step that returns something JSON cannot carry fails here.
"""

from __future__ import annotations

import json

import duckdb

from oncofed.analysis import registry
from oncofed.analysis.base import AnalysisError, GuardRefusal, Partial
from oncofed.analysis.cohort import Cohort, select
from oncofed.privacy import guard
from oncofed.privacy.policy import GuardPolicy

MAX_ROUNDS = 200
OPEN = GuardPolicy(min_cell=1, min_records=1, max_parameter_ratio=1, differencing=False)  # no disclosure control


def _wire(data: dict) -> dict:
    return json.loads(json.dumps(data))


def run(analysis: str, params: dict, cohort: Cohort | dict | None,
        stores: dict[str, duckdb.DuckDBPyConnection], *,
        policy: GuardPolicy | None = None, version: str | None = None) -> dict:
    """The analysis's result. With a ``policy``, the guard judges every node's partial, as at a
    real node; a node it refuses is left out and named in the result's ``refused`` (after the
    first round, the run starts again without it, as the hub does). Without a policy,
    partials go unguarded, for exact comparisons."""
    a = registry.get(analysis, version)
    params = a.validate(params)
    data = {node: select(con, node, cohort, policy or OPEN) for node, con in stores.items()}
    refused: dict[str, str] = {}
    state: dict = {}
    for _ in range(MAX_ROUNDS):
        partials = {}
        for node, d in data.items():
            try:
                partial = a.node_step(d, params, state)
                partials[node] = Partial.from_json(_wire((guard.apply(partial, policy) if policy else partial).to_json()))
            except GuardRefusal as e:
                refused[node] = e.reason
        if not partials:
            raise AnalysisError("no node could answer: " + "; ".join(f"{n}: {r}" for n, r in refused.items()))
        if len(partials) < len(data) and state:  # a node dropped out mid-analysis: start again without it
            data, state = {node: data[node] for node in partials}, {}
            continue
        data = {node: data[node] for node in partials}
        step = a.hub_step(partials, params, state)
        if step.done:
            return {**_wire(step.result or {}), "refused": refused}
        state = _wire(step.state)
    raise AnalysisError(f"the analysis did not finish in {MAX_ROUNDS} rounds")
