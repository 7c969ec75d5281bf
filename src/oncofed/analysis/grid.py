"""Adaptive grids (survival intervals, histogram bins): as fine as the nodes' counts allow.

The request fixes a base grid of intervals 0..n-1; the cut between intervals c-1 and c is
cut c. Each node removes cuts, merging neighbouring intervals, until every count it would
release passes its guard (zero, or at least the minimum cell): fine where its data are
dense, coarse in sparse tails. It never releases a count the guard would withhold, so it
never has to release a coarser grid afterwards, which would give the withheld count away by
subtraction. The hub keeps the cuts no node removed (inside a stretch where a node has
nothing, any cut suits it), so every node's blocks add up into the agreed ones. For the
nodes to remove the same cuts where they can, a node removes the least significant cut
first: the one at the smallest power of two (cut 6 before cut 4 before cut 8).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import numpy as np

from oncofed.analysis import cells

Block = tuple[int, int]  # base intervals [start, end)
UNRELEASABLE = "unreleasable"  # stats key of a node that cannot release its counts on any grid


def _significance(cut: np.ndarray) -> np.ndarray:
    """The power of two a cut sits at (trailing zero bits)."""
    return np.log2(cut & -cut).astype(int)


def blocks(counts: np.ndarray, min_cell: int) -> list[Block] | None:
    """The node's blocks for its counts (one row per series, one column per base interval),
    every one releasable in every series; None when even one block for all is not."""
    n = counts.shape[1]
    total = np.concatenate([np.zeros((len(counts), 1)), np.cumsum(counts, axis=1)], axis=1)
    cuts = np.arange(1, n)
    while True:
        bounds = np.r_[0, cuts, n]
        sums = total[:, bounds[1:]] - total[:, bounds[:-1]]
        bad = np.flatnonzero(~cells.releasable(sums, min_cell).all(axis=0))
        if not len(bad):
            return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        if not len(cuts):
            return None
        # each bad block drops its less significant bounding cut (the earlier one on a tie)
        left = np.where(bad > 0, bad - 1, bad)  # a first block has only a right cut, a last only a left
        right = np.where(bad < len(cuts), bad, bad - 1)
        drop = np.where(_significance(cuts[right]) < _significance(cuts[left]), right, left)
        cuts = np.delete(cuts, np.unique(drop))


def agree(nodes: Iterable[Iterable[Block]], size: int | None = None) -> list[Block]:
    """The blocks between the cuts no node removed, given each node's blocks with counts, over
    the ``size`` base intervals (by default, up to the last block with counts)."""
    nodes = [list(found) for found in nodes]
    n = size if size is not None else max((end for found in nodes for _, end in found), default=0)
    kept = np.ones(n + 1, dtype=bool)
    for found in nodes:
        inside = np.zeros(n + 2, dtype=int)  # +1 at each block's first inner cut, -1 after its last
        for start, end in found:
            inside[start + 1] += 1
            inside[end] -= 1
        kept &= np.cumsum(inside)[: n + 1] == 0
    cuts = np.flatnonzero(kept[1:n]) + 1
    bounds = np.r_[0, cuts, n] if n else np.array([0])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def within(block: Block, starts: list[int]) -> int:
    """The index of the agreed block holding a node's block (``starts``: the agreed blocks' starts)."""
    return bisect.bisect_right(starts, block[0]) - 1
