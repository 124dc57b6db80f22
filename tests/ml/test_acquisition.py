import numpy as np
import pytest

from activeloop.errors import ConfigError
from activeloop.ml.acquisition import STRATEGIES, get_strategy
from activeloop.ml.loop import propose_batch, transform_targets

rng0 = np.random.default_rng(0)
X = rng0.uniform(-1, 1, size=(400, 4))
Y = -((X - 0.3) ** 2).sum(1)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_proposes_q_distinct_unmeasured_unpending(name):
    measured = np.arange(0, 40)
    pending = np.arange(40, 60)
    result = propose_batch(
        X, measured, Y[measured], 12, surrogate="gp", acquisition=name, excluded=pending, seed=1
    )
    rows = result.rows
    assert len(rows) == 12
    assert len(set(rows.tolist())) == 12
    assert not set(rows.tolist()) & set(range(60))
    assert rows.min() >= 0 and rows.max() < len(X)


def test_model_based_strategies_beat_random_on_a_smooth_function():
    measured = np.arange(0, 40)
    means = {}
    for name in ("thompson", "ucb", "greedy", "logei", "random"):
        rows = propose_batch(X, measured, Y[measured], 10, surrogate="gp", acquisition=name, seed=2).rows
        means[name] = Y[rows].mean()
    for name in ("thompson", "ucb", "greedy", "logei"):
        assert means[name] > means["random"] + 0.3, means


def test_uncertainty_prefers_points_far_from_the_data():
    measured = np.nonzero((X ** 2).sum(1) < 0.6)[0]
    rows = propose_batch(X, measured, Y[measured], 10, surrogate="gp", acquisition="uncertainty").rows
    assert (X[rows] ** 2).sum(1).mean() > (X[measured] ** 2).sum(1).mean() + 0.5


def test_thompson_shortlists_a_large_library_and_still_returns_q():
    big = np.random.default_rng(1).uniform(-1, 1, size=(20_000, 4))
    y = -((big - 0.3) ** 2).sum(1)
    measured = np.arange(100)
    rows = propose_batch(big, measured, y[measured], 96, surrogate="gp", acquisition="thompson").rows
    assert len(set(rows.tolist())) == 96 and rows.min() >= 100


def test_errors_name_the_field():
    with pytest.raises(ConfigError, match="acquisition.strategy: unknown strategy 'ei'"):
        get_strategy("ei")
    with pytest.raises(ConfigError, match="batch_size: 500 proposals asked but only 360"):
        propose_batch(X, np.arange(40), Y[:40], 500, acquisition="random")
    with pytest.raises(ConfigError, match="y: measured values must be finite"):
        propose_batch(X, np.arange(3), np.array([1.0, np.nan, 2.0]), 2)


def test_rank_transform_keeps_order():
    y = np.array([0.0, 5.0, 0.1, 100.0])
    t = transform_targets(y, "rank")
    assert list(np.argsort(t)) == list(np.argsort(y))
    assert abs(t.mean()) < 1e-9


@pytest.mark.parametrize("surrogate", ["boosting_ensemble", "mlp_ensemble"])
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_works_with_ensemble_surrogates(surrogate, name):
    """Ensembles (trees, MLPs, students) serve every strategy, BoTorch's log-EI included."""
    measured = np.arange(0, 60)
    result = propose_batch(X, measured, Y[measured], 8, surrogate=surrogate, acquisition=name,
                           excluded=np.arange(60, 80), seed=3)
    rows = result.rows
    assert len(set(rows.tolist())) == 8 and not set(rows.tolist()) & set(range(80))
    if name != "random" and name != "uncertainty":
        assert Y[rows].mean() > Y.mean(), (surrogate, name)


def test_ensemble_as_botorch_model_samples_its_members():
    import torch

    from activeloop.ml.surrogates import get_surrogate
    from activeloop.ml.surrogates.botorch_view import botorch_view

    s = get_surrogate("boosting_ensemble").fit(X[:60], Y[:60])
    model, baseline = botorch_view(s)
    assert baseline.shape == (60, 4)
    post = model.posterior(torch.as_tensor(X[:5]).unsqueeze(0))  # batch 1 x q 5 x d
    members = s.member_predictions(X[:5])
    np.testing.assert_allclose(post.mean.squeeze().numpy(), members.mean(0), rtol=1e-6)
    assert post.mean.shape == (1, 5, 1)
