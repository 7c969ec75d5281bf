"""The demo federation's nodes, built from the real public cohorts in the repository's data/
folder as `data/demo.yaml` lays them out."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from oncofed.ingest.pipeline import ingest
from oncofed.node import home
from oncofed.node.home import NodeHome

DATA = Path(__file__).resolve().parents[2] / "data"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DemoIngest(_Strict):
    format: str
    files: list[str]
    mapping: str | None = None
    where: str | None = None


class DemoDataset(_Strict):
    id: str
    title: str
    description: str
    licence: str | None = None
    duo: list[str] = []
    ingest: list[DemoIngest]


class DemoNode(_Strict):
    name: str
    country: str
    datasets: list[DemoDataset]


class DemoPlan(_Strict):
    nodes: list[DemoNode]


def plan(data: Path) -> DemoPlan:
    return DemoPlan.model_validate(yaml.safe_load((data / "demo.yaml").read_text()))


def build(folder: Path, data: Path = DATA) -> list[NodeHome]:
    """(Re)create every demo node under ``folder`` and ingest its datasets."""
    if folder.exists():
        shutil.rmtree(folder)
    nodes = []
    for n in plan(data).nodes:
        h = home.init(folder / n.name, n.name, n.country)
        with h.store() as store:
            for d in n.datasets:
                store.add_dataset(d.id, d.title, description=d.description, licence=d.licence, duo=d.duo)
        for d in n.datasets:
            for step in d.ingest:
                ingest(h, d.id, step.format, [data / f for f in step.files],
                       mapping=data / step.mapping if step.mapping else None, where=step.where)
        nodes.append(h)
    return nodes
