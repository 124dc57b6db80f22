"""Calibration of predictive uncertainty on held-out data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import norm, spearmanr


def interval_coverage(
    y: np.ndarray, mean: np.ndarray, std: np.ndarray, levels: tuple[float, ...] = (0.68, 0.95)
) -> dict[float, float]:
    """Fraction of ``y`` inside the central Gaussian interval of each level (ideal: the level)."""
    z = np.abs(y - mean) / np.maximum(std, 1e-12)
    return {lvl: float(np.mean(z <= norm.ppf(0.5 + lvl / 2))) for lvl in levels}


def calibration_report(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict:
    """Coverage at 68% and 95%, Spearman of mean with ``y`` and of ``std`` with the error."""
    cov = interval_coverage(y, mean, std)
    return {
        "coverage_68": cov[0.68],
        "coverage_95": cov[0.95],
        "spearman": float(spearmanr(mean, y).statistic),
        "spearman_std_vs_abs_error": float(spearmanr(std, np.abs(y - mean)).statistic),
        "n": int(len(y)),
    }


def plot_calibration(y: np.ndarray, mean: np.ndarray, std: np.ndarray, path: str | Path) -> Path:
    """Expected against observed coverage for levels 5%..95%, and predicted against measured."""
    from matplotlib.figure import Figure

    levels = np.linspace(0.05, 0.95, 19)
    observed = [interval_coverage(y, mean, std, (lvl,))[lvl] for lvl in levels]
    fig = Figure(figsize=(9, 4))
    a, b = fig.subplots(1, 2)
    a.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
    a.plot(levels, observed, marker="o", label="surrogate")
    a.set_xlabel("nominal interval")
    a.set_ylabel("fraction of held-out points inside")
    a.legend()
    b.errorbar(y, mean, yerr=std, fmt=".", alpha=0.3)
    b.set_xlabel("measured")
    b.set_ylabel("predicted (± 1 sd)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
