"""Discovery where most variants are dead (issue 21): the sparse synthetic family, one harness.

The family (``activeloop.synthetic``): eight 4-site landscapes (seeds 21-28), one of 3 sites
(seed 31) and one of 5 sites (seed 41), each with at least 60% of variants dead and fewer than
0.01% within half of the maximum. Every strategy runs the ALDE protocol (96 random, then 4 x 96)
on the same seeds, so on the same first batches. Metrics per round: normalised best (mean ± SEM),
the fraction of seeds whose measured variants include the global maximum, the fraction including
any top-0.1% variant, and the number of top-1% variants measured.

    python benchmarks/sparse.py                     # every landscape and strategy, 10 seeds
    python benchmarks/sparse.py --only default,boosting --landscapes sparse-4s-21 --jobs 2
    python benchmarks/sparse.py --report            # the family table, results file and figure

Each (landscape, strategy) is saved to ``results/sparse/<landscape>-<strategy>.json``; ``--report``
writes ``results/sparse.json`` and ``results/sparse.png`` (curves per landscape and the family mean).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from activeloop.local.report import run_strategies
from activeloop.local.simulate import NO_LOCAL as OFF
from activeloop.local.simulate import Strategy, records_as_rows, summarize
from activeloop.synthetic import SparseSpec, family, sparse_landscape

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "sparse"
LANDSCAPES: dict[str, SparseSpec] = {
    f"sparse-{s.sites}s-{s.seed}": s for s in family(4, 8, 21) + family(3, 1, 31) + family(5, 1, 41)
}
STRATEGIES = {
    "default": Strategy("default: epistasis GP (order chosen each round), rank, Thompson, local search"),
    "global": Strategy("no local search: epistasis GP (order chosen each round), rank, Thompson", local=OFF),
    "epistasis4": Strategy("epistasis GP (order 4), rank, Thompson, no local search", surrogate="gp_epistasis",
                           local=OFF),
    "greedy": Strategy("greedy: epistasis GP, rank, mean only", acquisition="greedy", local=OFF),
    "boosting": Strategy("5 boosted trees, one-hot, Thompson", surrogate="boosting_ensemble", transform="none",
                         local=OFF),
    "random": Strategy("random", acquisition="random"),
}


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    console = Console()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.landscapes.split(","):
        spec = LANDSCAPES[name]
        land = sparse_landscape(SparseSpec(seed=spec.seed, sites=spec.sites))
        f = land.fitness
        console.print(f"{name}: {len(land)} variants, {np.mean(f == 0):.0%} dead, "
                      f"{int(np.sum(f >= f.max() / 2))} within half of the maximum")
        for key in args.only.split(","):
            out = OUT / f"{name}-{key}.json"
            if out.exists() and not args.again:
                continue
            start = time.perf_counter()
            recs = run_strategies(land, [STRATEGIES[key]], list(range(args.seeds)), rounds=4, batch=96, init=96,
                                  jobs=args.jobs, console=console if args.verbose else None)
            summary = summarize(recs, land) | {"key": key, "landscape": name,
                                               "wall_seconds": time.perf_counter() - start,
                                               "records": records_as_rows(recs)}
            out.write_text(json.dumps(summary, indent=2))
            last = summary["rounds"][-1]
            console.print(f"  {key}: {last['mean_normalized_best']:.3f} ± {last['sem']:.3f} at 480, global max "
                          f"{last['fraction_global_max']:.0%}, top 0.1% {last['fraction_top_0_1']:.0%}, "
                          f"top 1% found {last['mean_top_1_found']:.1f} ({summary['wall_seconds']:.0f} s)")


def family_mean(summaries: list[dict]) -> dict:
    """The family's curve: per round, the mean over landscapes of each landscape's seed mean, and the
    standard error over all (landscape, seed) campaigns."""
    rounds = []
    for r in range(len(summaries[0]["rounds"])):
        values = [rec["normalized_best"] for s in summaries for rec in s["records"] if rec["round"] == r]
        rows = [s["rounds"][r] for s in summaries]
        rounds.append({
            "round": r, "measured": rows[0]["measured"],
            "mean_normalized_best": float(np.mean([x["mean_normalized_best"] for x in rows])),
            "sem": float(np.std(values, ddof=1) / np.sqrt(len(values))),
            "fraction_global_max": float(np.mean([x["fraction_global_max"] for x in rows])),
            "fraction_top_0_1": float(np.mean([x["fraction_top_0_1"] for x in rows])),
            "mean_top_1_found": float(np.mean([x["mean_top_1_found"] for x in rows])),
            "median_seconds": float(np.median([x["median_seconds"] for x in rows])),
        })
    return {"strategy": summaries[0]["strategy"], "landscapes": len(summaries), "rounds": rounds}


def report(args: argparse.Namespace) -> None:
    from matplotlib.figure import Figure

    names = [n for n in LANDSCAPES if any(OUT.glob(f"{n}-*.json"))]
    table = Table(title="sparse family at 480 measured (10 seeds per landscape)", expand=False)
    for col in ("landscape", "strategy", "normalised best", "global max", "any top 0.1%", "top 1% found", "s/round"):
        table.add_column(col, justify="left" if col in ("landscape", "strategy") else "right")
    per: dict[str, dict[str, dict]] = {}
    for name in names:
        for key in STRATEGIES:
            path = OUT / f"{name}-{key}.json"
            if path.exists():
                per.setdefault(key, {})[name] = json.loads(path.read_text())
    # the family mean over the 4-site landscapes every strategy has results for (so they compare)
    family_keys = [n for n in names if n.startswith("sparse-4s") and all(n in by for by in per.values())]
    result: dict = {"landscapes": {}, "family": {}, "family_landscapes": family_keys}
    for key, by_name in per.items():
        members = [by_name[n] for n in family_keys if n in by_name]
        if members:
            result["family"][key] = family_mean(members)
        for name, s in by_name.items():
            result["landscapes"].setdefault(name, {})[key] = {k: v for k, v in s.items() if k != "records"}
    for name, by_key in list(result["landscapes"].items()) + [(f"family ({len(family_keys)} x 4 sites)",
                                                                 result["family"])]:
        for key, s in by_key.items():
            last = s["rounds"][-1]
            table.add_row(name, key, f"{last['mean_normalized_best']:.3f} ± {last['sem']:.3f}",
                          f"{last['fraction_global_max']:.2f}", f"{last['fraction_top_0_1']:.2f}",
                          f"{last['mean_top_1_found']:.1f}", f"{last['median_seconds']:.1f}")
    Console(width=150).print(table)
    (RESULTS / "sparse.json").write_text(json.dumps(result, indent=2))
    panels = [(f"family mean ({len(family_keys)} landscapes, 4 sites)", result["family"])] + sorted(
        result["landscapes"].items())
    cols = 4
    fig = Figure(figsize=(3.2 * cols, 2.6 * ((len(panels) + cols - 1) // cols)))
    axes = fig.subplots((len(panels) + cols - 1) // cols, cols, squeeze=False).ravel()
    for ax, (title, by_key) in zip(axes, panels, strict=False):
        for key, s in by_key.items():
            x = [r["measured"] for r in s["rounds"]]
            y = np.array([r["mean_normalized_best"] for r in s["rounds"]])
            e = np.array([r["sem"] for r in s["rounds"]])
            ax.plot(x, y, marker="o", ms=3, label=f"{key} ({y[-1]:.2f})")
            ax.fill_between(x, y - e, y + e, alpha=0.2)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    for ax in axes[len(panels):]:
        ax.axis("off")
    fig.supxlabel("variants measured", fontsize=9)
    fig.supylabel("best found / global maximum", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "sparse.png", dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--landscapes", default=",".join(LANDSCAPES))
    p.add_argument("--only", default=",".join(STRATEGIES))
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--jobs", type=int, default=1, help="Seeds in this many processes (same results).")
    p.add_argument("--again", action="store_true", help="Run even where a results file exists.")
    p.add_argument("--report", action="store_true")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    report(args) if args.report else run(args)


if __name__ == "__main__":
    main()
