"""Simulated campaigns: the "lab" is an oracle that reveals fitness only for proposed variants.

Two protocols. ALDE's (Yang et al. 2025; ``start="random"``): ``init`` variants drawn uniformly at
random, then ``rounds`` batches of ``batch`` proposals. The lab's (``start="zeroShot"`` or
``"focused"``): the first ``init`` chosen by a zero-shot score instead, as a campaign's
``initialBatch`` does. After each round the best fitness measured so far is divided by the
landscape's global maximum.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from activeloop.api.campaign import LocalSpec
from activeloop.landscapes import Landscape
from activeloop.ml.initial import initial_batch
from activeloop.ml.loop import DEFAULT_SURROGATE, propose_batch
from activeloop.ml.neighbourhood import neighbourhood

log = logging.getLogger(__name__)


SURROGATE_WORDS = {
    "gp_epistasis_auto": "epistasis GP (order chosen each round)", "gp_epistasis": "epistasis GP (order 4)",
    "gp": "GP (RBF kernel)", "gp_epistasis2": "pairwise-epistasis GP",
    "gp_soft_epistasis": "soft-epistasis GP", "boosting_ensemble": "5 boosted trees",
    "mlp_ensemble": "5 MLPs", "student_ensemble": "4 CNN students of the epistasis GP",
}
ENCODING_WORDS = {"onehot": "one-hot residues", "physchem": "physico-chemical descriptors",
                  "onehot_physchem": "one-hot + descriptors", "esm": "language-model embeddings"}
STRATEGY_WORDS = {"thompson": "Thompson sampling", "ucb": "upper confidence bound",
                  "logei": "log expected improvement", "qlognei": "log expected improvement",
                  "greedy": "highest predicted mean", "uncertainty": "most uncertain first", "random": "random"}


NO_LOCAL = LocalSpec(fraction=0)
"""No local search: the whole batch over the whole library (baselines, and the default before it)."""

START_WORDS = {"zeroShot": "the top by zero-shot score", "focused": "focused on the zero-shot top"}


@dataclass(frozen=True)
class Strategy:
    """A named combination of encoding, surrogate, acquisition and target transform, and how the
    first batch is chosen (``start``, by the zero-shot ``scorer``; ``prior``: the scores as the
    surrogate's prior) and how much of each batch is spent next to the best measured (``local``,
    as a campaign's ``acquisition.local``)."""

    name: str
    encoding: str = "onehot"
    surrogate: str = DEFAULT_SURROGATE
    acquisition: str = "thompson"
    transform: str = "rank"
    start: str = "random"
    scorer: str = "hamming"
    """``hamming``, or a language model (an ESM-2 id or directory, ``unirep:1900``, ...)."""
    prior: bool = False
    local: LocalSpec = field(default_factory=LocalSpec)

    @property
    def needs_scores(self) -> bool:
        """Whether the strategy uses zero-shot scores."""
        return self.start != "random" or self.prior

    def describe(self) -> str:
        """The strategy in words, for legends and tables."""
        return describe(self.encoding, self.surrogate, self.acquisition, self.transform, self.start,
                        self.scorer, self.prior, self.local)


def describe(encoding: str, surrogate: str, acquisition: str, transform: str, start: str = "random",
             scorer: str = "hamming", prior: bool = False, local: LocalSpec | None = None) -> str:
    """A strategy in words: ``epistasis GP on one-hot residues, Thompson sampling, ...``."""
    first = f"first batch {START_WORDS[start]} ({scorer})" if start in START_WORDS else ""
    if acquisition == "random":
        return "random" + (f", {first}" if first else "")
    words = (f"{SURROGATE_WORDS.get(surrogate, surrogate)} on {ENCODING_WORDS.get(encoding, encoding)}, "
             f"{STRATEGY_WORDS.get(acquisition, acquisition)}")
    words += ", rank-transformed targets" if transform == "rank" else ""
    words += f", {scorer} prior" if prior else ""
    if local is not None and local.fraction > 0:
        words += (f", {local.fraction:.0%} of each batch from round {local.from_round} next to the best "
                  f"{local.around} measured")
    return words + (f"; {first}" if first else "")


@dataclass(frozen=True)
class RoundRecord:
    """What one round of one seed achieved."""

    strategy: str
    seed: int
    round: int
    measured: int
    best_fitness: float
    normalized_best: float
    found_global_max: bool
    seconds: float
    found_top_0_1: bool = False
    """Whether the measured variants include one of the landscape's top 0.1%."""
    top_1_found: int = 0
    """How many of the landscape's top 1% are among the measured variants."""


def simulate_campaign(
    landscape: Landscape,
    X: np.ndarray,
    strategy: Strategy,
    seed: int,
    *,
    init: int = 96,
    rounds: int = 4,
    batch: int = 96,
    on_round: Callable[[RoundRecord], None] | None = None,
    scores: np.ndarray | None = None,
) -> list[RoundRecord]:
    """Run one seed of a campaign; returns one record for the initial draw and one per round.

    ``scores``: zero-shot scores of every variant, for a zero-shot start or prior.
    """
    fitness = landscape.fitness
    gmax = landscape.global_max
    top_0_1, top_1 = top_fraction(fitness, 0.001), top_fraction(fitness, 0.01)
    rng = np.random.default_rng(seed)
    if strategy.start == "random":  # ALDE's draw, kept exactly as it was
        measured = rng.choice(len(landscape), size=init, replace=False)
    else:
        measured = initial_batch(strategy.start, landscape.library, np.arange(len(landscape)), init, rng, scores)
    records: list[RoundRecord] = []

    def record(r: int, seconds: float) -> None:
        best = float(fitness[measured].max())
        rec = RoundRecord(
            strategy.name, seed, r, len(measured), best, best / gmax, bool(best >= gmax), seconds,
            bool(top_0_1[measured].any()), int(top_1[measured].sum()),
        )
        records.append(rec)
        if on_round:
            on_round(rec)

    record(0, 0.0)
    for r in range(1, rounds + 1):
        start = time.perf_counter()
        result = propose_batch(
            X,
            measured,
            fitness[measured],
            batch,
            surrogate=strategy.surrogate,
            acquisition=strategy.acquisition,
            transform=strategy.transform,
            seed=seed * 1000 + r,
            prior=scores if strategy.prior else None,
            # the campaign's round r + 1 (its round 1 is the first batch)
            local=neighbourhood(landscape.library, strategy.local, r + 1, batch, measured, fitness[measured]),
        )
        measured = np.concatenate([measured, result.rows])
        record(r, time.perf_counter() - start)
    return records


def top_fraction(fitness: np.ndarray, fraction: float) -> np.ndarray:
    """Whether each variant is among the landscape's top ``fraction`` (at least one variant; ties at
    the cut included)."""
    k = max(1, int(np.ceil(fraction * len(fitness))))
    return fitness >= np.partition(fitness, len(fitness) - k)[len(fitness) - k]


def summarize(records: list[RoundRecord], landscape: Landscape) -> dict:
    """Mean, standard error and global-max fraction per round, as in ``--summary-json``."""
    by_round: dict[int, list[RoundRecord]] = {}
    for rec in records:
        by_round.setdefault(rec.round, []).append(rec)
    rounds = []
    for r in sorted(by_round):
        recs = by_round[r]
        vals = np.array([x.normalized_best for x in recs])
        rounds.append(
            {
                "round": r,
                "measured": recs[0].measured,
                "mean_normalized_best": float(vals.mean()),
                "sem": float(vals.std(ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else 0.0,
                "fraction_global_max": float(np.mean([x.found_global_max for x in recs])),
                "fraction_top_0_1": float(np.mean([x.found_top_0_1 for x in recs])),
                "mean_top_1_found": float(np.mean([x.top_1_found for x in recs])),
                "median_seconds": float(np.median([x.seconds for x in recs])),
            }
        )
    return {
        "landscape": landscape.name,
        "strategy": records[0].strategy if records else None,
        "seeds": len({x.seed for x in records}),
        "global_max": landscape.global_max,
        "rounds": rounds,
    }


def records_as_rows(records: list[RoundRecord]) -> list[dict]:
    """Records as plain dicts (for CSV/JSON)."""
    return [asdict(r) for r in records]
