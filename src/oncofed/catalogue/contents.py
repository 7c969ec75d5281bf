"""Everything a node's catalogue says, gathered from the node store in one read: the node,
its catalogue settings, and per dataset its registration, the steward's description and the
facts the data gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from oncofed.catalogue import description as described
from oncofed.catalogue.description import CatalogueSettings, DatasetDescription
from oncofed.catalogue.facts import DatasetFacts, facts
from oncofed.privacy.policy import GuardPolicy
from oncofed.store.store import DatasetInfo, Store


@dataclass(frozen=True)
class Entry:
    info: DatasetInfo
    description: DatasetDescription
    described_at: datetime | None
    facts: DatasetFacts


@dataclass(frozen=True)
class NodeCatalogue:
    node_id: str
    name: str
    country: str
    created_at: datetime
    settings: CatalogueSettings
    entries: tuple[Entry, ...]


def collect(store: Store, node_id: str, name: str, country: str, created_at: datetime,
            policy: GuardPolicy) -> NodeCatalogue:
    descriptions = described.saved(store.con)
    entries = []
    for info in store.datasets():
        description, at = descriptions.get(info.id, (DatasetDescription(), None))
        entries.append(Entry(info, description, at, facts(store, info.id, policy)))
    return NodeCatalogue(node_id, name, country, created_at, described.settings(store.con), tuple(entries))
