"""The acquire step: fit the surrogate on what is measured and propose a round's batch.

Like every step it is a function of ``(store, round_number)``: the local runner calls it
in-process, the cluster runs it as a Job (``python -m activeloop.steps acquire``). It reads only the
round's pinned inputs (``steps.snapshot``) and the round's tuned model. Its JSON record carries the
content hashes of what it read and wrote, so every proposal can be traced to its model and data.
Re-running it for a round that already has proposals returns the stored record (idempotent).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.names import LANGUAGE_MODEL_ENCODING
from activeloop.ml.candidates import Candidates
from activeloop.ml.encodings import get_encoder
from activeloop.ml.initial import initial_batch
from activeloop.ml.library import Library
from activeloop.ml.loop import propose_batch, transform_targets
from activeloop.steps import ingest
from activeloop.steps.cost import measure
from activeloop.steps.data import build_library, read_proposals, round_prefix, write_record
from activeloop.steps.snapshot import load_inputs
from activeloop.steps.zeroshot import zero_shot_scores
from activeloop.store.base import ArtifactStore

Featuriser = Callable[[np.ndarray | None], np.ndarray]
"""Library rows (``None``: all) -> the surrogate's features of those variants."""


def featuriser(
    store: ArtifactStore, spec: CampaignSpec, library: Library, round_number: int
) -> Featuriser:
    """The surrogate's features (tuned-model embeddings for ``esm``), with the model loaded once."""
    if spec.surrogate.encoding != LANGUAGE_MODEL_ENCODING:
        encoder = get_encoder(spec.surrogate.encoding)

        def fixed(rows: np.ndarray | None = None) -> np.ndarray:
            # encoded when asked, never the whole library at once (see ml.candidates)
            return encoder.encode(library, rows)

        return fixed
    prefix = f"{round_prefix(round_number)}/model"
    if store.list(prefix + "/"):
        from activeloop.ml.lora import load_tuned

        with tempfile.TemporaryDirectory() as tmp:
            for k in store.list(prefix + "/"):
                store.get_file(k, Path(tmp) / k.rsplit("/", 1)[1])
            tuned = load_tuned(tmp, spec.backbone.model, spec.backbone.revision)
        embed: Callable[[list[str]], np.ndarray] = tuned.embed
    else:
        from activeloop.ml.backbones import embed_sequences, load_backbone

        backbone = load_backbone(spec.backbone.model, spec.backbone.revision)

        def embed(sequences: list[str]) -> np.ndarray:
            return embed_sequences(backbone, sequences)

    def featurise(rows: np.ndarray | None = None) -> np.ndarray:
        # only the rows asked for are turned into sequences and embedded
        return embed(library.sequences_of(np.arange(len(library)) if rows is None else rows))

    return featurise


def use_cascade(spec: CampaignSpec, library: Library) -> bool:
    """Whether this round scores the library with students first (see ``acquisition.cascade``)."""
    mode = spec.acquisition.cascade.mode
    if mode != "auto":
        return mode == "always"
    return (spec.surrogate.encoding == LANGUAGE_MODEL_ENCODING
            and len(library) >= spec.acquisition.cascade.min_library)


def cascade_candidates(
    store: ArtifactStore,
    spec: CampaignSpec,
    library: Library,
    round_number: int,
    featurise: Featuriser,
    measured: np.ndarray,
    X_measured: np.ndarray,
    y: np.ndarray,
    available: np.ndarray,
    seed: int,
) -> tuple[np.ndarray, dict]:
    """Rows the teacher should see, chosen by a student ensemble distilled from it this round.

    The teacher (the campaign's surrogate on its features, fitted on the measurements) labels
    ``unlabelled`` random library variants; CNN students learn those labels plus the measured
    values, score every variant on one-hot input, and :func:`select_for_teacher` keeps
    ``fraction`` of the library. Returns the rows and a summary for the step's record.
    """
    from activeloop.ml.cascade import select_for_teacher
    from activeloop.ml.distill import train_ensemble
    from activeloop.ml.surrogates import get_surrogate

    c = spec.acquisition.cascade
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    free = np.nonzero(available)[0]
    pool = rng.choice(free, size=min(c.unlabelled, len(free)), replace=False)
    teacher = get_surrogate(spec.surrogate.kind, seed=seed).fit(X_measured, y)
    targets = np.concatenate([y, teacher.predict(featurise(pool)).mean])
    X_student = get_encoder("onehot").encode(library)
    students = train_ensemble(X_student[np.concatenate([measured, pool])], targets,
                              members=c.students, channels=c.channels, epochs=c.epochs, seed=seed)
    scores = students.predict(X_student)
    n_send = max(int(np.ceil(c.fraction * len(library))), spec.acquisition.batch_size)
    sent = select_for_teacher(scores, n_send,
                              uncertain_share=c.uncertain_share, available=available)
    listing = pd.DataFrame({"variant": library.names_of(sent),
                            "student_mean": scores.mean[sent], "student_std": scores.std[sent]})
    key = f"{round_prefix(round_number)}/cascade.csv"
    summary = {"candidates_uri": store.uri(key),
               "candidates_sha256": store.put_bytes(key, listing.to_csv(index=False).encode()),
               "students": c.students, "student_parameters": students.num_parameters(),
               "teacher_labelled": int(len(pool)), "sent_to_teacher": int(len(sent)),
               "library": len(library), "seconds": time.perf_counter() - start}
    return sent, summary


def acquire(store: ArtifactStore, round_number: int) -> dict:
    """Propose round ``round_number``'s batch; writes ``proposals.csv`` and ``acquire.json``.

    With fewer than two measured variants, the batch is ``initialBatchSize`` variants chosen by
    ``initialBatch`` (at random, or by the library's zero-shot scores). Variants measured, failed,
    pending (proposed in an earlier round, no result in this round's inputs) or excluded are never
    proposed.
    """
    prefix = round_prefix(round_number)
    key = f"{prefix}/acquire.json"
    if store.exists(key) and store.exists(f"{prefix}/proposals.csv"):
        return json.loads(store.get_bytes(key))
    spec, data, inputs = load_inputs(store, round_number)
    library = build_library(spec)
    train = ingest.fitted(data)
    train = ingest.in_library(train, library)
    measured = library.rows_of(train["variant"])
    tried = set(data["variant"])
    failed = [v for v in data.loc[data["failed"], "variant"] if library.contains(v)]
    pending = _pending_rows(store, library, tried, round_number)
    blocked = np.unique(np.concatenate(
        [library.rows_of(failed), pending, library.excluded_rows()]).astype(np.int64))
    sign = 1.0 if spec.objective.direction == "maximize" else -1.0
    seed = spec.seed * 1000 + round_number
    cascade = None
    zero_shot = scores = None
    prior_weight = None
    with measure() as cost:
        if spec.uses_zero_shot:
            scores, zs = zero_shot_scores(store, spec, library)
            zero_shot = {k: zs[k] for k in ("scorer", "model", "uri", "sha256", "seconds")}
        if len(measured) < 2:
            rng = np.random.default_rng(seed)
            available = np.setdiff1d(np.arange(len(library)), np.concatenate([measured, blocked]))
            first = spec.initial_batch
            rows = initial_batch(first.strategy, library, available, spec.initial_batch_size, rng,
                                 scores, first.top_fraction, first.max_share)
            mean = std = np.full(len(rows), np.nan)
            strategy = f"{first.strategy} (first batch)"
        else:
            y = sign * train["value"].to_numpy(dtype=np.float64)
            available = np.ones(len(library), dtype=bool)
            available[np.concatenate([measured, blocked])] = False
            featurise = featuriser(store, spec, library, round_number)
            if use_cascade(spec, library):
                yt = transform_targets(y, spec.surrogate.transform)
                X_measured = featurise(measured)
                sent, cascade = cascade_candidates(store, spec, library, round_number, featurise,
                                                   measured, X_measured, yt, available, seed)
                # the sub-problem: measured rows first, then the candidates the teacher sees
                candidates = np.concatenate([measured, sent])
                X: np.ndarray | Candidates = np.vstack([X_measured, featurise(sent)])
                prior_rows = candidates
                sub_measured, sub_excluded = np.arange(len(measured)), np.zeros(0, dtype=np.int64)
            else:
                candidates = None
                X = Candidates(len(library), featurise)  # features a chunk at a time
                prior_rows = np.arange(len(library))
                sub_measured, sub_excluded = measured, blocked
            result = propose_batch(
                X,
                sub_measured,
                y,
                min(spec.acquisition.batch_size, int(available.sum()) if candidates is None else len(sent)),
                surrogate=spec.surrogate.kind,
                acquisition=spec.acquisition.strategy,
                transform=spec.surrogate.transform,
                excluded=sub_excluded,
                seed=seed,
                prior=scores[prior_rows] if scores is not None and spec.surrogate.prior == "zeroShot" else None,
            )
            prior_weight = getattr(result.surrogate, "prior_weight", None)
            rows = result.rows if candidates is None else candidates[result.rows]
            if result.prediction is not None:
                pred = result.prediction
                # predictions in the objective's units, or (transform: rank) as normal scores of the
                # measured values, where higher is always better
                mean = sign * pred.mean if spec.surrogate.transform == "none" else pred.mean
                std = pred.std
            else:
                mean = std = np.full(len(rows), np.nan)
            strategy = spec.acquisition.strategy
    proposals = pd.DataFrame(
        {
            "variant": library.names_of(rows),
            "rank": np.arange(1, len(rows) + 1),
            "mean": mean,
            "std": std,
        }
    )
    body = proposals.to_csv(index=False).encode()
    proposals_hash = store.put_bytes(f"{prefix}/proposals.csv", body)
    tune_key = f"{prefix}/tune.json"
    best = None
    if len(train):
        values = train["value"].to_numpy(dtype=np.float64)
        best = float(values.max() if spec.objective.direction == "maximize" else values.min())
    record = {
        "round": round_number,
        "strategy": strategy,
        "surrogate": spec.surrogate.kind,
        "encoding": spec.surrogate.encoding,
        "measured": int(len(measured)),
        "failed_excluded": int(len(failed)),
        "pending_excluded": int(len(pending)),
        "proposed": int(len(rows)),
        "best_measured": best,
        "direction": spec.objective.direction,
        "measurements_sha256": inputs.measurements_sha256,
        "spec_sha256": inputs.spec_sha256,
        "tune_sha256": store.content_hash(tune_key) if store.exists(tune_key) else None,
        "cascade": cascade,
        "zero_shot": zero_shot,
        "prior": spec.surrogate.prior,
        "prior_weight": prior_weight,
        "prediction_scale": "objective" if spec.surrogate.transform == "none" else "normal score",
        "proposals_uri": store.uri(f"{prefix}/proposals.csv"),
        "proposals_sha256": proposals_hash,
        "seconds": cost["wall_seconds"],
        "cost": cost,
    }
    return write_record(store, key, record)


def _pending_rows(
    store: ArtifactStore, library: Library, tried: set[str], before_round: int
) -> np.ndarray:
    """Rows proposed in rounds before ``before_round`` that have no result in ``tried``."""
    pending: list[str] = []
    for r in range(1, before_round):
        props = read_proposals(store, r)
        if props is not None:
            pending += [v for v in props["variant"] if v not in tried and library.contains(v)]
    return library.rows_of(pending) if pending else np.zeros(0, dtype=np.int64)
