"""A round's inputs, pinned when the round starts: every step of the round reads this snapshot.

When round ``N`` starts, the campaign spec and the measurements (from every stored assay) are
copied under ``rounds/round-NNN/inputs/`` and their content hashes written to
``rounds/round-NNN/inputs.json``, which is written last and never replaced: taking a snapshot
twice returns the first one. Results that arrive while the round's steps run go to the next
round, so a round's model and proposals always come from the same data.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.names import ROUND_STEPS
from activeloop.errors import StateError
from activeloop.steps import ingest
from activeloop.steps.data import dump_spec
from activeloop.store import keys
from activeloop.store.base import ArtifactStore, sha256_bytes


@dataclass(frozen=True)
class RoundInputs:
    """What a round's steps read: hashes of the spec and measurements, and which assays they hold."""

    round: int
    spec_sha256: str
    measurements_sha256: str
    assays: tuple[tuple[str, str], ...]
    measured: int
    failed: int
    taken_at: str
    owner: str | None = None
    """Who took the pin (on a cluster, the LoopRound's uid): a round created again takes its
    own, provided none of its steps has read the old one."""
    related_sha256: str | None = None
    """Hash of the related assays' measurements pinned with the round (``None``: none)."""
    picks: tuple[str, ...] = ()
    """Variants a person added to the round's batch (as written; ``steps.picks`` reads them)."""
    picked_by: str | None = None

    @property
    def spec_key(self) -> str:
        """Key of the pinned spec."""
        return keys.pinned_spec(self.round)

    @property
    def measurements_key(self) -> str:
        """Key of the pinned measurements."""
        return keys.pinned_measurements(self.round)


def inputs_key(round_number: int) -> str:
    """Key of a round's ``inputs.json``."""
    return keys.inputs(round_number)


def read_inputs(store: ArtifactStore, round_number: int) -> RoundInputs | None:
    """The snapshot of a round, or ``None`` if it was not taken."""
    key = inputs_key(round_number)
    if not store.exists(key):
        return None
    d = json.loads(store.get_bytes(key))
    d["assays"] = tuple(tuple(a) for a in d["assays"])
    d["picks"] = tuple(d.get("picks") or ())
    return RoundInputs(**{k: v for k, v in d.items() if k in RoundInputs.__dataclass_fields__})


def take_snapshot(
    store: ArtifactStore, round_number: int, spec: CampaignSpec, now: str | None = None,
    owner: str | None = None, picks: Sequence[str] = (), picked_by: str | None = None,
) -> RoundInputs:
    """Pin round ``round_number``'s inputs (with the variants a person picked for its batch), or
    return the pin already taken: unless ``owner`` (the round as created now) differs from the
    pin's and no step of the round has written its record (a round started again after a
    correction reads the corrected measurements)."""
    existing = read_inputs(store, round_number)
    if existing is not None:
        if not owner or existing.owner in (None, owner):
            return existing
        if any(store.exists(keys.step_record(round_number, s)) for s in ROUND_STEPS):
            # a step has read this pin: the round started again keeps it (as its own)
            existing = replace(existing, owner=owner)
            _write_inputs(store, existing)
            return existing
    assays = ingest.list_assays(store)
    gone = ingest.superseded_names(assays)
    data = ingest.measurements(store, assays)
    spec_sha = store.put_bytes(keys.pinned_spec(round_number), dump_spec(spec))
    meas_sha = store.put_bytes(keys.pinned_measurements(round_number), ingest.measurements_csv(data))
    related = ingest.related_measurements(store, assays)
    related_sha = (store.put_bytes(keys.pinned_related(round_number),
                                   related.to_csv(index=False, lineterminator="\n").encode()) if len(related) else None)
    inputs = RoundInputs(
        round=round_number,
        spec_sha256=spec_sha,
        measurements_sha256=meas_sha,
        assays=tuple((a.name, a.sha256) for a in assays if a.name not in gone),
        measured=int((~data["failed"]).sum()),
        failed=int(data["failed"].sum()),
        taken_at=now or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        owner=owner,
        related_sha256=related_sha,
        picks=tuple(picks),
        picked_by=picked_by if picks else None,
    )
    _write_inputs(store, inputs)
    return inputs


def _write_inputs(store: ArtifactStore, inputs: RoundInputs) -> None:
    body = dict(inputs.__dict__) | {"assays": [list(a) for a in inputs.assays], "picks": list(inputs.picks)}
    store.put_bytes(inputs_key(inputs.round), json.dumps(body, indent=2, sort_keys=True).encode())


def load_inputs(store: ArtifactStore, round_number: int) -> tuple[CampaignSpec, pd.DataFrame, RoundInputs]:
    """The pinned spec and measurements of a round (a step's only inputs besides artifacts)."""
    import yaml

    inputs = read_inputs(store, round_number)
    if inputs is None:
        raise StateError(f"round {round_number} has no snapshot of its inputs ({inputs_key(round_number)}): "
                         "its steps run only once the round has started")
    spec_bytes = store.get_bytes(inputs.spec_key)
    meas_bytes = store.get_bytes(inputs.measurements_key)
    if sha256_bytes(spec_bytes) != inputs.spec_sha256 or sha256_bytes(meas_bytes) != inputs.measurements_sha256:
        raise StateError(f"round {round_number}'s pinned inputs do not match their hashes: the store was changed "
                         "by hand; restore them, or start the round again")
    spec = CampaignSpec.model_validate(yaml.safe_load(spec_bytes))
    data = ingest.read_measurements_csv(meas_bytes)
    values = data[["value", *ingest.objective_columns(data)]].to_numpy(dtype=np.float64)
    bad = data[~data["failed"] & (np.isinf(values).any(axis=1) | np.isnan(values).all(axis=1))]
    if len(bad):
        first = bad.iloc[0]
        raise StateError(
            f"round {round_number}'s inputs hold a value that is not a finite number: {first['variant']} "
            f"(plate {first['assays']}; {len(bad)} variant(s) in all). Correct the plate (record the fixed "
            "file as a correction of it) and start the round again: its inputs are taken again")
    return spec, data, inputs


def load_related(store: ArtifactStore, inputs: RoundInputs) -> pd.DataFrame:
    """The related assays' measurements pinned with a round (``ingest.RELATED_COLUMNS``; empty if none)."""
    if inputs.related_sha256 is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(ingest.RELATED_COLUMNS, [str, str, float])})
    data = store.get_bytes(keys.pinned_related(inputs.round))
    if sha256_bytes(data) != inputs.related_sha256:
        raise StateError(f"round {inputs.round}'s pinned related measurements do not match their hash: the store "
                         "was changed by hand; restore them, or start the round again")
    return pd.read_csv(io.BytesIO(data), dtype={"task": str, "variant": str}, keep_default_na=False)


__all__ = ["RoundInputs", "inputs_key", "load_inputs", "load_related", "read_inputs", "take_snapshot"]
