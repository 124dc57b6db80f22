"""Chunked acquisition with a running top and variance pruning chooses what scoring every
candidate chooses (issue 13), and skips most variances."""

import numpy as np
import pytest

from activeloop.ml.acquisition import get_strategy
from activeloop.ml.candidates import Candidates, merge_top, top_k
from activeloop.ml.encodings import get_encoder
from activeloop.ml.library import CombinatorialLibrary
from activeloop.ml.surrogates import get_surrogate

PARENT = "MQYKLILNGKTLKGETTTEAVDAATAEKVFKQYANDNGVDGEWTYDDATKTFTVTE"


def test_running_top_equals_sorting_everything_with_ties_whatever_the_chunk():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, size=1000).astype(float)  # many ties
    rows = np.sort(rng.choice(5000, size=1000, replace=False))
    X = np.zeros((5000, 1))
    X[rows, 0] = scores
    expected = rows[np.argsort(-scores, kind="stable")[:37]]
    for chunk in (1000, 101, 7):
        cands = Candidates.from_array(X, chunk=chunk)
        got, top = top_k(cands, rows, 37, lambda x: x[:, 0])
        np.testing.assert_array_equal(got, expected)
        # an exact bound prunes without changing the result
        got, _ = top_k(cands, rows, 37, lambda x: x[:, 0], bound=lambda x: x[:, 0] + 0.5)
        np.testing.assert_array_equal(got, expected)
    r, s = merge_top(np.array([5, 3, 9]), np.array([1.0, 1.0, 2.0]), 2)
    assert list(r) == [9, 3] and list(s) == [2.0, 1.0]


def _fitted(alphabet: str, n: int):
    library = CombinatorialLibrary(PARENT, [39, 40, 41, 54], alphabet=alphabet)
    X = get_encoder("onehot").encode(library)
    rng = np.random.default_rng(1)
    effects = rng.normal(size=X.shape[1])
    truth = X @ effects + 0.5 * (X[:, 0] * X[:, 25]) + rng.normal(0, 0.3, len(X))
    measured = rng.choice(len(X), size=n, replace=False)
    model = get_surrogate("gp_epistasis", seed=0).fit(X[measured], truth[measured])
    available = np.ones(len(X), dtype=bool)
    available[measured] = False
    return X, model, available, float(truth[measured].max())


@pytest.fixture(scope="module")
def fitted():
    return _fitted("ACDEFGHW", 60)  # 4,096 variants


class CountingSurrogate:
    """Counts the candidates whose full prediction (with variance) was asked for."""

    def __init__(self, model):
        self.model, self.predicted = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def predict(self, X):
        self.predicted += len(X)
        return self.model.predict(X)


@pytest.mark.parametrize("name,options,q", [
    ("ucb", {}, 12), ("greedy", {}, 12), ("uncertainty", {}, 12),
    ("thompson", {"shortlist": 300}, 12), ("logei", {"shortlist": 40}, 4),
])
def test_chunked_pruned_acquisition_chooses_the_exhaustive_batch(fitted, name, options, q):
    X, model, available, best = fitted
    strategy = get_strategy(name, **options)
    whole = strategy.select(model, Candidates.from_array(X, chunk=len(X)), available, q, best,
                            np.random.default_rng(3))
    chunked = strategy.select(model, Candidates.from_array(X, chunk=173), available, q, best,
                              np.random.default_rng(3))
    np.testing.assert_array_equal(chunked, whole)
    assert len(set(whole.tolist())) == q and available[whole].all()


def test_variances_are_computed_only_where_they_can_matter():
    X, model, available, best = _fitted("ACDEFGHIKLMN", 200)  # 20,736 variants
    counting = CountingSurrogate(model)
    rows = get_strategy("ucb").select(counting, Candidates.from_array(X, chunk=2048), available, 96, best,
                                      np.random.default_rng(0))
    assert len(rows) == 96
    # most candidates were ruled out by mean + beta * prior std: far fewer full predictions
    # (27% here; 11% of 160,000 with 384 measured)
    assert counting.predicted < 0.4 * available.sum(), counting.predicted
    assert model.std_bound() >= model.predict(X[:500]).std.max()
    np.testing.assert_allclose(model.predict_mean(X[:500]), model.predict(X[:500]).mean, rtol=1e-9, atol=1e-9)
