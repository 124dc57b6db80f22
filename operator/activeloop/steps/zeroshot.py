"""The campaign's zero-shot scores: computed once, stored as an artifact, read by every round.

The key is the content hash of what determines the scores (scorer, model and revision, ESM mode,
parent and library), so a campaign that changes none of them computes nothing again and one that
changes any of them never reads stale scores. The artifact is a ``.npy`` array (one float64 per
library row) beside a JSON record with its SHA-256, the scorer, the model and the time it took.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time

import numpy as np

from activeloop.api.campaign import CampaignSpec
from activeloop.ml.library import Library
from activeloop.store import keys
from activeloop.store.base import ArtifactStore

log = logging.getLogger(__name__)

def scores_config(spec: CampaignSpec) -> dict:
    """What determines a campaign's zero-shot scores."""
    z = spec.zero_shot
    model = {"model": spec.backbone.model, "revision": spec.backbone.revision,
             "mode": z.mode, "maxLength": spec.backbone.max_length} if z.scorer == "backbone" else {}
    return {"scorer": z.scorer, **model, "parent": spec.parent_sequence,
            "library": spec.library.model_dump(by_alias=True, exclude={"exclude"})}


def scores_key(spec: CampaignSpec) -> str:
    """Store key of the scores' array (``zero-shot/<hash>.npy``)."""
    digest = hashlib.sha256(json.dumps(scores_config(spec), sort_keys=True).encode()).hexdigest()[:16]
    return keys.zero_shot(digest)


def zero_shot_scores(store: ArtifactStore, spec: CampaignSpec, library: Library) -> tuple[np.ndarray, dict]:
    """The library's zero-shot scores and their record; computed and stored on first use."""
    key = scores_key(spec)
    record_key = keys.zero_shot(key.removeprefix(keys.ZERO_SHOT).removesuffix(".npy"), ".json")
    if store.exists(key) and store.exists(record_key):
        record = json.loads(store.get_bytes(record_key))
        scores = np.load(io.BytesIO(store.get_bytes(key)), allow_pickle=False)
        if len(scores) == len(library):
            return scores, record
    from activeloop.ml.zeroshot import score_library

    start = time.perf_counter()
    step = max(1, len(library) // 20)

    def progress(done: int, total: int) -> None:
        if done == total or done // step != (done - 1) // step:
            log.info("zero-shot scores: %d of %d (%.0f s)", done, total, time.perf_counter() - start)

    z = spec.zero_shot
    result = score_library(library, z.scorer, spec.backbone.model, spec.backbone.revision, z.mode,
                           spec.backbone.max_length, on_progress=progress)
    buf = io.BytesIO()
    np.save(buf, result.scores.astype(np.float64), allow_pickle=False)
    record = {"scorer": result.scorer, "model": result.model, "variants": len(library),
              "uri": store.uri(key), "sha256": store.put_bytes(key, buf.getvalue()),
              "seconds": round(time.perf_counter() - start, 3), "config": scores_config(spec)}
    store.put_bytes(record_key, json.dumps(record, indent=2, sort_keys=True).encode())
    return result.scores, record


__all__ = ["scores_config", "scores_key", "zero_shot_scores"]
