"""Several objectives over a campaign's measurements: the value matrix, the Pareto front, the hypervolume.

A campaign with ``objectives`` stores its first objective's values in ``value`` and each further
one in ``value:<name>`` (``steps.ingest``). Here they become one matrix in higher-is-better units
(a minimised objective negated), the front of the variants measured for every objective, and the
hypervolume that front dominates above a reference point: each objective's threshold where it has
one, else the worst value measured for it. The workstation, the operator's status, the REST API
and the web all read the front from here.

The operator imports this module and has no PyTorch, so the front and the hypervolume here are
computed with NumPy (exact: dominance by comparison, the volume by slicing one objective at a
time); the tests check both against BoTorch's, which the model's side (``ml.multiobjective``) uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from activeloop.api.campaign import ObjectiveSpec
from activeloop.steps.ingest import objective_column

if TYPE_CHECKING:
    from activeloop.ml.multiobjective import Objective


def value_column(objectives: list[ObjectiveSpec], i: int) -> str:
    """The measurements' column of the ``i``-th objective (``value`` for the first)."""
    return "value" if i == 0 else objective_column(objectives[i].name)


def value_matrix(data: pd.DataFrame, objectives: list[ObjectiveSpec]) -> np.ndarray:
    """``n x m`` values of the measurements' rows, higher is better, NaN where a variant has none."""
    cols = []
    for i, o in enumerate(objectives):
        col = value_column(objectives, i)
        v = data[col].to_numpy(dtype=np.float64) if col in data else np.full(len(data), np.nan)
        cols.append(v if o.direction == "maximize" else -v)
    return np.column_stack(cols) if cols else np.zeros((len(data), 0))


def model_objectives(objectives: list[ObjectiveSpec]) -> list[Objective]:
    """The objectives as the model sees them (thresholds in higher-is-better units)."""
    from activeloop.ml.multiobjective import Objective

    return [Objective(o.name, None if o.threshold is None else o.better(o.threshold), o.weight) for o in objectives]


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """Which rows of ``Y`` (``n x m``, higher is better, no NaN) no other row dominates (at least as
    good in every objective and better in one); of equal rows, all are kept."""
    Y = np.asarray(Y, dtype=np.float64)
    keep = np.ones(len(Y), dtype=bool)
    for start in range(0, len(Y), 256):  # 256 rows against all at a time: bounded memory
        block = Y[start:start + 256, None, :]
        at_least = np.all(Y[None, :, :] >= block, axis=2)
        better = np.any(Y[None, :, :] > block, axis=2)
        dominated = np.any(at_least & better, axis=1)
        keep[start:start + 256] = ~dominated
    return keep


def hypervolume(Y: np.ndarray, reference: np.ndarray) -> float:
    """The volume ``Y`` (``n x m``, higher is better) dominates above ``reference``; rows with a NaN,
    or not above the reference in every objective, add nothing."""
    Y = np.asarray(Y, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    Y = Y[np.isfinite(Y).all(axis=1) & (Y > ref).all(axis=1)] if len(Y) else Y
    return float(_volume(Y[pareto_mask(Y)], ref)) if len(Y) else 0.0


def _volume(P: np.ndarray, ref: np.ndarray) -> float:
    """The dominated volume of front ``P`` above ``ref``, one slab of the last objective at a time."""
    if len(P) == 0:
        return 0.0
    if P.shape[1] == 1:
        return float(P[:, 0].max() - ref[0])
    P = P[np.argsort(-P[:, -1], kind="stable")]
    total = 0.0
    for i in range(len(P)):
        low = P[i + 1, -1] if i + 1 < len(P) else ref[-1]
        if P[i, -1] > low:  # the slab down to the next point: dominated by the first i + 1 points
            upper = P[: i + 1, :-1]
            total += (P[i, -1] - low) * _volume(upper[pareto_mask(upper)], ref[:-1])
    return total


@dataclass(frozen=True)
class Front:
    """The Pareto front of the measured variants (values in the objectives' own units)."""

    names: list[str]
    variants: list[str]
    values: np.ndarray
    """``len(variants) x len(names)``, as measured."""
    reference: list[float]
    """The reference point, in the objectives' own units."""
    hypervolume: float
    complete: int
    """Variants measured for every objective (the ones the front is drawn from)."""


def reference_point(Y: np.ndarray, objectives: list[ObjectiveSpec]) -> np.ndarray:
    """Each objective's threshold, else the worst value measured for it (higher-is-better units)."""
    ref = []
    for j, o in enumerate(objectives):
        col = Y[:, j][np.isfinite(Y[:, j])] if len(Y) else np.zeros(0)
        if o.threshold is not None:
            ref.append(o.better(o.threshold))
        else:
            ref.append(float(col.min()) if len(col) else 0.0)
    return np.asarray(ref, dtype=np.float64)


def pareto_front(data: pd.DataFrame, objectives: list[ObjectiveSpec], reference: np.ndarray | None = None) -> Front:
    """The front of the variants of ``data`` (``steps.ingest.measurements``) measured for every objective."""
    valued = data[~data["failed"]] if "failed" in data else data
    Y = value_matrix(valued, objectives)
    ref = reference_point(Y, objectives) if reference is None else reference
    complete = np.isfinite(Y).all(axis=1) if len(Y) else np.zeros(0, dtype=bool)
    Yc = Y[complete]
    mask = pareto_mask(Yc)
    order = np.argsort(-Yc[mask][:, 0], kind="stable")  # best first in the first objective
    names = valued["variant"].to_numpy()[complete][mask][order]
    signs = np.array([1.0 if o.direction == "maximize" else -1.0 for o in objectives])
    return Front([o.name for o in objectives], [str(v) for v in names], Yc[mask][order] * signs,
                 [float(r) for r in ref * signs], hypervolume(Yc, ref), int(complete.sum()))


def hypervolume_by_round(data: pd.DataFrame, round_of: Mapping[str, int], rounds: list[int],
                         objectives: list[ObjectiveSpec]) -> dict[int, float]:
    """The hypervolume of what was measured by the end of each round, above one reference point
    (the one of all the data, so the rounds compare)."""
    valued = data[~data["failed"]]
    ref = reference_point(value_matrix(valued, objectives), objectives)
    arrived = np.array([round_of.get(v, a) for v, a in zip(valued["variant"].tolist(),
                                                             valued["arrived_round"].tolist())], dtype=float)
    return {n: pareto_front(valued[arrived <= n], objectives, ref).hypervolume for n in rounds}


__all__ = ["Front", "hypervolume", "hypervolume_by_round", "model_objectives", "pareto_front", "pareto_mask",
           "reference_point", "value_column", "value_matrix"]
