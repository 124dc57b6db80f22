"""Campaign data in the artifact store: library, measurements and proposals.

Keys (relative to the campaign's prefix in the store)::

    campaign.yaml                     the CampaignSpec
    measurements.csv                  variant,value,round,source  (append-only, canonical names)
    rounds/round-NNN/proposals.csv    variant,rank,mean,std
    rounds/round-NNN/acquire.json     what the acquire step used and produced (with hashes)
    rounds/round-NNN/tune.json        what the tune step trained (with hashes)
    rounds/round-NNN/model/...        tuned adapters (encoding esm + LoRA)
"""

from __future__ import annotations

import io
import json
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from activeloop.api.campaign import CampaignSpec
from activeloop.errors import InputError
from activeloop.ml.sequences import AMINO_ACIDS, VariantLibrary, tokenize
from activeloop.store.base import ArtifactStore

SPEC_KEY = "campaign.yaml"
MEASUREMENTS_KEY = "measurements.csv"
MEASUREMENT_COLUMNS = ["variant", "value", "round", "source"]


def round_prefix(round_number: int) -> str:
    """Key prefix of a round: ``rounds/round-007``."""
    return f"rounds/round-{round_number:03d}"


def load_spec(store: ArtifactStore) -> CampaignSpec:
    """The campaign spec stored in ``store``."""
    return CampaignSpec.model_validate(yaml.safe_load(store.get_bytes(SPEC_KEY)))


def dump_spec(spec: CampaignSpec) -> bytes:
    """YAML of a spec with camelCase keys (the form users write)."""
    return yaml.safe_dump(spec.model_dump(by_alias=True, exclude_none=True), sort_keys=False).encode()


def _read_variants_uri(uri: str) -> list[str]:
    path = Path(uri.removeprefix("file://"))
    if not path.is_file():
        raise InputError("library.variantsUri", f"{uri} is not a readable file")
    df = pd.read_csv(path, encoding="utf-8-sig")
    if "variant" not in df.columns:
        raise InputError("library.variantsUri", f"{uri} has no 'variant' column")
    return df["variant"].astype(str).tolist()


def build_library(spec: CampaignSpec) -> VariantLibrary:
    """The candidate library of a campaign (every site combination, or the listed variants)."""
    lib = spec.library
    parent = spec.parent_sequence
    if lib.sites:
        alphabet = np.asarray([AMINO_ACIDS.index(a) for a in lib.alphabet], dtype=np.uint8)
        combos = np.asarray(list(itertools.product(range(len(alphabet)), repeat=len(lib.sites))))
        tokens = np.repeat(tokenize([parent]), len(combos), axis=0)
        tokens[:, np.asarray(lib.sites) - 1] = alphabet[combos]
        library = VariantLibrary.from_sequences(
            parent, ["".join(AMINO_ACIDS[t] for t in row) for row in tokens], lib.sites
        )
    else:
        library = VariantLibrary.from_strings(parent, _read_variants_uri(lib.variants_uri or ""))
    if lib.exclude:
        drop = set(library.index_of(library.parser.name(v, "library.exclude") for v in lib.exclude))
        library = library.subset(np.asarray([i for i in range(len(library)) if i not in drop]))
    return library


def read_measurements(store: ArtifactStore) -> pd.DataFrame:
    """All recorded measurements (possibly empty)."""
    if not store.exists(MEASUREMENTS_KEY):
        return pd.DataFrame(columns=MEASUREMENT_COLUMNS)
    return pd.read_csv(io.BytesIO(store.get_bytes(MEASUREMENTS_KEY)), keep_default_na=False)


def write_measurements(store: ArtifactStore, df: pd.DataFrame) -> str:
    """Replace the measurements artifact atomically; returns its hash."""
    return store.put_bytes(MEASUREMENTS_KEY, df[MEASUREMENT_COLUMNS].to_csv(index=False).encode())


def aggregate(measurements: pd.DataFrame) -> pd.DataFrame:
    """One row per variant: the mean of its replicates (``variant``, ``value``, ``n``)."""
    if measurements.empty:
        return pd.DataFrame({"variant": [], "value": [], "n": []})
    values = pd.to_numeric(measurements["value"])
    grouped = values.groupby(measurements["variant"]).agg(["mean", "count"])
    return pd.DataFrame(
        {"variant": grouped.index, "value": grouped["mean"].to_numpy(), "n": grouped["count"].to_numpy()}
    ).reset_index(drop=True)


def read_proposals(store: ArtifactStore, round_number: int) -> pd.DataFrame | None:
    """Proposals of a round, or ``None`` if the round has none yet."""
    key = f"{round_prefix(round_number)}/proposals.csv"
    if not store.exists(key):
        return None
    return pd.read_csv(io.BytesIO(store.get_bytes(key)))


def latest_round(store: ArtifactStore) -> int:
    """Highest round number with proposals (0 when none)."""
    rounds = [
        int(k.split("/")[1].removeprefix("round-"))
        for k in store.list("rounds/")
        if k.endswith("/proposals.csv")
    ]
    return max(rounds, default=0)


def measurement_hash(store: ArtifactStore) -> str | None:
    """SHA-256 of the measurements artifact (``None`` before the first record)."""
    return store.content_hash(MEASUREMENTS_KEY) if store.exists(MEASUREMENTS_KEY) else None


def write_record(store: ArtifactStore, key: str, record: dict) -> dict:
    """Store a step's JSON record under ``key`` and return it."""
    store.put_bytes(key, json.dumps(record, indent=2, sort_keys=True).encode())
    return record
