"""The tune step: LoRA adapters on the measurements (``encoding: esm`` with LoRA enabled).

A function of ``(store, round_number)`` like every step; ``python -m activeloop.steps tune`` runs
it in a Job. It writes ``rounds/round-NNN/model/`` (adapters and head, safetensors) and
``tune.json`` with parameter counts and content hashes. A round already tuned is not tuned again.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

from activeloop.steps.data import (
    aggregate,
    build_library,
    load_spec,
    measurement_hash,
    read_measurements,
    round_prefix,
    write_record,
)
from activeloop.store.base import ArtifactStore

log = logging.getLogger(__name__)


def tune(store: ArtifactStore, round_number: int) -> dict:
    """Tune LoRA adapters on the measurements (only for ``encoding: esm`` with LoRA enabled).

    Writes ``rounds/round-NNN/model/`` and ``tune.json``; returns the record.
    """
    key = f"{round_prefix(round_number)}/tune.json"
    if store.exists(key):
        return json.loads(store.get_bytes(key))
    spec = load_spec(store)
    data = aggregate(read_measurements(store))
    record: dict = {"round": round_number, "measurements_sha256": measurement_hash(store)}
    if spec.surrogate.encoding != "esm" or not spec.lora.enabled or len(data) < 2:
        reason = "fixed encoding" if spec.surrogate.encoding != "esm" else "no LoRA or <2 measurements"
        return write_record(store, key, {**record, "tuned": False, "reason": reason})
    from activeloop.ml.backbones import load_backbone
    from activeloop.ml.lora import save_tuned, tune_lora

    library = build_library(spec)
    parser = library.parser
    sequences = [parser.sequence(v) for v in data["variant"]]
    start = time.perf_counter()
    backbone = load_backbone(spec.backbone.model, revision=spec.backbone.revision)
    lora = spec.lora.model_dump(exclude={"enabled"})
    lora["target_modules"] = lora["target_modules"] or None
    tuned = tune_lora(
        backbone, sequences, data["value"].to_numpy(), seed=spec.seed + round_number,
        on_epoch=lambda e, loss: log.info("round %d tune epoch %d loss %.4f", round_number, e, loss),
        **lora,
    )
    trainable, total = tuned.parameter_counts()
    prefix = f"{round_prefix(round_number)}/model"
    hashes = {}
    with tempfile.TemporaryDirectory() as tmp:
        save_tuned(tuned, tmp)
        for f in sorted(Path(tmp).iterdir()):
            hashes[f.name] = store.put_file(f"{prefix}/{f.name}", f)
    return write_record(
        store,
        key,
        {
            **record,
            "tuned": True,
            "backbone": spec.backbone.model,
            "trainable_parameters": trainable,
            "total_parameters": total,
            "trainable_fraction": trainable / total,
            "seconds": time.perf_counter() - start,
            "model_uri": store.uri(prefix),
            "model_sha256": hashes,
        },
    )
