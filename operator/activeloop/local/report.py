"""Run simulated campaigns and write their results: CSV of every round, JSON summary, PNG plot."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from activeloop.api.campaign import LocalSpec
from activeloop.errors import InputError
from activeloop.landscapes import Landscape, load_landscape
from activeloop.local.simulate import (
    RoundRecord,
    Strategy,
    describe,
    records_as_rows,
    simulate_campaign,
    summarize,
)
from activeloop.ml.encodings import get_encoder
from activeloop.store.local import LocalStore


def landscape_scores(landscape: Landscape, scorer: str) -> np.ndarray:
    """Zero-shot scores of every variant of ``landscape``: ``hamming``, a language model (ESM-2 id or
    directory, ``unirep:1900``, ...), or a CSV (or ``.csv.gz``) of ``variant,score`` computed elsewhere
    (e.g. on a GPU, by ``benchmarks/foundation.py zero-shot``)."""
    from activeloop.ml.zeroshot import score_library

    path = Path(scorer)
    if scorer.endswith((".csv", ".csv.gz")):
        if not path.is_file():
            raise InputError("scorer", f"{scorer} is not a file")
        table = pd.read_csv(path)
        by_name = dict(zip(table["variant"].astype(str), table["score"].astype(float), strict=True))
        names = landscape.library.names_of(np.arange(len(landscape)))
        missing = [n for n in names if n not in by_name]
        if missing:
            raise InputError("scorer", f"{scorer} has no score for {len(missing)} variants, e.g. {missing[0]}")
        return np.array([by_name[n] for n in names])
    return score_library(landscape.library, "hamming" if scorer == "hamming" else "backbone",
                         None if scorer == "hamming" else scorer).scores


@dataclass(frozen=True)
class SimulationContext:
    """What every simulated campaign reads: the landscape, its features by encoding, its zero-shot
    scores by scorer. Worker processes receive it once, when they start (``install``)."""

    landscape: Landscape
    features: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    in_worker: ClassVar[SimulationContext | None] = None
    """The context of this worker process (set by the pool's initializer; the parent never sets it)."""

    def install(self) -> None:
        """Make this the worker process's context (a pool initializer)."""
        SimulationContext.in_worker = self

    def campaign(self, st: Strategy, seed: int, rounds: int, batch: int, init: int,
                 on_round: Callable[[RoundRecord], None] | None = None) -> list[RoundRecord]:
        """One simulated campaign of strategy ``st`` with ``seed``."""
        return simulate_campaign(self.landscape, self.features[st.encoding], st, seed, init=init, rounds=rounds,
                                 batch=batch, on_round=on_round,
                                 scores=self.scores[st.scorer] if st.needs_scores else None)


def _in_worker(st: Strategy, seed: int, rounds: int, batch: int, init: int) -> list[RoundRecord]:
    ctx = SimulationContext.in_worker
    assert ctx is not None, "no simulation context in this process"
    return ctx.campaign(st, seed, rounds, batch, init)


def run_strategies(
    landscape: Landscape,
    strategies: list[Strategy],
    seeds: list[int],
    *,
    rounds: int,
    batch: int,
    init: int,
    console: Console | None = None,
    jobs: int = 1,
) -> list[RoundRecord]:
    """Every strategy on every seed (same seeds, so the same initial draws); logs each round.

    ``jobs > 1`` runs seeds in that many processes; results are the same as with one (each fit is
    single-threaded and seeded, see ``ml.determinism``) and come back in the same order.
    """
    features = {st.encoding: get_encoder(st.encoding).encode(landscape.library) for st in strategies}
    scores = {st.scorer: landscape_scores(landscape, st.scorer) for st in strategies if st.needs_scores}
    tasks = [(st, seed) for st in strategies for seed in seeds]

    def say(text: str) -> None:
        if console:
            console.print(text, highlight=False, markup=False)

    def log(rec: RoundRecord) -> None:
        if rec.round:
            say(f"[{rec.strategy}] seed {rec.seed} round {rec.round}: measured {rec.measured}, "
                f"best {rec.best_fitness:.3f} ({rec.normalized_best:.3f} of max), {rec.seconds:.1f}s")

    ctx = SimulationContext(landscape, features, scores)
    if jobs <= 1:
        return [rec for st, seed in tasks for rec in ctx.campaign(st, seed, rounds, batch, init, log)]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=ctx.install) as pool:
        futures = [pool.submit(_in_worker, st, seed, rounds, batch, init) for st, seed in tasks]
        out: list[RoundRecord] = []
        for future in futures:  # in task order: the same output whatever finishes first
            recs = future.result()
            last = recs[-1]
            say(f"[{last.strategy}] seed {last.seed}: {last.normalized_best:.3f} of max at {last.measured} "
                f"measured ({sum(r.seconds for r in recs):.0f}s)")
            out += recs
    return out


def plot_curves(summaries: list[dict], path: Path, title: str) -> None:
    """Mean normalised best fitness (± SEM) against variants measured, one line per strategy."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    for s in summaries:
        x = [r["measured"] for r in s["rounds"]]
        y = np.array([r["mean_normalized_best"] for r in s["rounds"]])
        e = np.array([r["sem"] for r in s["rounds"]])
        seeds = f", {s['seeds']} seeds" if "seeds" in s else ""
        ax.plot(x, y, marker="o", label=f"{s['strategy']} ({y[-1]:.3f}{seeds})")
        ax.fill_between(x, y - e, y + e, alpha=0.2)
    ax.set_xlabel("variants measured")
    ax.set_ylabel("best fitness found / global maximum")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", title="line: mean over seeds; band: ± 1 standard error",
              title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def summary_table(summaries: list[dict]) -> Table:
    """A rich table: one row per strategy and round."""
    table = Table(title="normalised best fitness (mean ± SEM over seeds)")
    table.add_column("strategy", overflow="fold")
    for col in ("measured", "mean", "sem", "global max found", "s/round"):
        table.add_column(col, justify="right")
    for s in summaries:
        for r in s["rounds"]:
            table.add_row(
                s["strategy"], str(r["measured"]), f"{r['mean_normalized_best']:.3f}",
                f"{r['sem']:.3f}", f"{r['fraction_global_max']:.2f}", f"{r['median_seconds']:.1f}",
            )
    return table


def run_simulation(
    landscape: str | Path,
    run_dir: Path,
    *,
    seeds: int,
    rounds: int,
    batch: int,
    init: int,
    strategy: str,
    surrogate: str,
    encoding: str,
    transform: str,
    baseline: bool,
    parent: str | None = None,
    sites: tuple[int, ...] = (),
    console: Console | None = None,
    start: str = "random",
    scorer: str = "hamming",
    prior: bool = False,
    jobs: int = 1,
) -> dict:
    """Simulate, then write ``rounds.csv``, ``summary.json`` and ``campaign.png`` into ``run_dir``."""
    land = load_landscape(landscape, parent=parent, sites=sites)
    main = Strategy(describe(encoding, surrogate, strategy, transform, start, scorer, prior, LocalSpec()), encoding,
                    surrogate, strategy, transform, start, scorer, prior)
    strategies = [main] + ([Strategy("random", acquisition="random")] if baseline else [])
    if console:
        console.print(
            f"{land.name}: {len(land)} variants, global max {land.global_max:.3f}; "
            f"{seeds} seed(s) x ({init} + {rounds} x {batch})"
        )
    records = run_strategies(
        land, strategies, list(range(seeds)), rounds=rounds, batch=batch, init=init, console=console, jobs=jobs
    )
    summaries = [summarize([r for r in records if r.strategy == s.name], land) for s in strategies]
    store = LocalStore(run_dir)
    store.put_bytes("rounds.csv", pd.DataFrame(records_as_rows(records)).to_csv(index=False).encode())
    result = {"strategy_summary": summaries[0], "summaries": summaries}
    store.put_bytes("summary.json", json.dumps(result, indent=2).encode())
    plot_curves(summaries, store.path("campaign.png"), f"{land.name}: {seeds} seed(s)")
    if console:
        console.print(summary_table(summaries))
    return result
