"""Sharded acquisition (issue 13): shards rank slices of the library, the merge chooses the batch
the unsharded computation chooses; the epistasis GP's mean is a sum of table lookups."""

import numpy as np
import pytest

from activeloop.ml.encodings import get_encoder
from activeloop.ml.library import CombinatorialLibrary
from activeloop.ml.loop import propose_batch
from activeloop.ml.shards import free_rows, shard_range
from activeloop.ml.surrogates import get_surrogate
from activeloop.ml.surrogates.kernels import one_hot_tokens

PARENT = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"


@pytest.fixture(scope="module")
def landscape():
    library = CombinatorialLibrary(PARENT, [39, 40, 41, 54], alphabet="ACDEFGHW")  # 4,096
    X = get_encoder("onehot").encode(library)
    rng = np.random.default_rng(4)
    y = X @ rng.normal(size=X.shape[1]) + 0.7 * X[:, 3] * X[:, 30] + rng.normal(0, 0.2, len(X))
    measured = rng.choice(len(X), size=48, replace=False)
    pending = rng.choice(np.setdiff1d(np.arange(len(X)), measured), size=30, replace=False)
    return X, y, measured, pending


def test_shards_partition_the_library():
    for n, shards in ((10, 3), (4096, 7), (5, 5)):
        ranges = [shard_range(n, shards, i) for i in range(shards)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert max(e - s for s, e in ranges) - min(e - s for s, e in ranges) <= 1
    with pytest.raises(ValueError, match="shard: 3 is not in 0..2"):
        shard_range(10, 3, 3)
    np.testing.assert_array_equal(free_rows(10, 15, np.array([2, 11, 14, 20])), [10, 12, 13])


@pytest.mark.parametrize("strategy,q", [("thompson", 16), ("ucb", 16), ("greedy", 16),
                                        ("uncertainty", 16), ("logei", 4), ("random", 16)])
def test_sharded_choice_equals_unsharded(landscape, strategy, q):
    X, y, measured, pending = landscape
    kwargs = {"surrogate": "gp_epistasis", "acquisition": strategy, "transform": "rank",
              "excluded": pending, "seed": 11}
    whole = propose_batch(X, measured, y[measured], q, **kwargs)
    for shards in (3, 7):
        sharded = propose_batch(X, measured, y[measured], q, shards=shards, **kwargs)
        np.testing.assert_array_equal(sharded.rows, whole.rows)
    assert not set(whole.rows) & (set(measured) | set(pending))


def test_thompson_shortlist_is_merged_from_shards(landscape):
    """A library larger than Thompson's shortlist: each shard keeps its own top 1,500."""
    library = CombinatorialLibrary(PARENT, [39, 40, 41, 54], alphabet="ACDEFGHIKLM")  # 14,641
    X = get_encoder("onehot").encode(library)
    rng = np.random.default_rng(0)
    y = X @ rng.normal(size=X.shape[1])
    measured = rng.choice(len(X), size=60, replace=False)
    whole = propose_batch(X, measured, y[measured], 24, surrogate="gp_epistasis", seed=2)
    sharded = propose_batch(X, measured, y[measured], 24, surrogate="gp_epistasis", seed=2, shards=4)
    np.testing.assert_array_equal(sharded.rows, whole.rows)


def test_epistasis_mean_by_table_lookup_equals_the_kernel(landscape):
    X, y, measured, _ = landscape
    for prior in (False, True):
        features = np.hstack([X, np.linspace(-1, 1, len(X))[:, None]]) if prior else X
        model = get_surrogate("gp_epistasis", prior=prior).fit(features[measured], y[measured])
        assert model._tables() is not None  # one-hot inputs: the lookup path is taken
        np.testing.assert_allclose(model.predict_mean(features), model.predict(features).mean,
                                   rtol=1e-10, atol=1e-10)
    # not one-hot (a block with two ones, or other values): no tokens, the kernel path
    assert one_hot_tokens(X[:5]) is not None
    bad = X[:5].copy()
    bad[0, 1] = 1.0
    assert one_hot_tokens(bad) is None
    assert one_hot_tokens(X[:5] * 0.5) is None
    physchem = get_encoder("physchem").encode(CombinatorialLibrary(PARENT, [39, 40], alphabet="ACDE"))
    model = get_surrogate("gp_epistasis").fit(physchem[:10], np.arange(10.0))
    assert model._tables() is None
    np.testing.assert_allclose(model.predict_mean(physchem), model.predict(physchem).mean, rtol=1e-9, atol=1e-9)
