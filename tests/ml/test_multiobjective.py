"""Several objectives (issue 20): Pareto fronts and hypervolume against hand-computed values, and
each strategy's batch on a landscape whose front is known."""

import numpy as np
import pytest

from activeloop.errors import ConfigError
from activeloop.ml.multiobjective import Objective, feasible, hypervolume, pareto_mask, propose_multi


def test_pareto_front_and_hypervolume_by_hand():
    Y = np.array([[1.0, 4.0], [2.0, 3.0], [3.0, 1.0], [1.5, 2.0], [0.5, 0.5]])
    assert pareto_mask(Y).tolist() == [True, True, True, False, False]
    # rectangles above (0, 0): 1x4, then (2-1)x3, then (3-2)x1
    assert hypervolume(Y, np.array([0.0, 0.0])) == pytest.approx(4 + 3 + 1)
    assert hypervolume(Y, np.array([1.0, 1.0])) == pytest.approx((2 - 1) * (3 - 1))  # (1, 4) adds nothing
    assert hypervolume(np.array([[np.nan, 5.0]]), np.zeros(2)) == 0.0
    assert feasible(Y, [Objective("a"), Objective("b", threshold=2.0)]).tolist() == [True, True, False, True, False]


def _landscape():
    """Two sites' residues (20 x 20 one-hot): objective a grows with site 1's residue index,
    objective b with site 2's and falls with site 1's; the front is known."""
    grid = np.array([(i, j) for i in range(20) for j in range(20)])
    X = np.hstack([np.eye(20)[grid[:, 0]], np.eye(20)[grid[:, 1]]])
    a = grid[:, 0] / 19.0
    b = grid[:, 1] / 19.0 - 0.6 * grid[:, 0] / 19.0
    return X, np.column_stack([a, b])


@pytest.mark.parametrize("strategy", ["pareto", "desirability", "nehvi"])
def test_each_strategy_proposes_near_the_known_front(strategy):
    X, Y = _landscape()
    rng = np.random.default_rng(0)
    measured = rng.choice(len(X), 100, replace=False)
    objectives = [Objective("a"), Objective("b")]
    result = propose_multi(X, measured, Y[measured], 8, objectives, strategy=strategy, surrogate="gp_epistasis",
                           transform="none", seed=1, shortlist=200 if strategy != "nehvi" else 64)
    rows = result.rows
    assert len(rows) == 8 and len(set(rows.tolist())) == 8 and not set(rows.tolist()) & set(measured.tolist())
    # the front is site 2's best residue (19) with any site-1 residue: proposals sit near it (how far
    # below the front a variant's b lies is (19 - its site-2 residue) / 19: 0.5 on average at random)
    below = (19 - np.argmax(X[rows, 20:], axis=1)) / 19
    assert below.mean() <= 0.2, Y[rows]
    if strategy == "pareto":  # random scalarisations spread along the front (several site-1 residues)
        assert len(set(np.argmax(X[rows, :20], axis=1).tolist())) >= 3


def test_a_threshold_keeps_proposals_feasible():
    X, Y = _landscape()
    measured = np.random.default_rng(3).choice(len(X), 100, replace=False)
    objectives = [Objective("a"), Objective("b", threshold=0.5)]
    result = propose_multi(X, measured, Y[measured], 8, objectives, strategy="pareto", surrogate="gp_epistasis",
                           transform="none", seed=2, shortlist=300)
    assert feasible(Y[result.rows], objectives).mean() >= 0.75, Y[result.rows]
    assert result.thresholds == [None, 0.5]


def test_a_variant_may_lack_a_value_for_one_objective_and_bad_input_is_named():
    X, Y = _landscape()
    measured = np.arange(0, 400, 9)
    Y_m = Y[measured].copy()
    Y_m[::3, 1] = np.nan  # not measured for b
    result = propose_multi(X, measured, Y_m, 4, [Objective("a"), Objective("b")], surrogate="gp",
                           transform="rank", seed=0, shortlist=100)
    assert len(result.rows) == 4
    with pytest.raises(ConfigError, match="acquisition.multiObjective"):
        propose_multi(X, measured, Y_m, 4, [Objective("a"), Objective("b")], strategy="best")
    Y_m[:, 1] = np.nan
    with pytest.raises(ConfigError, match="objective 'b': at least two measured values"):
        propose_multi(X, measured, Y_m, 4, [Objective("a"), Objective("b")], surrogate="gp")


def test_the_same_seed_gives_the_same_batch():
    X, Y = _landscape()
    measured = np.arange(0, 400, 11)
    runs = [propose_multi(X, measured, Y[measured], 6, [Objective("a"), Objective("b")], surrogate="gp",
                          seed=5, shortlist=150).rows.tolist() for _ in range(2)]
    assert runs[0] == runs[1]
