import numpy as np
import pytest

from activeloop.errors import ConfigError
from activeloop.ml.calibration import calibration_report, plot_calibration
from activeloop.ml.surrogates import get_surrogate


def _data(n=60, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, d))
    y = np.sin(3 * X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.05 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("name", ["gp", "boosting_ensemble", "mlp_ensemble"])
def test_uncertainty_grows_away_from_the_data(name):
    X, y = _data()
    model = get_surrogate(name, seed=1).fit(X, y)
    near = model.predict(X[:10])
    far = model.predict(np.full((10, 3), 6.0) + np.arange(10)[:, None] * 0.1)
    if name != "boosting_ensemble":  # trees extrapolate flat: only the fit is checked for them
        assert far.std.mean() > 2 * near.std.mean()
    assert np.corrcoef(near.mean, y[:10])[0, 1] > 0.8


def test_gp_predictions_match_botorch_posterior_and_samples_are_joint():
    import torch

    X, y = _data()
    gp = get_surrogate("gp").fit(X, y)
    Xq = np.random.default_rng(3).uniform(-1, 1, size=(7, 3))
    pred = gp.predict(Xq)
    post = gp.model.posterior(torch.as_tensor(Xq))
    np.testing.assert_allclose(pred.mean, post.mean.squeeze(-1).detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pred.std, post.variance.squeeze(-1).sqrt().detach().numpy(), rtol=1e-4)
    draws = gp.sample(Xq, 4000, np.random.default_rng(0))
    assert draws.shape == (4000, 7)
    np.testing.assert_allclose(draws.mean(0), pred.mean, atol=4 * pred.std.max() / np.sqrt(4000) * 3)
    np.testing.assert_allclose(draws.std(0), pred.std, rtol=0.1)


def test_epistasis_gp_learns_a_pairwise_landscape_and_is_calibrated(tmp_path):
    from tests.conftest import make_landscape_csv

    from activeloop.landscapes import load_landscape
    from activeloop.ml.encodings import get_encoder

    land = load_landscape(make_landscape_csv(tmp_path / "l.csv"))
    X = get_encoder("onehot").encode(land.library)
    y = np.log(land.fitness)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    train, test = idx[:400], idx[400:1400]
    gp = get_surrogate("gp_epistasis").fit(X[train], y[train])
    pred = gp.predict(X[test])
    rep = calibration_report(y[test], pred.mean, pred.std)
    assert rep["spearman"] > 0.9
    assert 0.55 < rep["coverage_68"] < 0.85
    assert 0.88 < rep["coverage_95"] <= 1.0
    path = plot_calibration(y[test], pred.mean, pred.std, tmp_path / "cal.png")
    assert path.stat().st_size > 10_000


def test_unknown_surrogate_names_the_field():
    with pytest.raises(ConfigError, match="surrogate.kind: unknown surrogate 'svm'"):
        get_surrogate("svm")


def test_soft_epistasis_kernel_reduces_to_the_one_hot_kernel_for_tiny_lengthscales():
    import torch

    from activeloop.ml.encodings import descriptor_table
    from activeloop.ml.surrogates.kernels import EpistasisKernel, SoftEpistasisKernel

    table = torch.tensor(descriptor_table())
    pairs = [[0, 1], [0, 2], [3, 1], [3, 2]]
    x = table[torch.tensor(pairs)].reshape(len(pairs), -1).double()
    onehot = torch.zeros(len(pairs), 40, dtype=torch.float64)
    for r, (a, b) in enumerate(pairs):
        onehot[r, a] = onehot[r, 20 + b] = 1
    soft = SoftEpistasisKernel(descriptors=table.shape[1]).double()
    soft.lengthscale = 1e-3
    hard = EpistasisKernel(max_order=4).double()
    with torch.no_grad():
        np.testing.assert_allclose(soft(x, x).to_dense(), hard(onehot, onehot).to_dense(), atol=1e-9)
        np.testing.assert_allclose(soft(x, x, diag=True), hard(onehot, onehot).to_dense().diagonal(), atol=1e-9)
        soft.lengthscale = 3.0  # similar residues now count as partial matches
        k = soft(x, x).to_dense()
    assert (k > hard(onehot, onehot).to_dense().detach() - 1e-9).all()
    assert torch.linalg.eigvalsh(k).min() > -1e-8  # still a valid covariance


@pytest.mark.parametrize("name", ["gp_epistasis", "boosting_ensemble"])
def test_a_zero_shot_prior_helps_when_informative_and_is_ignored_when_not(tmp_path, name):
    """The prior's weight is learned: a score correlated with the truth (Spearman about 0.7)
    improves held-out predictions at n = 48; a random score gets a weight near zero and costs little."""
    from scipy.stats import spearmanr
    from tests.conftest import make_landscape_csv

    from activeloop.landscapes import load_landscape
    from activeloop.ml.encodings import get_encoder
    from activeloop.ml.zeroshot import standardised

    land = load_landscape(make_landscape_csv(tmp_path / "l.csv"))
    X = get_encoder("onehot").encode(land.library)
    y = np.log(land.fitness)
    gain, harm, weights = [], [], []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(y))
        train, test = idx[:48], idx[48:2048]
        informative = standardised(y + rng.normal(scale=y.std(), size=len(y)))
        noise = standardised(rng.normal(size=len(y)))

        def held_out(z, seed=seed, train=train, test=test):
            Xz = X if z is None else np.hstack([X, z[:, None]])
            model = get_surrogate(name, seed=seed, prior=z is not None).fit(Xz[train], y[train])
            return spearmanr(model.predict(Xz[test]).mean, y[test])[0], getattr(model, "prior_weight", None)

        base, _ = held_out(None)
        good, w_good = held_out(informative)
        bad, w_bad = held_out(noise)
        gain.append(good - base)
        harm.append(base - bad)
        weights.append((w_good, w_bad))
    assert np.mean(gain) > 0.05, gain
    assert np.mean(harm) < 0.05, harm
    assert all(abs(w_bad) < 0.2 < w_good for w_good, w_bad in weights), weights


def test_a_student_ensemble_refuses_a_prior():
    with pytest.raises(ConfigError, match="surrogate.prior"):
        get_surrogate("student_ensemble", prior=True)


def test_epistasis_kernel_lookup_when_predicting_gives_the_same_numbers_as_the_series():
    import torch

    from activeloop.ml.surrogates.kernels import EpistasisKernel

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 20, size=(300, 4))
    X = np.zeros((300, 80))
    X[np.arange(300)[:, None], np.arange(4) * 20 + tokens] = 1.0
    k = EpistasisKernel(max_order=4)
    with torch.no_grad():
        k.raw_weights.copy_(torch.tensor([0.1, -0.3, 0.7, 0.2, -1.0], dtype=torch.float32))
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.enable_grad():
        series = k.forward(x, x).detach()
    with torch.no_grad():
        table = k.forward(x, x)  # 90,000 entries: the lookup path
        assert torch.equal(table, series)
        # inputs that are not one-hot (m not an integer) fall back to the series
        soft = x * 0.5
        np.testing.assert_allclose(k.forward(soft, soft).numpy(), k._series(soft @ soft.T).numpy())


def test_the_epistasis_order_is_chosen_at_each_fit_by_held_out_density():
    """``gp_epistasis_auto`` fits orders 4 and 2 and keeps the one whose leave-one-out log density
    is higher: the kept model is that kernel's own fit, and the choice is recorded."""
    from activeloop.ml.surrogates.gp import GPSurrogate

    rng = np.random.default_rng(3)
    X = np.eye(20)[rng.integers(0, 20, (150, 4))].reshape(150, -1)
    quartic = X[:, 3] * X[:, 27] * X[:, 45] * X[:, 66]
    for y in (X @ rng.normal(size=80) + 0.05 * rng.normal(size=150),
              X @ rng.normal(size=80) + 6 * quartic + X[:, 3] * X[:, 27] * 3):
        auto = get_surrogate("gp_epistasis_auto").fit(X, y)
        choice = auto.kernel_choice
        assert set(choice["loo_log_density"]) == {"epistasis", "epistasis2"}
        assert choice["kernel"] == max(choice["loo_log_density"], key=choice["loo_log_density"].get)
        alone = GPSurrogate(kernel=choice["kernel"]).fit(X, y)
        np.testing.assert_allclose(auto.predict(X[:20]).mean, alone.predict(X[:20]).mean)
        np.testing.assert_allclose(auto.predict_mean(X[:20]), alone.predict_mean(X[:20]))
    with pytest.raises(Exception, match="kernel"):
        GPSurrogate(kernel="nope")
