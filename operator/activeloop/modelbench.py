"""Model choice: accuracy against compute, energy and memory, and the smallest model good enough.

``activeloop bench-models --task CSV --models ridge:onehot,lora:esm=DIR,student-cnn*4`` fits every
model (see :mod:`activeloop.ml.zoo` for the names) on the same training variants of a task, scores
every variant, and measures on held-out variants:

- accuracy: Spearman with measured fitness, and top-k recall (the fraction of the k fittest
  held-out variants that the model also ranks in its top k), for k given and for 10% of them;
- compute: CPU seconds to fit (tune) and to score 10,000 variants, and wall seconds (the figure
  to read on a GPU, whose time CPU seconds do not count; the ``device`` column says which ran);
- energy and CO2e from ``codecarbon`` (RAPL/NVML where the machine exposes them, otherwise an
  estimate from CPU load and TDP, which the ``energy_method`` column says);
- memory: the peak resident set of the process that ran the model (each model runs in a fresh
  process, so peaks are the model's own).

Students are distilled from a teacher (``--teacher``, or the most accurate other model). The
leaderboard is written as CSV, JSON and a plot of accuracy against cost, and the smallest model (in
deployed bytes) whose Spearman is within ``tolerance`` of the best is named.
"""

from __future__ import annotations

import json
import math
import os
import resource
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from activeloop.errors import ActiveLoopError, ConfigError
from activeloop.ml.backbones import default_device
from activeloop.ml.zoo import fit_model, parse_model
from activeloop.steps.cost import emissions_tracker, energy_method


@dataclass(frozen=True)
class TaskSpec:
    """A landscape and how to split it: ``train`` variants to fit, up to ``test`` held out."""

    source: str
    train: int = 500
    test: int | None = None
    seed: int = 0
    parent: str | None = None
    variant_column: str | None = None
    fitness_column: str | None = None
    first_position: int | None = None

    def load(self):  # noqa: ANN201 (activeloop.landscapes.Landscape)
        """The landscape and its ``(train_rows, test_rows)`` split (seeded)."""
        from activeloop.landscapes import load_landscape

        land = load_landscape(
            self.source, parent=self.parent, variant_column=self.variant_column,
            fitness_column=self.fitness_column, first_position=self.first_position,
        )
        if self.train < 10 or self.train >= len(land) - 10:
            raise ConfigError("train", f"{self.train} training variants of {len(land)}: need 10 to N-10")
        order = np.random.default_rng(self.seed).permutation(len(land))
        train = np.sort(order[: self.train])
        test = order[self.train :]
        if self.test:
            test = test[: self.test]
        return land, train, np.sort(test)


def top_k_recall(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Fraction of the ``k`` largest ``y_true`` that are also among the ``k`` largest ``y_pred``."""
    k = min(k, len(y_true))
    true_top = set(np.argsort(-y_true, kind="stable")[:k])
    pred_top = set(np.argsort(-y_pred, kind="stable")[:k])
    return len(true_top & pred_top) / k


def evaluate(
    task: TaskSpec,
    model: str,
    *,
    teacher: np.ndarray | None = None,
    epochs: int = 10,
    threads: int = 1,
    top_k: int = 50,
    country: str = "USA",
    whole: bool = True,
) -> tuple[dict, np.ndarray]:
    """Fit and score one model; returns its leaderboard row and its predictions (for every variant
    when ``whole``, as a teacher needs; else for the training and held-out variants only, NaN for
    the rest: the cost per 10,000 is scaled from what was scored)."""
    import torch

    torch.set_num_threads(threads)
    spec = parse_model(model)
    land, train, test = task.load()
    rss_start = _rss_mb()
    tracker = emissions_tracker(country)
    tracker.start()
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        fitted = fit_model(spec, land.library, train, land.fitness[train], teacher=teacher,
                           epochs=epochs, seed=task.seed)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        rows = np.arange(len(land)) if whole else np.union1d(train, test)
        pred = np.full(len(land), np.nan)
        pred[rows] = np.asarray(fitted.predict(rows), dtype=np.float64)
        cpu2, wall2 = time.process_time(), time.perf_counter()
    finally:
        tracker.stop()
    data = tracker.final_emissions_data
    scale = 10_000 / len(rows)
    row = {
        "model": model,
        "student": spec.is_student,
        "spearman": float(spearmanr(pred[test], land.fitness[test]).statistic),
        f"top{top_k}_recall": top_k_recall(land.fitness[test], pred[test], top_k),
        "top10pct_recall": top_k_recall(land.fitness[test], pred[test], max(1, len(test) // 10)),
        "parameters": fitted.total,
        "trainable_parameters": fitted.trainable,
        "bytes": int(fitted.bytes),
        "fit_cpu_s": cpu1 - cpu0,
        "score_cpu_s_per_10k": (cpu2 - cpu1) * scale,
        "fit_wall_s": wall1 - wall0,
        "score_wall_s_per_10k": (wall2 - wall1) * scale,
        "energy_kwh": float(data.energy_consumed),
        "co2e_kg": float(data.emissions),
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": rss_start,
        "device": str(default_device()),
        "energy_method": energy_method(),
        "country": country,
    }
    if spec.is_student and teacher is not None:
        row["spearman_teacher"] = float(spearmanr(pred[test], teacher[test]).statistic)
    return row, pred


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _run_isolated(
    fn: Callable[..., tuple[dict, np.ndarray]], *args: object, **kwargs: object
) -> tuple[dict, np.ndarray]:
    """Run ``fn`` in a fresh (spawned) process, so its peak memory and energy are its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        try:
            return pool.submit(fn, *args, **kwargs).result()
        except BrokenProcessPool as exc:
            raise ActiveLoopError(
                f"model {args[1]!r}: its process died (killed, e.g. out of memory?)"
            ) from exc


@dataclass
class Leaderboard:
    """Rows per model, the chosen model and the files written."""

    table: pd.DataFrame
    choice: str
    best: str
    tolerance: float
    teacher: str | None
    files: dict[str, str]


def choose(table: pd.DataFrame, tolerance: float) -> tuple[str, str]:
    """``(smallest within tolerance, best)``: fewest deployed bytes with Spearman >= best - tol."""
    best = table.loc[table["spearman"].idxmax()]
    good = table[table["spearman"] >= best["spearman"] - tolerance]
    smallest = good.sort_values(["bytes", "fit_cpu_s"]).iloc[0]
    return str(smallest["model"]), str(best["model"])


def run_bench(
    task: TaskSpec,
    models: Sequence[str],
    out: str | Path,
    *,
    teacher: str | None = None,
    tolerance: float = 0.02,
    epochs: int = 10,
    threads: int = 1,
    top_k: int = 50,
    country: str = "USA",
    isolate: bool = True,
    on_row: Callable[[dict], None] | None = None,
) -> Leaderboard:
    """Evaluate ``models`` on ``task``; write ``leaderboard.csv/.json/.png`` to ``out``."""
    specs = [parse_model(m) for m in models]  # refuse bad names before any work
    if not specs:
        raise ConfigError("models", "name at least one model")
    if teacher is not None and teacher not in models:
        raise ConfigError("teacher", f"{teacher!r} is not one of the models")
    n_test = len(task.load()[2])  # refuse a bad task or split before any work
    run = _run_isolated if isolate else (lambda fn, *a, **k: fn(*a, **k))
    opts = {"epochs": epochs, "threads": threads, "top_k": top_k, "country": country}
    rows: list[dict] = []
    preds: dict[str, np.ndarray] = {}
    students = [s for s in specs if s.is_student]
    for spec in [s for s in specs if not s.is_student]:
        # a teacher's predictions cover the library (its students learn them); others only what is scored
        whole = bool(students) and teacher in (None, spec.text)
        row, preds[spec.text] = run(evaluate, task, spec.text, whole=whole, **opts)
        rows.append(row)
        if on_row:
            on_row(row)
    if students:
        if not preds:
            raise ConfigError("models", "students need a teacher among the models")
        teacher = teacher or max((r for r in rows), key=lambda r: r["spearman"])["model"]
        for spec in students:
            row, preds[spec.text] = run(evaluate, task, spec.text, teacher=preds[teacher], **opts)
            row["teacher"] = teacher
            rows.append(row)
            if on_row:
                on_row(row)
    table = pd.DataFrame(rows)
    choice, best = choose(table, tolerance)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": str(out / "leaderboard.csv"), "json": str(out / "leaderboard.json"),
             "plot": str(out / "leaderboard.png")}
    table.to_csv(files["csv"], index=False)
    board = Leaderboard(table, choice, best, tolerance, teacher if students else None, files)
    Path(files["json"]).write_text(json.dumps({
        "task": asdict(task), "tolerance": tolerance, "choice": choice, "best": best,
        "teacher": board.teacher, "top_k": top_k, "threads": threads,
        "rows": json.loads(table.to_json(orient="records")),
    }, indent=2))
    plot_leaderboard(table, choice, files["plot"],
                     title=f"{Path(task.source).stem}: {task.train} train, {n_test} held out")
    return board


def plot_leaderboard(table: pd.DataFrame, choice: str, path: str | Path, title: str = "") -> Path:
    """Spearman against CPU seconds (fit + scoring 10,000 variants), log scale; the choice ringed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    cost = table["fit_cpu_s"] + table["score_cpu_s_per_10k"]
    sizes = 20 + 12 * np.log10(table["bytes"].clip(lower=1))
    colors = ["tab:orange" if s else "tab:blue" for s in table["student"]]
    ax.scatter(cost, table["spearman"], s=sizes, c=colors, alpha=0.8)
    for c, s, name in zip(cost, table["spearman"], table["model"]):
        ax.annotate(name, (c, s), fontsize=7, xytext=(4, 3), textcoords="offset points")
        if name == choice:
            ax.scatter([c], [s], s=260, facecolors="none", edgecolors="green", linewidths=2)
    ax.set_xscale("log")
    ax.set_xlabel("CPU seconds: fit + score 10,000 variants (log)")
    ax.set_ylabel("Spearman on held-out variants")
    ax.set_title(f"{title}\nchoice (ringed): {choice}; marker size ~ log bytes; students orange",
                 fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)


def format_row(row: dict) -> str:
    """One log line per model."""
    recall = next((v for k, v in row.items() if k.endswith("_recall")), math.nan)
    return (
        f"{row['model']:<28} spearman {row['spearman']:.3f}  top-k recall {recall:.2f}  "
        f"top-10% recall {row['top10pct_recall']:.2f}  "
        f"fit {row['fit_cpu_s']:.1f} CPU s  score/10k {row['score_cpu_s_per_10k']:.2f} CPU s  "
        f"{row['bytes'] / 1e6:.2f} MB  {row['energy_kwh'] * 1000:.3f} Wh  "
        f"peak {row['peak_rss_mb']:.0f} MB"
    )
