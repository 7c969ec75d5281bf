"""A small process-wide LRU for what a node step rebuilds from its rows on every round.

An iterative analysis (Cox, GLM) calls the node step once per Newton round with new
parameters but the same cohort; pulling the rows from the store and sorting them each round
would dominate its cost. Keys start with the cohort's fingerprint (node, dataset content
hashes, cohort definition, see ``cohort.Selection.fingerprint``), so a new dataset version or
another cohort never meets a stale entry. Entries are whole arrays of one cohort's rows:
``MAX_ENTRIES`` bounds the memory, and a node that serves many researchers at once simply
recomputes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

MAX_ENTRIES = 16

T = TypeVar("T")

_entries: OrderedDict[Hashable, object] = OrderedDict()
_lock = threading.Lock()


def cached(key: Hashable | None, build: Callable[[], T]) -> T:
    """``build()``, remembered under ``key`` (None: not cached)."""
    if key is None:
        return build()
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]  # type: ignore[return-value]
    value = build()
    with _lock:
        _entries[key] = value
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()
