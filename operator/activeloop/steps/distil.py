"""The distil step: a round's teacher -> compact student(s) exported to ONNX, with figures.

The teacher is the round's surrogate refitted on the measurements the round trained on (with a
protein language model backbone, the tuned model's embeddings feed it). Students learn the
teacher's mean (and variance) on up to ``unlabelled`` library variants plus the measured values.
A tenth of the measured variants is held out for Spearman against measurements. Writes
``students/<name>/member-<k>.onnx`` and ``students/<name>/metrics.json``.
"""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from activeloop.api.campaign import CampaignSpec
from activeloop.errors import ConfigError
from activeloop.ml.distill import export_ensemble, latency_ms, onnx_member_predictions, train_ensemble
from activeloop.ml.encodings import get_encoder
from activeloop.ml.library import Library
from activeloop.ml.loop import transform_targets
from activeloop.ml.surrogates import get_surrogate
from activeloop.steps import ingest
from activeloop.steps.acquire import featuriser
from activeloop.steps.cost import measure
from activeloop.steps.data import build_library, write_record
from activeloop.steps.snapshot import load_inputs
from activeloop.store import keys
from activeloop.store.base import ArtifactStore


def distil(
    store: ArtifactStore,
    round_number: int,
    student: str = "student",
    architecture: str = "cnn",
    channels: int = 32,
    ensemble: int = 1,
    unlabelled: int = 20_000,
    epochs: int = 40,
    match_variance: bool = True,
) -> dict:
    """Distil round ``round_number``'s teacher into ``ensemble`` students; returns the record."""
    key = keys.student_metrics(student)
    if store.exists(key):
        return json.loads(store.get_bytes(key))
    spec, all_data, _ = load_inputs(store, round_number)
    library = build_library(spec, store)
    data = ingest.fitted(all_data)
    data = ingest.in_library(data, library)
    if len(data) < 10:
        raise ConfigError("round", f"distillation needs at least 10 measured variants, round {round_number} "
                         f"trained on {len(data)}")
    with measure() as cost:
        metrics = _distil(store, spec, library, data, round_number, student, architecture, channels,
                          ensemble, unlabelled, epochs, match_variance)
    metrics.update(seconds=cost["wall_seconds"], cost=cost)
    return write_record(store, key, metrics)


def _distil(
    store: ArtifactStore, spec: CampaignSpec, library: Library, data: pd.DataFrame, round_number: int,
    student: str, architecture: str, channels: int, ensemble: int, unlabelled: int, epochs: int,
    match_variance: bool,
) -> dict:
    rng = np.random.default_rng(spec.seed + round_number)
    measured = library.rows_of(data["variant"])
    y = data["value"].to_numpy(dtype=np.float64)
    if spec.objective.direction == "minimize":
        y = -y
    held = rng.permutation(len(measured))[: max(2, len(measured) // 10)]
    train = np.setdiff1d(np.arange(len(measured)), held)
    pool = np.setdiff1d(np.arange(len(library)), measured)
    pool = rng.choice(pool, size=min(unlabelled, len(pool)), replace=False)
    eval_rows = pool[: max(1, len(pool) // 5)]
    fit_rows = pool[len(eval_rows):]
    rows = np.concatenate([fit_rows, measured[train]])
    # teacher features only for the variants used (a language model need not embed the library)
    featurise = featuriser(store, spec, library, round_number)
    X_rows = featurise(rows)
    y_train = transform_targets(y[train], spec.surrogate.transform)
    teacher = get_surrogate(spec.surrogate.kind, seed=spec.seed).fit(X_rows[len(fit_rows):], y_train)
    labels = teacher.predict(X_rows)
    targets = np.concatenate([labels.mean[: len(fit_rows)], y_train])  # measured values as measured
    teacher_eval = teacher.predict(featurise(eval_rows))
    target_std = labels.std if match_variance and np.any(labels.std > 0) else None
    X = get_encoder("onehot").encode(library)
    positions = X.shape[1] // 20
    metrics: dict = {"student": student, "round": round_number, "architecture": architecture,
                     "channels": channels, "ensemble": ensemble, "members": []}
    students = train_ensemble(X[rows], targets, members=ensemble, seed=spec.seed,
                              architecture=architecture, channels=channels, epochs=epochs,
                              target_std=target_std)
    with tempfile.TemporaryDirectory() as tmp:
        paths = export_ensemble(students, positions, tmp)
        for st, path in zip(students.members, paths):
            key_k = keys.student_file(student, path.name)
            metrics["members"].append({
                "uri": store.uri(key_k), "sha256": store.put_file(key_k, path),
                "bytes": path.stat().st_size, "y_mean": st.y_mean, "y_std": st.y_std,
            })
        student_eval = onnx_member_predictions(paths, students, X[eval_rows]).mean(0)
        batch = X[pool[:1000]]
        lat = latency_ms(lambda: onnx_member_predictions(paths, students, batch))
    student_held = students.member_predictions(X[measured[held]]).mean(0)
    metrics.update(
        parameters=int(students.num_parameters()),
        bytes=int(sum(m["bytes"] for m in metrics["members"])),
        latency_ms_per_1000=lat,
        latency_ms=lat / 1000.0,
        spearman_teacher=float(spearmanr(student_eval, teacher_eval.mean).statistic),
        spearman_std_teacher=(
            float(spearmanr(np.mean([s.predict_std(X[eval_rows]) for s in students.members], axis=0),
                            teacher_eval.std).statistic)
            if target_std is not None else None
        ),
        matched_variance=target_std is not None,
        spearman_measured=float(spearmanr(student_held, y[held]).statistic),
        held_out=int(len(held)),
    )
    return metrics
