"""The sparse synthetic landscapes (issue 21): mostly dead, a sharp peak, the peak not the additive
model's guess, and the same landscape from the same seed."""

import numpy as np

from activeloop.synthetic import SparseSpec, family, sparse_landscape


def test_a_four_site_landscape_is_sparse_peaked_and_not_additive():
    spec = SparseSpec(seed=21, sites=4)
    land = sparse_landscape(spec)
    f = land.fitness
    assert len(f) == 160_000 and len(land.library) == 160_000
    assert np.mean(f == 0) >= 0.6
    assert 1 <= np.sum(f >= f.max() / 2) < 1e-4 * len(f)
    # the best additive model of a full factorial design is the per-site mean: its top is not the peak
    tokens = land.library.tokens[:, land.library.variable_positions]
    additive = sum(np.bincount(tokens[:, i], weights=f, minlength=20)[tokens[:, i]] for i in range(4))
    assert np.argmax(additive) != np.argmax(f)
    again = sparse_landscape(SparseSpec(seed=21, sites=4))
    np.testing.assert_array_equal(again.fitness, f)
    assert again.library.names == land.library.names and spec.attempts == [21, 1021]


def test_the_family_is_seeded_and_a_three_site_landscape_keeps_the_peak_alone():
    assert [s.seed for s in family(count=8)] == list(range(21, 29))
    land = sparse_landscape(SparseSpec(seed=3, sites=3))
    f = land.fitness
    assert len(f) == 8000 and np.mean(f == 0) >= 0.6 and np.sum(f >= f.max() / 2) == 1
