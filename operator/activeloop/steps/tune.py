"""The tune step: LoRA adapters on the round's measurements (``encoding: esm`` with LoRA enabled).

A function of ``(store, round_number)`` like every step; ``python -m activeloop.steps tune`` runs
it in a Job. It reads the round's pinned inputs and first compares, by ``lora.cvFolds``-fold
cross-validation, the tuned model with a ridge probe of the frozen embeddings. When tuning wins it
writes ``rounds/round-NNN/model/`` (adapters and head, safetensors) and the surrogate reads the tuned
embeddings; otherwise no model is written and the surrogate reads the frozen ones. ``tune.json``
records both Spearman figures, the choice (``features``), the early-stopping history, parameter
counts, content hashes and what it cost. A round already tuned is not tuned again. For a sharded
round (``acquisition.shards``) it also fits the surrogate once, for every shard to read.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from activeloop.api.names import LANGUAGE_MODEL_ENCODING, Step
from activeloop.steps import ingest
from activeloop.steps.cost import measure
from activeloop.steps.data import build_library, write_record
from activeloop.steps.snapshot import load_inputs
from activeloop.store import keys
from activeloop.store.base import ArtifactStore

log = logging.getLogger(__name__)


def tune(store: ArtifactStore, round_number: int) -> dict:
    """Tune LoRA adapters on the round's measurements; returns the step's record.

    Writes ``rounds/round-NNN/model/`` and ``tune.json``. Nothing is tuned for residue encodings,
    with LoRA disabled, or with fewer than two measured variants (the record says why).
    """
    key = keys.step_record(round_number, Step.TUNE)
    if store.exists(key):
        return json.loads(store.get_bytes(key))
    spec, data, inputs = load_inputs(store, round_number)
    train = ingest.fitted(data)
    record: dict = {"round": round_number, "measurements_sha256": inputs.measurements_sha256,
                    "spec_sha256": inputs.spec_sha256}
    if spec.surrogate.encoding != LANGUAGE_MODEL_ENCODING or not spec.lora.enabled or len(train) < 2:
        reason = ("fixed encoding" if spec.surrogate.encoding != LANGUAGE_MODEL_ENCODING
                  else "LoRA disabled" if not spec.lora.enabled else "fewer than 2 measured variants")
        return write_record(store, key, {**record, "tuned": False, "reason": reason,
                                         **_sharded_surrogate(store, round_number, spec.acquisition.shards)})
    from activeloop.ml.backbones import Backbone, load_backbone
    from activeloop.ml.lora import save_tuned, tune_lora, tuned_vs_frozen

    parser = build_library(spec, store).parser
    sequences = [parser.sequence(v) for v in train["variant"]]
    y = train["value"].to_numpy()
    prefix = keys.model_prefix(round_number)
    hashes: dict[str, str] = {}
    lora = spec.lora.model_dump(exclude={"enabled", "cv_folds"})
    lora["target_modules"] = lora["target_modules"] or None
    seed = spec.seed + round_number

    def load() -> Backbone:  # a fresh backbone: adapters are added to the model in place
        return load_backbone(spec.backbone.model, revision=spec.backbone.revision)

    def on_epoch(epoch: int, loss: float) -> None:
        log.info("round %d tune epoch %d loss %.4f", round_number, epoch, loss)

    with measure() as cost:
        folds = min(spec.lora.cv_folds, len(train) // 5)
        comparison = None
        if folds >= 2:
            comparison = tuned_vs_frozen(load, sequences, y, folds=folds, seed=seed, **lora)
            log.info("round %d cross-validated Spearman: tuned %.3f, frozen %.3f", round_number,
                     comparison.tuned, comparison.frozen)
        features = comparison.better if comparison else "tuned"
        history = None
        if features == "tuned":
            tuned = tune_lora(load(), sequences, y, seed=seed, on_epoch=on_epoch, **lora)
            trainable, total = tuned.parameter_counts()
            history = tuned.history
            with tempfile.TemporaryDirectory() as tmp:
                save_tuned(tuned, tmp, revision=spec.backbone.revision)
                for f in sorted(Path(tmp).iterdir()):
                    hashes[f.name] = store.put_file(f"{prefix}/{f.name}", f)
        else:  # the surrogate reads frozen embeddings (no model/ written)
            assert comparison is not None
            trainable, total = 0, comparison.backbone_parameters
    record.update(
        features=features,
        cv_spearman=None if comparison is None else {
            "tuned": comparison.tuned, "frozen": comparison.frozen, "folds": comparison.folds},
        loss=spec.lora.loss,
        history=None if history is None else {
            "validation_spearman": history.validation_spearman, "best_epoch": history.best_epoch,
            "train_loss": history.train_loss},
    )
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
            "trainable_fraction": trainable / total if total else 0.0,
            "seconds": cost["wall_seconds"],
            "cost": cost,
            "model_uri": store.uri(prefix) if hashes else None,
            "model_sha256": hashes,
            **_sharded_surrogate(store, round_number, spec.acquisition.shards),
        },
    )


def _sharded_surrogate(store: ArtifactStore, round_number: int, shards: int) -> dict:
    """For a sharded round, the surrogate fitted once for every shard (see ``steps.score``); the
    record's ``shards`` tells the operator to run the score step's Indexed Job next."""
    if shards == 1:
        return {"shards": 1}
    from activeloop.steps.acquire import fit_round_surrogate, round_context

    ctx = round_context(store, round_number)
    return fit_round_surrogate(store, round_number, ctx) if ctx.sharded else {"shards": 1}
