"""Cascade scoring: which candidates reach the teacher, and what the library's scores become."""

import numpy as np
import pytest

from activeloop.errors import ConfigError
from activeloop.ml.cascade import cascade_scores, select_for_teacher
from activeloop.ml.distill import train_ensemble
from activeloop.ml.surrogates import Prediction


def test_teacher_sees_the_top_by_value_and_the_most_uncertain():
    mean = np.array([0.0, 5.0, 1.0, 4.0, 0.0, 0.0])
    std = np.array([0.1, 0.1, 0.1, 0.1, 3.0, 0.2])
    pred = Prediction(mean, std)
    # UCB (beta 2): row 4 = 6.0, row 1 = 5.2, row 3 = 4.2 ... ; most uncertain after those: row 5
    assert list(select_for_teacher(pred, 2, uncertain_share=0.0)) == [1, 4]
    rows = select_for_teacher(pred, 4, uncertain_share=0.5)
    assert {4, 1} <= set(rows) and 5 in rows and len(rows) == 4
    available = np.ones(6, dtype=bool)
    available[[1, 4]] = False
    assert not {1, 4} & set(select_for_teacher(pred, 3, available=available))
    with pytest.raises(ConfigError, match="uncertainShare"):
        select_for_teacher(pred, 2, uncertain_share=1.5)


def test_cascade_calls_the_teacher_once_on_the_sent_rows_only():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=1000)
    pred = Prediction(truth + rng.normal(scale=0.3, size=1000), np.full(1000, 0.3))
    calls = []

    def teacher(rows):
        calls.append(rows)
        return truth[rows]

    out = cascade_scores(pred, teacher, fraction=0.05)
    assert len(calls) == 1 and len(out.sent) == 50
    np.testing.assert_array_equal(out.score[out.sent], truth[out.sent])
    rest = np.setdiff1d(np.arange(1000), out.sent)
    np.testing.assert_array_equal(out.score[rest], pred.mean[rest])
    # the best candidates by the noisy students reach the teacher: the true top 10 mostly do
    assert len(set(np.argsort(-truth)[:10]) & set(out.sent)) >= 7
    with pytest.raises(ConfigError, match="fraction"):
        cascade_scores(pred, teacher, fraction=0.0)


def test_student_ensemble_disagrees_more_away_from_its_data():
    rng = np.random.default_rng(1)
    X = np.zeros((400, 3 * 20))
    tok = rng.integers(0, 20, size=(400, 3))
    X[np.arange(400)[:, None], np.arange(3) * 20 + tok] = 1
    y = (tok[:, 0] % 5).astype(float)
    seen = tok[:, 0] < 10  # residues 10..19 at site 0 never appear in training
    ens = train_ensemble(X[seen], y[seen], members=4, channels=8, epochs=30)
    pred = ens.predict(X)
    assert pred.mean.shape == (400,) and ens.num_parameters() > 0
    assert pred.std[~seen].mean() > pred.std[seen].mean()


def test_student_ensemble_surrogate_follows_its_gp_teacher():
    from activeloop.ml.surrogates import get_surrogate

    rng = np.random.default_rng(2)
    tok = rng.integers(0, 20, size=(3000, 3))
    X = np.zeros((3000, 60))
    X[np.arange(3000)[:, None], np.arange(3) * 20 + tok] = 1
    y = np.sin(tok[:, 0]) + 0.5 * np.cos(tok[:, 1] * tok[:, 2])
    train = rng.choice(3000, 300, replace=False)
    s = get_surrogate("student_ensemble", members=3, channels=8, unlabelled=2000, epochs=20)
    s.fit(X[train], y[train])
    pred = s.predict(X)
    teacher = s.teacher.predict(X).mean
    from scipy.stats import spearmanr

    assert spearmanr(pred.mean, teacher).statistic > 0.8
    assert (pred.std > 0).all()
    draws = s.sample(X, 5, np.random.default_rng(0))
    assert draws.shape == (5, 3000)
    with pytest.raises(ConfigError, match="one-hot"):
        s.fit(X[train] * 0.5, y[train])
