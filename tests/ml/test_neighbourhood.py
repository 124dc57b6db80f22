"""Local search: the single-substitution neighbours of the best measured variants, and the part of
a batch chosen among them."""

import numpy as np
import pytest

from activeloop.api.campaign import LocalSpec
from activeloop.landscapes import GB1_PARENT
from activeloop.ml.encodings import get_encoder
from activeloop.ml.library import CombinatorialLibrary, Library, VariantLibrary
from activeloop.ml.loop import propose_batch
from activeloop.ml.neighbourhood import Neighbourhood, local_size, neighbourhood
from activeloop.synthetic import SparseSpec, sparse_landscape

SITES = (39, 40, 41)


def brute_force(library: Library, centres: np.ndarray) -> np.ndarray:
    """Rows differing from a centre at exactly one site, by comparing every row's residues."""
    tokens = library.site_tokens(np.arange(len(library)))
    mine = library.site_tokens(centres)
    one = ((tokens[:, None, :] != mine[None, :, :]).sum(axis=2) == 1).any(axis=1)
    return np.setdiff1d(np.flatnonzero(one), library.excluded_rows())


@pytest.mark.parametrize("options", [
    {},
    {"residues": ["ACDE", "FGHIK", "AVLW"]},
    {"max_substitutions": 2},
    {"forbidden": ["C", "DG"], "exclude": ["V39A"]},
])
def test_combinatorial_neighbours_are_every_single_substitution_in_the_library(options):
    lib = CombinatorialLibrary(GB1_PARENT, SITES, "ACDEFGHIKLVW", **options)
    centres = np.random.default_rng(0).choice(np.setdiff1d(np.arange(len(lib)), lib.excluded_rows()), 4,
                                              replace=False)
    got = lib.neighbours(centres)
    assert np.array_equal(got, brute_force(lib, centres))
    assert np.array_equal(got, Library.neighbours(lib, centres))  # the scan of any library agrees
    assert len(got) and not np.isin(lib.excluded_rows(), got).any()


def test_variant_list_neighbours_by_scan():
    names = ["WT", "V39A", "V39C", "D40A", "V39A:D40A", "V39C:D40C", "G41A"]
    lib = VariantLibrary.from_strings(GB1_PARENT, names)
    near = lib.names_of(lib.neighbours(lib.rows_of(["V39A"])))
    assert near == ["WT", "V39C", "V39A:D40A"]


def test_local_size_starts_at_from_round_and_follows_the_fraction():
    spec = LocalSpec(fraction=0.25, from_round=4)
    assert [local_size(spec, r, 96) for r in (1, 3, 4, 9)] == [0, 0, 24, 24]
    assert local_size(spec, 4, 10) == 2 and local_size(LocalSpec(fraction=1), 4, 7) == 7
    assert local_size(LocalSpec(fraction=0), 9, 96) == 0


def test_neighbourhood_centres_are_the_best_measured():
    lib = CombinatorialLibrary(GB1_PARENT, SITES, "ACDEFGHIKLVW")
    measured = np.array([10, 20, 30, 40, 50])
    y = np.array([0.1, 0.9, 0.5, 0.9, 0.2])
    hood = neighbourhood(lib, LocalSpec(around=2, from_round=4), 5, 96, measured, y)
    assert hood is not None and hood.centres.tolist() == [20, 40] and hood.size == 24  # ties: the earlier first
    assert np.array_equal(hood.rows, brute_force(lib, hood.centres))
    assert neighbourhood(lib, LocalSpec(from_round=4), 3, 96, measured, y) is None


@pytest.fixture(scope="module")
def sparse():
    land = sparse_landscape(SparseSpec(seed=21, sites=3))
    X = get_encoder("onehot").encode(land.library, np.arange(len(land)))
    return land, X


def test_the_last_rows_are_neighbours_of_the_best_and_the_batch_is_whole(sparse):
    land, X = sparse
    rng = np.random.default_rng(3)
    measured = rng.choice(len(land), 120, replace=False)
    y = land.fitness[measured]
    pending = rng.choice(np.setdiff1d(np.arange(len(land)), measured), 30, replace=False)
    hood = neighbourhood(land.library, LocalSpec(), 4, 40, measured, y)
    result = propose_batch(X, measured, y, 40, surrogate="gp_epistasis", excluded=pending, seed=5, local=hood)
    rows = result.rows
    assert result.local == 10 and len(rows) == 40 and len(set(rows.tolist())) == 40
    assert not np.isin(rows, measured).any() and not np.isin(rows, pending).any()
    assert np.isin(rows[-10:], hood.rows).all()
    # the whole-library part is what the strategy alone chooses first for a batch of 30
    alone = propose_batch(X, measured, y, 30, surrogate="gp_epistasis", excluded=pending, seed=5)
    assert np.array_equal(rows[:30], alone.rows)
    again = propose_batch(X, measured, y, 40, surrogate="gp_epistasis", excluded=pending, seed=5, local=hood)
    assert np.array_equal(rows, again.rows)  # same seed, same batch


def test_a_small_neighbourhood_leaves_the_rest_to_the_whole_library(sparse):
    land, X = sparse
    measured = np.arange(0, 8000, 50)
    y = land.fitness[measured]
    hood = neighbourhood(land.library, LocalSpec(fraction=1, around=1), 4, 30, measured, y)
    assert hood is not None
    free = hood.rows[~np.isin(hood.rows, measured)]
    small = Neighbourhood(free[:5], hood.centres, 30)
    result = propose_batch(X, measured, y, 30, surrogate="gp_epistasis", seed=1, local=small)
    assert len(set(result.rows.tolist())) == 30 and set(free[:5].tolist()) <= set(result.rows.tolist())
    assert 0 < result.local <= 5 and set(result.rows[30 - result.local:].tolist()) <= set(free[:5].tolist())


def test_neighbours_the_whole_library_part_took_are_made_up_from_the_library(sparse):
    land, X = sparse
    measured = np.arange(0, 8000, 40)
    y = land.fitness[measured]
    alone = propose_batch(X, measured, y, 12, surrogate="gp_epistasis", acquisition="greedy")
    # a neighbourhood of the four variants the greedy choice ranks first: its whole-library part
    # (8) takes them all, so the neighbourhood has none left and its 4 come from the library
    hood = Neighbourhood(np.sort(alone.rows[:4]), measured[:1], 4)
    result = propose_batch(X, measured, y, 12, surrogate="gp_epistasis", acquisition="greedy", local=hood)
    assert result.local == 0 and np.array_equal(np.sort(result.rows), np.sort(alone.rows))


def test_sharded_choice_with_local_search_equals_one_process(sparse):
    land, X = sparse
    measured = np.random.default_rng(2).choice(len(land), 100, replace=False)
    y = land.fitness[measured]
    hood = neighbourhood(land.library, LocalSpec(), 4, 24, measured, y)
    one = propose_batch(X, measured, y, 24, surrogate="gp_epistasis", seed=7, local=hood)
    three = propose_batch(X, measured, y, 24, surrogate="gp_epistasis", seed=7, local=hood, shards=3)
    assert np.array_equal(one.rows, three.rows) and one.local == 6


def test_random_strategy_has_no_local_part(sparse):
    land, X = sparse
    measured = np.arange(50)
    hood = neighbourhood(land.library, LocalSpec(), 4, 20, measured, land.fitness[measured])
    result = propose_batch(X, measured, land.fitness[measured], 20, acquisition="random", local=hood)
    assert result.local == 0 and len(set(result.rows.tolist())) == 20
