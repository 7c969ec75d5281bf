"""Adaptive grids: each node merges base intervals only where its counts are too small, and
the hub keeps the cuts no node removed."""

import numpy as np

from oncofed.analysis import grid


def test_blocks_are_as_fine_as_the_counts_allow():
    counts = np.array([[9, 7, 2, 3, 0, 0, 6, 5]])
    assert grid.blocks(counts, 5) == [(0, 1), (1, 2), (2, 4), (4, 5), (5, 6), (6, 7), (7, 8)]


def test_a_small_tail_merges_with_its_neighbour_only():
    counts = np.array([[9, 7, 8, 6, 6, 2]])
    assert grid.blocks(counts, 5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 6)]


def test_the_less_significant_cut_goes_first():
    counts = np.array([[9, 7, 8, 2, 6, 9, 9, 9]])  # interval 3 merges across cut 3, not cut 4
    assert grid.blocks(counts, 5) == [(0, 1), (1, 2), (2, 4), (4, 5), (5, 6), (6, 7), (7, 8)]


def test_every_series_must_be_releasable_in_every_block():
    counts = np.array([[9, 7, 8, 6], [5, 1, 0, 5]])
    assert grid.blocks(counts, 5) == [(0, 2), (2, 3), (3, 4)]


def test_no_blocks_when_even_the_whole_range_is_too_small():
    assert grid.blocks(np.array([[1, 2, 0, 1]]), 5) is None


def test_with_no_minimum_every_interval_is_its_own_block():
    assert grid.blocks(np.array([[1, 0, 2, 1]]), 1) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_the_hub_keeps_the_cuts_no_node_removed():
    a = [(0, 1), (1, 2), (2, 4), (6, 8)]  # nothing in 4..6: any cut there suits a
    b = [(0, 2), (2, 3), (3, 4), (4, 5), (5, 7)]
    agreed = grid.agree([a, b])
    assert agreed == [(0, 2), (2, 4), (4, 5), (5, 8)]
    starts = [s for s, _ in agreed]
    assert [grid.within(block, starts) for block in a + b] == [0, 0, 1, 3, 0, 1, 1, 2, 3]
