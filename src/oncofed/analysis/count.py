"""Count: how many individuals the cohort holds, per node and in total."""

from __future__ import annotations

from oncofed.analysis.base import CohortData, Partial, Step
from oncofed.analysis.params import Params, parse
from oncofed.analysis.registry import Registered

NAME, VERSION = "count", "1"
CELL = "count"


class CountParams(Params):
    pass


def validate(params: dict) -> dict:
    return parse(CountParams, params).model_dump()


def node_step(data: CohortData, params: dict, state: dict) -> Partial:
    n = data.records
    return Partial(records=n, cells={CELL: n})


def hub_step(partials: dict[str, Partial], params: dict, state: dict) -> Step:
    nodes = {node: None if CELL in p.suppressed else p.cells.get(CELL, 0) for node, p in partials.items()}
    released = [n for n in nodes.values() if n is not None]
    suppressed = sorted(node for node, n in nodes.items() if n is None)
    return Step(True, result={
        "analysis": NAME,
        "count": None if suppressed else sum(released),  # a total with a withheld part is unknown
        "at_least": sum(released),
        "nodes": nodes,
        "suppressed": suppressed,
    })


ANALYSIS = Registered(NAME, VERSION, validate, node_step, hub_step)
