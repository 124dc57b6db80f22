"""Student against teacher on GB1 (shared/BENCHMARKS.md §3, first part).

The teacher is the core loop's default surrogate (epistasis GP) fitted on 480 measured variants
(rank-transformed fitness). Students (1-D CNN over one-hot residues; an ensemble of 4) learn the
teacher's mean on 20,000 unlabelled variants plus the measured ones. Reported, as ratios measured
in the same run: per-sequence CPU throughput (batch of 1,000, onnxruntime vs the teacher's
prediction, encoding included for both), Spearman with the teacher and with measured fitness on
10,000 held-out variants, parameters and bytes.

    python benchmarks/students.py [--seeds 3]

Writes ``benchmarks/results/students-gb1.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from activeloop.landscapes import load_landscape
from activeloop.ml.distill import export_ensemble, latency_ms, onnx_member_predictions, train_ensemble
from activeloop.ml.encodings import get_encoder
from activeloop.ml.loop import transform_targets
from activeloop.ml.surrogates import get_surrogate

RESULTS = Path(__file__).parent / "results"
SHARED = Path(__file__).resolve().parents[2] / "shared"


def one_seed(land, X: np.ndarray, seed: int, members: int, channels: int) -> dict:
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(land))
    measured, unlabelled, held = idx[:480], idx[480:20_480], idx[20_480:30_480]
    teacher = get_surrogate("gp_epistasis").fit(X[measured], transform_targets(land.fitness[measured], "rank"))
    rows = np.concatenate([unlabelled, measured])
    targets = teacher.predict(X[rows]).mean
    teacher_held = teacher.predict(X[held]).mean
    batch_rows = held[:1000]
    enc = get_encoder("onehot")
    lib = land.library
    t_teacher = latency_ms(lambda: teacher.predict(enc.encode(lib.subset(batch_rows))), repeats=5)
    students = train_ensemble(X[rows], targets, members=members, seed=seed, channels=channels, epochs=40)
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_ensemble(students, X.shape[1] // 20, tmp)
        preds = onnx_member_predictions(paths, students, X[held]).mean(0)
        t_student = latency_ms(
            lambda: onnx_member_predictions(paths, students, enc.encode(lib.subset(batch_rows))), repeats=5)
        size = sum(p.stat().st_size for p in paths)
    return {
        "teacher_ms_per_1000": t_teacher,
        "student_ms_per_1000": t_student,
        "throughput_ratio": t_teacher / t_student,
        "spearman_student_teacher": float(spearmanr(preds, teacher_held).statistic),
        "spearman_student_measured": float(spearmanr(preds, land.fitness[held]).statistic),
        "spearman_teacher_measured": float(spearmanr(teacher_held, land.fitness[held]).statistic),
        "student_parameters": int(students.num_parameters()),
        "student_bytes": int(size),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--channels", type=int, default=16)
    args = p.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("ACTIVELOOP_GB1_CSV", str(SHARED / "datasets" / "gb1_wu2016.csv"))
    land = load_landscape("gb1")
    X = get_encoder("onehot").encode(land.library)
    runs = []
    for seed in range(args.seeds):
        r = one_seed(land, X, seed, args.members, args.channels)
        runs.append(r)
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.3g}" for k, v in r.items()), flush=True)
    summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result = {"landscape": "gb1", "teacher": "epistasis GP on 480 measured (rank)",
              "student": f"{args.members} x CNN({args.channels}) on one-hot, ONNX", "held_out": 10_000,
              "seeds": args.seeds, "median": summary, "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "students-gb1.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
