"""Two objectives (issue 20): hypervolume after 480 assays on GB1 with a second, partly
anti-correlated property that must reach a threshold.

The landscape (documented, seeded): objective 1 is GB1's fitness; objective 2 is a synthetic
"expression" of every GB1 variant, ``-0.5 z + 0.8 a + 0.3 e`` with ``z`` the normal score of the
variant's fitness, ``a`` an additive effect of its residues (one standard-normal effect per site
and residue, summed and standardised) and ``e`` standard normal noise: fitter variants tend to
express worse (correlation about -0.4). A variant must express at least at the landscape's 40th
percentile (60% of variants are feasible). The figure is the hypervolume the campaign's feasible
measured variants dominate above (0, threshold) in (fitness / max fitness, expression),
normalised by the hypervolume of every feasible variant; and the same with fitness as its normal
score among all variants (reference: the lowest), since GB1's fitness is so heavy-tailed that in
its own units the front is a handful of variants near the global maximum.

Strategies, on the same seeds and first batches (96 at random, then 4 x 96): ``random``;
``weighted-sum``, the single-objective default (epistasis GP, rank transform, Thompson) on the
sum of the two objectives' normal scores among the measured variants, blind to the threshold;
and the multi-objective strategies of ``ml.multiobjective``: ``pareto`` (random Chebyshev
scalarisations with Thompson sampling), ``desirability`` (Thompson on the weighted sum, the
threshold as feasibility) and ``nehvi`` (BoTorch's qLogNEHVI over a shortlist of 256).

    python benchmarks/multiobjective.py --seeds 30 --jobs 2 [--only pareto,random]

Writes ``benchmarks/results/multiobjective-gb1.json`` and ``multiobjective-gb1.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

RESULTS = Path(__file__).parent / "results"
STRATEGIES = ("random", "weighted-sum", "pareto", "desirability", "nehvi")
FEASIBLE_SHARE = 0.6


def _landscape():
    from scipy.special import ndtri
    from scipy.stats import rankdata

    from activeloop.landscapes import load_landscape
    from activeloop.ml.encodings import get_encoder

    land = load_landscape("gb1")  # ACTIVELOOP_GB1_CSV, the download cache, or ../shared
    f = land.fitness / land.global_max
    rng = np.random.default_rng(2021)
    z = ndtri((rankdata(f) - 0.5) / len(f))
    tokens = land.library.tokens[:, land.library.variable_positions]
    effects = rng.normal(size=(tokens.shape[1], 20))
    a = effects[np.arange(tokens.shape[1]), tokens].sum(axis=1)
    a = (a - a.mean()) / a.std()
    expression = -0.5 * z + 0.8 * a + 0.3 * rng.normal(size=len(f))
    threshold = float(np.quantile(expression, 1 - FEASIBLE_SHARE))
    return land, get_encoder("onehot").encode(land.library), np.column_stack([f, expression]), threshold


def hypervolume_of(rows: np.ndarray, Y: np.ndarray, threshold: float, reference: float = 0.0) -> float:
    """The hypervolume of the feasible rows above (reference, threshold)."""
    from activeloop.ml.multiobjective import hypervolume

    mine = Y[rows]
    return hypervolume(mine[mine[:, 1] >= threshold], np.array([reference, threshold]))


def scored(Y: np.ndarray) -> np.ndarray:
    """Fitness as its normal score among all variants (expression unchanged): GB1's fitness is so
    heavy-tailed that in its own units the front is a handful of variants near the global maximum;
    in normal scores the trade-off along the whole front counts."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    return np.column_stack([ndtri((rankdata(Y[:, 0]) - 0.5) / len(Y)), Y[:, 1]])


def one(strategy: str, seed: int) -> dict:
    """One seed of one strategy: the normalised hypervolume after each round."""
    import torch
    from scipy.special import ndtri
    from scipy.stats import rankdata

    from activeloop.ml.loop import propose_batch
    from activeloop.ml.multiobjective import Objective, propose_multi

    torch.set_num_threads(1)
    land, X, Y, threshold = _landscape()
    Z = scored(Y)
    low = float(Z[:, 0].min())
    best = hypervolume_of(np.arange(len(Y)), Y, threshold)
    best_z = hypervolume_of(np.arange(len(Y)), Z, threshold, low)
    rng = np.random.default_rng(seed)
    measured = rng.choice(len(Y), size=96, replace=False)
    curve, seconds = [hypervolume_of(measured, Y, threshold) / best], []
    curve_z = [hypervolume_of(measured, Z, threshold, low) / best_z]
    objectives = [Objective("fitness"), Objective("expression", threshold=threshold)]
    for r in range(1, 5):
        start = time.perf_counter()
        if strategy == "random":
            free = np.setdiff1d(np.arange(len(Y)), measured)
            rows = np.random.default_rng(seed * 1000 + r).choice(free, 96, replace=False)
        elif strategy == "weighted-sum":
            z = [ndtri((rankdata(Y[measured, j]) - 0.5) / len(measured)) for j in range(2)]
            rows = propose_batch(X, measured, z[0] + z[1], 96, seed=seed * 1000 + r).rows
        else:
            rows = propose_multi(X, measured, Y[measured], 96, objectives, strategy=strategy, seed=seed * 1000 + r,
                                 shortlist=256 if strategy == "nehvi" else 1500).rows
        seconds.append(time.perf_counter() - start)
        measured = np.concatenate([measured, rows])
        curve.append(hypervolume_of(measured, Y, threshold) / best)
        curve_z.append(hypervolume_of(measured, Z, threshold, low) / best_z)
    return {"strategy": strategy, "seed": seed, "normalized_hypervolume": curve,
            "normalized_hypervolume_scores": curve_z,
            "feasible_share": float(np.mean(Y[measured[96:], 1] >= threshold)),
            "median_round_seconds": float(np.median(seconds))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", default=",".join(STRATEGIES))
    args = p.parse_args()
    chosen = args.only.split(",")
    out_path = RESULTS / "multiobjective-gb1.json"
    old = json.loads(out_path.read_text())["runs"] if out_path.exists() else []
    rows = [r for r in old if r["strategy"] not in chosen]
    runs = [(s, k) for s in chosen for k in range(args.seeds)]
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(one, *zip(*runs)):
            rows.append(row)
            print(f"{row['strategy']:>12} seed {row['seed']:>2}: hypervolume at 480 = "
                  f"{row['normalized_hypervolume'][-1]:.3f} (in normal scores "
                  f"{row['normalized_hypervolume_scores'][-1]:.3f}), feasible {row['feasible_share']:.0%} of proposals "
                  f"({row['median_round_seconds']:.1f} s a round)", flush=True)
    summary = {}
    for s in STRATEGIES:
        mine = [r for r in rows if r["strategy"] == s]
        if not mine:
            continue
        final = np.array([r["normalized_hypervolume"][-1] for r in mine])
        final_z = np.array([r["normalized_hypervolume_scores"][-1] for r in mine])
        summary[s] = {"mean": float(final.mean()), "sem": float(final.std(ddof=1) / np.sqrt(len(final))),
                      "mean_scores": float(final_z.mean()),
                      "sem_scores": float(final_z.std(ddof=1) / np.sqrt(len(final_z))),
                      "feasible_share": float(np.mean([r["feasible_share"] for r in mine])),
                      "median_round_seconds": float(np.median([r["median_round_seconds"] for r in mine])),
                      "seeds": len(mine)}
        print(f"{s:>12}: {summary[s]['mean']:.3f} ± {summary[s]['sem']:.3f} at 480, in normal scores "
              f"{summary[s]['mean_scores']:.3f} ± {summary[s]['sem_scores']:.3f} ({len(mine)} seeds), "
              f"{summary[s]['feasible_share']:.0%} of proposals feasible, "
              f"{summary[s]['median_round_seconds']:.1f} s a round", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"feasible_share": FEASIBLE_SHARE, "summary": summary, "runs": rows}, indent=2))
    plot(rows, summary)


def plot(rows: list[dict], summary: dict) -> None:
    """``multiobjective-gb1.png``: normalised hypervolume against variants assayed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, key, mean_key, title in ((axes[0], "normalized_hypervolume", "mean", "fitness in its units"),
                                     (axes[1], "normalized_hypervolume_scores", "mean_scores",
                                      "fitness as normal scores")):
        for s, stats in summary.items():
            curves = np.array([r[key] for r in rows if r["strategy"] == s])
            x = np.arange(1, curves.shape[1] + 1) * 96
            mean, sem = curves.mean(0), curves.std(0, ddof=1) / np.sqrt(len(curves))
            ax.plot(x, mean, marker="o", label=f"{s} ({stats[mean_key]:.3f} at 480, {stats['seeds']} seeds)")
            ax.fill_between(x, mean - sem, mean + sem, alpha=0.2)
        ax.set_xlabel("variants assayed")
        ax.set_ylabel("normalised hypervolume (mean ± SEM)")
        ax.set_title(f"GB1 + synthetic expression: {title}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "multiobjective-gb1.png", dpi=120)


if __name__ == "__main__":
    main()
