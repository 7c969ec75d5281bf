"""Adaptive grids: each node merges base intervals only where its counts are too small, and
the hub finds the coarsest block wherever nodes differ."""

import numpy as np

from oncofed.analysis import grid


def test_blocks_are_as_fine_as_the_counts_allow():
    counts = np.array([[9, 7, 2, 3, 0, 0, 6, 5]])
    assert grid.blocks(counts, 5) == [(0, 1), (1, 2), (2, 4), (4, 6), (6, 7), (7, 8)]


def test_every_series_must_be_releasable_in_every_block():
    counts = np.array([[9, 7, 8, 6], [5, 1, 0, 5]])
    assert grid.blocks(counts, 5) == [(0, 2), (2, 3), (3, 4)]


def test_blocks_cover_a_range_that_is_not_a_power_of_two():
    assert grid.blocks(np.array([[6, 6, 6]]), 5) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_no_blocks_when_even_the_whole_range_is_too_small():
    assert grid.blocks(np.array([[1, 2, 0, 1]]), 5) is None


def test_with_no_minimum_every_interval_is_its_own_block():
    counts = np.array([[1, 0, 2, 1]])
    assert grid.blocks(counts, 1) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_the_hub_takes_the_coarsest_block_wherever_nodes_differ():
    a = [(0, 1), (1, 2), (2, 4), (4, 8)]
    b = [(0, 2), (2, 3), (3, 4), (4, 6), (6, 7)]
    agreed = grid.agree([*a, *b])
    assert agreed == [(0, 2), (2, 4), (4, 8)]
    starts = [s for s, _ in agreed]
    assert [grid.within(block, starts) for block in b] == [0, 1, 1, 2, 2]
