"""The acquire step: fit the surrogate on what is measured and propose a round's batch.

Like every step it is a function of ``(store, round_number)``: the local runner calls it
in-process, the cluster runs it as a Job (``python -m activeloop.steps acquire``). Its JSON record
carries the content hashes of what it read and wrote, so every proposal can be traced to its model
and data. Re-running it for a round that already has proposals returns the stored record
(idempotent).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.ml.encodings import get_encoder
from activeloop.ml.loop import propose_batch
from activeloop.ml.sequences import VariantLibrary
from activeloop.steps.data import (
    measurement_hash,
    write_record,
    aggregate,
    build_library,
    latest_round,
    load_spec,
    read_measurements,
    round_prefix,
)
from activeloop.store.base import ArtifactStore, sha256_bytes

def features(store: ArtifactStore, spec: CampaignSpec, library: VariantLibrary, round_number: int) -> np.ndarray:
    """The surrogate's features of every library variant (tuned-model embeddings for ``esm``)."""
    if spec.surrogate.encoding != "esm":
        return get_encoder(spec.surrogate.encoding).encode(library)
    prefix = f"{round_prefix(round_number)}/model"
    if store.list(prefix + "/"):
        from activeloop.ml.lora import load_tuned

        with tempfile.TemporaryDirectory() as tmp:
            for k in store.list(prefix + "/"):
                store.get_file(k, Path(tmp) / k.rsplit("/", 1)[1])
            tuned = load_tuned(tmp, spec.backbone.model)
            return tuned.embed(library.sequences)
    from activeloop.ml.backbones import embed_sequences, load_backbone

    return embed_sequences(load_backbone(spec.backbone.model, spec.backbone.revision), library.sequences)


def acquire(store: ArtifactStore, round_number: int) -> dict:
    """Propose round ``round_number``'s batch; writes ``proposals.csv`` and ``acquire.json``.

    With no measurements, the batch is ``initialBatchSize`` variants drawn at random. Variants
    measured or pending (proposed in an earlier round and not measured yet) are never proposed.
    """
    prefix = round_prefix(round_number)
    key = f"{prefix}/acquire.json"
    if store.exists(key) and store.exists(f"{prefix}/proposals.csv"):
        return json.loads(store.get_bytes(key))
    spec = load_spec(store)
    library = build_library(spec)
    data = aggregate(read_measurements(store))
    measured = library.index_of(data["variant"]) if len(data) else np.zeros(0, dtype=np.int64)
    pending = _pending_rows(store, library, set(data["variant"]), round_number)
    sign = 1.0 if spec.objective.direction == "maximize" else -1.0
    seed = spec.seed * 1000 + round_number
    start = time.perf_counter()
    if len(measured) < 2:
        rng = np.random.default_rng(seed)
        available = np.setdiff1d(np.arange(len(library)), np.concatenate([measured, pending]))
        q = min(spec.initial_batch_size, len(available))
        rows = rng.choice(available, size=q, replace=False)
        mean = std = np.full(len(rows), np.nan)
        strategy = "random (initial batch)"
    else:
        X = features(store, spec, library, round_number)
        result = propose_batch(
            X,
            measured,
            sign * data["value"].to_numpy(dtype=np.float64),
            min(spec.acquisition.batch_size, len(library) - len(measured) - len(pending)),
            surrogate=spec.surrogate.kind,
            acquisition=spec.acquisition.strategy,
            transform=spec.surrogate.transform,
            excluded=pending,
            seed=seed,
        )
        rows = result.rows
        if result.surrogate is not None:
            pred = result.surrogate.predict(X[rows])
            # predictions in the objective's units, or (transform: rank) as normal scores of the
            # measured values, where higher is always better
            mean = sign * pred.mean if spec.surrogate.transform == "none" else pred.mean
            std = pred.std
        else:
            mean = std = np.full(len(rows), np.nan)
        strategy = spec.acquisition.strategy
    proposals = pd.DataFrame(
        {
            "variant": [library.names[i] for i in rows],
            "rank": np.arange(1, len(rows) + 1),
            "mean": mean,
            "std": std,
        }
    )
    body = proposals.to_csv(index=False).encode()
    proposals_hash = store.put_bytes(f"{prefix}/proposals.csv", body)
    tune_key = f"{prefix}/tune.json"
    record = {
        "round": round_number,
        "strategy": strategy,
        "surrogate": spec.surrogate.kind,
        "encoding": spec.surrogate.encoding,
        "measured": int(len(measured)),
        "pending_excluded": int(len(pending)),
        "proposed": int(len(rows)),
        "best_measured": float(data["value"].max()) if len(data) else None,
        "measurements_sha256": measurement_hash(store),
        "tune_sha256": store.content_hash(tune_key) if store.exists(tune_key) else None,
        "spec_sha256": sha256_bytes(store.get_bytes("campaign.yaml")),
        "prediction_scale": "objective" if spec.surrogate.transform == "none" else "normal score",
        "proposals_uri": store.uri(f"{prefix}/proposals.csv"),
        "proposals_sha256": proposals_hash,
        "seconds": time.perf_counter() - start,
    }
    return write_record(store, key, record)


def _pending_rows(
    store: ArtifactStore, library: VariantLibrary, measured: set[str], before_round: int
) -> np.ndarray:
    from activeloop.steps.data import read_proposals

    pending: list[str] = []
    for r in range(1, min(before_round, latest_round(store) + 1)):
        props = read_proposals(store, r)
        if props is not None:
            pending += [v for v in props["variant"] if v not in measured]
    return library.index_of(pending) if pending else np.zeros(0, dtype=np.int64)

