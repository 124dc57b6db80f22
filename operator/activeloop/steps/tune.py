"""The tune step: LoRA adapters on the round's measurements (``encoding: esm`` with LoRA enabled).

A function of ``(store, round_number)`` like every step; ``python -m activeloop.steps tune`` runs
it in a Job. It reads the round's pinned inputs, writes ``rounds/round-NNN/model/`` (adapters and
head, safetensors) and ``tune.json`` with parameter counts, content hashes and what it cost. A
round already tuned is not tuned again.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from activeloop.api.names import LANGUAGE_MODEL_ENCODING
from activeloop.steps import ingest
from activeloop.steps.cost import measure
from activeloop.steps.data import build_library, round_prefix, write_record
from activeloop.steps.snapshot import load_inputs
from activeloop.store.base import ArtifactStore

log = logging.getLogger(__name__)


def tune(store: ArtifactStore, round_number: int) -> dict:
    """Tune LoRA adapters on the round's measurements; returns the step's record.

    Writes ``rounds/round-NNN/model/`` and ``tune.json``. Nothing is tuned for residue encodings,
    with LoRA disabled, or with fewer than two measured variants (the record says why).
    """
    key = f"{round_prefix(round_number)}/tune.json"
    if store.exists(key):
        return json.loads(store.get_bytes(key))
    spec, data, inputs = load_inputs(store, round_number)
    train = ingest.fitted(data)
    record: dict = {"round": round_number, "measurements_sha256": inputs.measurements_sha256,
                    "spec_sha256": inputs.spec_sha256}
    if spec.surrogate.encoding != LANGUAGE_MODEL_ENCODING or not spec.lora.enabled or len(train) < 2:
        reason = ("fixed encoding" if spec.surrogate.encoding != LANGUAGE_MODEL_ENCODING
                  else "LoRA disabled" if not spec.lora.enabled else "fewer than 2 measured variants")
        return write_record(store, key, {**record, "tuned": False, "reason": reason})
    from activeloop.ml.backbones import load_backbone
    from activeloop.ml.lora import save_tuned, tune_lora

    parser = build_library(spec).parser
    sequences = [parser.sequence(v) for v in train["variant"]]
    prefix = f"{round_prefix(round_number)}/model"
    hashes = {}
    with measure() as cost:
        backbone = load_backbone(spec.backbone.model, revision=spec.backbone.revision)
        lora = spec.lora.model_dump(exclude={"enabled"})
        lora["target_modules"] = lora["target_modules"] or None
        tuned = tune_lora(
            backbone, sequences, train["value"].to_numpy(), seed=spec.seed + round_number,
            on_epoch=lambda e, loss: log.info("round %d tune epoch %d loss %.4f", round_number, e, loss),
            **lora,
        )
        trainable, total = tuned.parameter_counts()
        with tempfile.TemporaryDirectory() as tmp:
            save_tuned(tuned, tmp, revision=spec.backbone.revision)
            for f in sorted(Path(tmp).iterdir()):
                hashes[f.name] = store.put_file(f"{prefix}/{f.name}", f)
    return write_record(
        store,
        key,
        {
            **record,
            "tuned": True,
            "backbone": spec.backbone.model,
            "revision": spec.backbone.revision,
            "trainable_parameters": trainable,
            "total_parameters": total,
            "trainable_fraction": trainable / total,
            "seconds": cost["wall_seconds"],
            "cost": cost,
            "model_uri": store.uri(prefix),
            "model_sha256": hashes,
        },
    )
