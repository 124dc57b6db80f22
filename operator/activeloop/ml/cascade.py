"""Cascade scoring: a cheap student ensemble scores every candidate, the teacher only a few.

The students (see :mod:`activeloop.ml.distill`) score the whole library with a mean and a spread.
A ``fraction`` of the library goes on to the teacher: part by acquisition value (the students'
upper confidence bound: the candidates that may be best) and part by disagreement (the candidates
the students are least sure of). Everything else keeps the students' score. The acquire step uses
this to compute a costly teacher (a protein language model) on a few thousand candidates instead of
a whole library.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from activeloop.errors import ConfigError
from activeloop.ml.surrogates.base import Prediction


def select_for_teacher(
    student: Prediction,
    n_send: int,
    *,
    uncertain_share: float = 0.5,
    beta: float = 2.0,
    available: np.ndarray | None = None,
) -> np.ndarray:
    """Rows to send to the teacher: the top by ``mean + beta * std``, then the most uncertain.

    ``available`` (boolean mask) restricts the choice (e.g. to variants not yet measured).
    """
    if not 0.0 <= uncertain_share <= 1.0:
        raise ConfigError("uncertainShare", f"{uncertain_share} is not between 0 and 1")
    mask = np.ones(len(student.mean), dtype=bool) if available is None else available.copy()
    n_send = min(n_send, int(mask.sum()))
    n_uncertain = int(round(n_send * uncertain_share))
    value = np.where(mask, student.mean + beta * student.std, -np.inf)
    top = np.argsort(-value, kind="stable")[: n_send - n_uncertain]
    mask[top] = False
    spread = np.where(mask, student.std, -np.inf)
    unsure = np.argsort(-spread, kind="stable")[:n_uncertain]
    return np.sort(np.concatenate([top, unsure]))


@dataclass(frozen=True)
class CascadeScores:
    """Scores of every row (teacher where ``sent``, students elsewhere) and the students' spread."""

    score: np.ndarray
    student: Prediction
    sent: np.ndarray


def cascade_scores(
    student: Prediction,
    teacher: Callable[[np.ndarray], np.ndarray],
    *,
    fraction: float = 0.02,
    uncertain_share: float = 0.5,
    beta: float = 2.0,
) -> CascadeScores:
    """Score a library: ``teacher(rows)`` is called once, on ``ceil(fraction * N)`` rows."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError("fraction", f"{fraction} is not in (0, 1]")
    n = len(student.mean)
    sent = select_for_teacher(student, math.ceil(fraction * n), uncertain_share=uncertain_share,
                              beta=beta)
    score = student.mean.astype(np.float64).copy()
    score[sent] = teacher(sent)
    return CascadeScores(score, student, sent)
