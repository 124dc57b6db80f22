"""Earlier data (issue 20): does a campaign gain from 200 measurements made before it started?

GB1 (the ALDE protocol of ``shared/BENCHMARKS.md``: 480 variants assayed by the campaign, the
default surrogate and strategy), 30 seeds, four conditions on the same seeds:

* ``none``: no earlier data (96 at random, then 4 x 96 proposed);
* ``same``: 200 earlier measurements of random GB1 variants in the same assay: they train the
  model from round 0 (5 x 96 proposed, never re-proposing them);
* ``related``: 200 earlier measurements in a *related* assay, a second task for the surrogate
  (BoTorch's ``MultiTaskGP`` with the epistasis kernel, kept each round only where it predicts the
  campaign's own values better, each held out in turn, by log predictive density:
  ``ml.loop.fit_with_related``): 96 at random, then 4 x 96;
* ``unrelated``: the same with an *unrelated* assay.

The related assay is built from GB1 (documented, seeded): each variant's normal score ``z`` (rank
transform of its fitness) becomes ``0.75 z + 0.45 e + s[residue at site 41]``, with ``e`` standard
normal noise and ``s`` a residue effect at one site (standard deviation 0.5): the same protein at
another temperature, where one site matters differently and measurements are noisier (rank
correlation with GB1 about 0.7). The unrelated assay is GB1's fitness randomly permuted across
variants (the same distribution, no relation). The figure is the best fitness among the
campaign's own 480 assays (earlier variants are not counted), normalised by the global maximum.

    python benchmarks/earlier.py --seeds 30 --jobs 2

Writes ``benchmarks/results/earlier-gb1.json`` and ``earlier-gb1.png``.
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
CONDITIONS = ("none", "same", "related", "unrelated")
EARLIER = 200


def _landscape():
    from activeloop.landscapes import load_landscape
    from activeloop.ml.encodings import get_encoder

    land = load_landscape("gb1")  # ACTIVELOOP_GB1_CSV, the download cache, or ../shared
    return land, get_encoder("onehot").encode(land.library)


def other_assays(land) -> dict[str, np.ndarray]:
    """The related and the unrelated assay's values of every GB1 variant (see the docstring)."""
    from scipy.stats import norm, rankdata

    rng = np.random.default_rng(2020)
    f = land.fitness
    z = norm.ppf((rankdata(f) - 0.5) / len(f))
    site = land.library.sites.index(41) if 41 in land.library.sites else 2
    tokens = land.library.tokens[:, land.library.variable_positions[site]]
    effect = rng.normal(0, 0.5, size=20)
    related = 0.75 * z + 0.45 * rng.normal(size=len(f)) + effect[tokens]
    return {"related": related, "unrelated": rng.permutation(f)}


def one(condition: str, seed: int) -> dict:
    """One seed of one condition: the normalised best after each round."""
    import torch

    from activeloop.ml.loop import Related, propose_batch

    torch.set_num_threads(1)
    land, X = _landscape()
    f, gmax = land.fitness, land.global_max
    rng = np.random.default_rng(seed)
    first = rng.choice(len(f), size=96, replace=False)  # the ALDE draw, as the discovery benchmark's
    earlier = np.random.default_rng(10_000 + seed).choice(len(f), size=EARLIER, replace=False)
    related = None
    if condition in ("related", "unrelated"):
        related = Related(earlier, other_assays(land)[condition][earlier])
    if condition == "same":
        known, ours, rounds = earlier, np.zeros(0, dtype=np.int64), range(1, 6)
    else:
        known, ours, rounds = first, first, range(1, 5)
    curve = [] if condition == "same" else [float(f[ours].max() / gmax)]
    seconds, choices = [], []
    for r in rounds:
        start = time.perf_counter()
        result = propose_batch(X, known, f[known], 96, seed=seed * 1000 + r, related=related)
        seconds.append(time.perf_counter() - start)
        known, ours = np.concatenate([known, result.rows]), np.concatenate([ours, result.rows])
        curve.append(float(f[ours].max() / gmax))
        choices.append(getattr(result.surrogate, "related_choice", None))
    used = [c["used"] for c in choices if c]
    correlations = [c["task_correlation"] for c in choices if c and c["task_correlation"] is not None]
    return {"condition": condition, "seed": seed, "normalized_best": curve,
            "found_global_max": bool(f[ours].max() >= gmax), "median_round_seconds": float(np.median(seconds)),
            "task_correlation": float(np.median(correlations)) if correlations else None,
            "rounds_using_related": int(sum(used)) if choices[0] else None, "assayed": int(len(ours))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--only", default=",".join(CONDITIONS))
    args = p.parse_args()
    conditions = args.only.split(",")
    out_path = RESULTS / "earlier-gb1.json"
    runs = [(c, s) for c in conditions for s in range(args.seeds)]
    mine = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for row in pool.map(one, *zip(*runs)):
            mine.append(row)
            print(f"{row['condition']:>9} seed {row['seed']:>2}: best at {row['assayed']} = "
                  f"{row['normalized_best'][-1]:.3f} ({row['median_round_seconds']:.1f} s a round"
                  + (f", related data used in {row['rounds_using_related']} of 4 rounds (task correlation "
                     f"{row['task_correlation']:.2f})" if row["rounds_using_related"] is not None else "") + ")",
                  flush=True)
    old = json.loads(out_path.read_text())["runs"] if out_path.exists() else []  # read now: runs in parallel
    rows = [r for r in old if r["condition"] not in conditions] + mine  # conditions not re-run are kept
    summary = {}
    for c in CONDITIONS:
        if not any(r["condition"] == c for r in rows):
            continue
        mine = [r for r in rows if r["condition"] == c]
        final = np.array([r["normalized_best"][-1] for r in mine])
        corr = [r["task_correlation"] for r in mine if r["task_correlation"] is not None]
        used = [r["rounds_using_related"] for r in mine if r["rounds_using_related"] is not None]
        summary[c] = {"mean": float(final.mean()), "sem": float(final.std(ddof=1) / np.sqrt(len(final))),
                      "fraction_global_max": float(np.mean([r["found_global_max"] for r in mine])),
                      "median_task_correlation": float(np.median(corr)) if corr else None,
                      "fraction_rounds_using_related": float(np.sum(used) / (4 * len(used))) if used else None,
                      "seeds": int(len(final))}
        print(f"{c:>9}: {summary[c]['mean']:.3f} ± {summary[c]['sem']:.3f} at 480, global max in "
              f"{summary[c]['fraction_global_max']:.0%}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({"earlier": EARLIER, "summary": summary, "runs": rows}, indent=2))
    plot(rows, summary)


def plot(rows: list[dict], summary: dict) -> None:
    """``earlier-gb1.png``: normalised best against variants assayed by the campaign."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4))
    ax = fig.subplots()
    for c, stats in summary.items():
        curves = np.array([r["normalized_best"] for r in rows if r["condition"] == c])
        x = np.arange(1, curves.shape[1] + 1) * 96
        mean, sem = curves.mean(0), curves.std(0, ddof=1) / np.sqrt(len(curves))
        ax.plot(x, mean, marker="o", label=f"{c} ({stats['mean']:.3f} at 480)")
        ax.fill_between(x, mean - sem, mean + sem, alpha=0.2)
    ax.set_xlabel("variants assayed by the campaign")
    ax.set_ylabel("normalised best fitness (mean ± SEM)")
    ax.set_title(f"GB1: {EARLIER} earlier measurements, {summary[next(iter(summary))]['seeds']} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "earlier-gb1.png", dpi=120)


if __name__ == "__main__":
    main()
