"""Adaptive grids (survival intervals, histogram bins): as fine as the nodes' counts allow.

The request fixes a base grid of intervals 0..n-1. Each node merges them into *dyadic blocks*
— [k·2^s, (k+1)·2^s) — as fine as it can while every count it would release passes its
guard (zero, or at least the minimum cell): fine where its data are dense, coarse in sparse
tails. A node never releases a count the guard would withhold, so it never has to release a
coarser grid afterwards, which would give the withheld count away by subtraction. Dyadic
blocks of two nodes are either nested or apart, so the hub takes the coarser block wherever
the nodes differ and adds every node's counts into it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import numpy as np

Block = tuple[int, int]  # base intervals [start, end)
UNRELEASABLE = "unreleasable"  # stats key of a node none of whose blocks could be released


def blocks(counts: np.ndarray, min_cell: int) -> list[Block] | None:
    """The finest dyadic blocks covering the base intervals whose counts (one row per series,
    one column per base interval) can all be released; None when not even one block can.
    Blocks with nothing in them are not split: they release no cell."""
    size = 1 << max(0, (counts.shape[1] - 1).bit_length())
    total = np.zeros((counts.shape[0], size + 1))
    total[:, 1:counts.shape[1] + 1] = np.cumsum(counts, axis=1)
    total[:, counts.shape[1] + 1:] = total[:, counts.shape[1]:counts.shape[1] + 1]

    def finest(start: int, width: int) -> list[Block] | None:
        sums = total[:, start + width] - total[:, start]
        if not ((sums == 0) | (sums >= min_cell)).all():
            return None  # a block whose sum cannot be released has no releasable split either
        if width == 1 or not sums.any():
            return [(start, start + width)]
        half = width // 2
        left, right = finest(start, half), finest(start + half, half)
        return left + right if left is not None and right is not None else [(start, start + width)]

    return finest(0, size)


def agree(spans: Iterable[Block]) -> list[Block]:
    """The coarsest of the nodes' blocks wherever they differ, in order."""
    coarsest: list[Block] = []
    for start, end in sorted(set(spans), key=lambda b: (b[0], b[0] - b[1])):
        if not coarsest or start >= coarsest[-1][1]:  # else: inside the block before
            coarsest.append((start, end))
    return coarsest


def within(block: Block, starts: list[int]) -> int:
    """The index of the agreed block holding a node's block (``starts``: the agreed blocks' starts)."""
    return bisect.bisect_right(starts, block[0]) - 1
