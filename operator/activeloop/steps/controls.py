"""Control wells: what they say about a plate, and how they normalise it.

A plate may carry control wells (``plates.controls`` of the spec, placed by the plate map, or a
``control`` column in the file): the **parent** (wild type), **blanks** (no protein: the
background) and **reference** variants. They are not measurements of candidates: they never enter
the campaign's measurements. They serve two purposes:

* **normalisation** (``plates.normalize``): each value of a plate is divided by (``parentRatio``)
  or has subtracted (``parentDifference``) the mean of the plate's parent wells, so that a plate
  read on a brighter day does not look fitter. The rule is stored with each plate when it is
  recorded, so changing the spec later never rewrites what was recorded;
* **drift** (``plates.controlTolerance``): a plate is flagged when its parent wells disagree among
  themselves (coefficient of variation above the tolerance) or when their mean lies further than
  the tolerance (relative) from the median parent mean of the campaign's plates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from activeloop.errors import RecordError, RowProblem

KINDS = ("parent", "blank", "reference")


@dataclass(frozen=True)
class ControlStats:
    """One kind of control on one plate (one reference variant each)."""

    kind: str
    variant: str
    wells: int
    failed: int
    mean: float | None
    sd: float | None

    @property
    def cv(self) -> float | None:
        """Coefficient of variation (sd over the mean's size); ``None`` without two values."""
        if self.mean is None or self.sd is None or self.mean == 0:
            return None
        return self.sd / abs(self.mean)


def stats(rows: pd.DataFrame) -> list[ControlStats]:
    """The controls of one plate's rows (``steps.ingest`` rows), parent first."""
    if "control" not in rows or not (rows["control"] != "").any():
        return []
    out = []
    ctl = rows[rows["control"] != ""]
    for (kind, variant), group in ctl.groupby(["control", "variant"], sort=False):
        values = group.loc[~group["failed"], "value"].to_numpy(dtype=np.float64)
        out.append(ControlStats(
            str(kind), str(variant), int(len(group)), int(group["failed"].sum()),
            float(values.mean()) if len(values) else None,
            float(values.std(ddof=1)) if len(values) > 1 else None))
    return sorted(out, key=lambda c: (KINDS.index(c.kind) if c.kind in KINDS else 9, c.variant))


def parent_mean(rows: pd.DataFrame) -> float | None:
    """Mean of the plate's parent wells that gave a value, else ``None``."""
    if "control" not in rows:
        return None
    values = rows.loc[(rows["control"] == "parent") & ~rows["failed"], "value"]
    return float(values.mean()) if len(values) else None


def check_normalizable(rows: pd.DataFrame, how: str, source: str) -> None:
    """:class:`RecordError` if ``how`` cannot normalise this plate (no parent well with a value,
    or, for a ratio, parent wells averaging zero or less)."""
    if how == "none":
        return
    mean = parent_mean(rows)
    if mean is None:
        raise RecordError(source, [RowProblem(0, "control", (
            f"the campaign normalises each plate by its parent wells ({how}) and this plate has no parent "
            "well with a value: record it by well with the round's plate map, or mark parent wells in a "
            "'control' column"))])
    if how == "parentRatio" and not mean > 0:
        raise RecordError(source, [RowProblem(0, "control", (
            f"the parent wells average {mean:g}: a ratio to it means nothing; use parentDifference"))])


def normalized(rows: pd.DataFrame, how: str) -> pd.DataFrame:
    """``rows`` with the variants' values normalised by the plate's parent wells (``how``); the
    control wells keep their raw values."""
    if how == "none":
        return rows
    mean = parent_mean(rows)
    if mean is None or (how == "parentRatio" and not mean > 0):
        raise ValueError(f"{how}: the plate has no usable parent wells")
    out = rows.copy()
    cand = out["control"] == ""
    out.loc[cand, "value"] = out.loc[cand, "value"] / mean if how == "parentRatio" else out.loc[cand, "value"] - mean
    return out


def drift(plates: Mapping[str, list[ControlStats]], tolerance: float) -> dict[str, list[str]]:
    """Why each plate's controls are out of line (an empty list: they are not)."""
    parents = {name: next((c for c in cs if c.kind == "parent"), None) for name, cs in plates.items()}
    means = [c.mean for c in parents.values() if c is not None and c.mean is not None]
    median = float(np.median(means)) if len(means) >= 2 else None
    out: dict[str, list[str]] = {}
    for name, cs in plates.items():
        reasons = []
        for c in cs:
            if c.kind != "blank" and c.cv is not None and c.cv > tolerance:
                reasons.append(f"{c.kind} wells vary by {c.cv:.0%} (tolerance {tolerance:.0%})")
        p = parents.get(name)
        if p is not None and p.mean is not None and median is not None and median != 0:
            off = (p.mean - median) / abs(median)
            if abs(off) > tolerance and not math.isclose(abs(off), tolerance):
                reasons.append(f"parent mean {p.mean:.4g} is {off:+.0%} from the campaign's median {median:.4g}")
        out[name] = reasons
    return out


def plates_drift(rows: Mapping[str, pd.DataFrame], tolerance: float) -> dict[str, list[str]]:
    """:func:`drift` of plates given by their rows (``plate -> steps.ingest rows``)."""
    return drift({name: stats(r) for name, r in rows.items()}, tolerance)


__all__ = ["KINDS", "ControlStats", "check_normalizable", "drift", "normalized", "parent_mean", "plates_drift",
           "stats"]
