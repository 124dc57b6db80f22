"""Campaign data in the artifact store: spec, library and proposals.

Keys (relative to the campaign's prefix in the store)::

    campaign.yaml                          the live CampaignSpec
    assays/<name>.csv, <name>.json         results as recorded (see ``steps.ingest``)
    measurements.csv                       one row per variant, derived from the assays
    rounds/round-NNN/inputs.json           the round's pinned inputs (see ``steps.snapshot``)
    rounds/round-NNN/inputs/...            their copies: campaign.yaml, measurements.csv
    rounds/round-NNN/proposals.csv         variant,rank,mean,std
    rounds/round-NNN/acquire.json          what the acquire step used and produced (with hashes)
    rounds/round-NNN/tune.json             what the tune step trained (with hashes)
    rounds/round-NNN/model/...             tuned adapters (encoding esm + LoRA)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from activeloop.api.campaign import CampaignSpec, check_library_size
from activeloop.errors import ConfigError, InputError
from activeloop.ml.library import CombinatorialLibrary, Library
from activeloop.ml.sequences import VariantLibrary, VariantParser
from activeloop.store.base import ArtifactStore
from activeloop.store.parsed import parsed

SPEC_KEY = "campaign.yaml"
MEASUREMENTS_KEY = "measurements.csv"


def round_prefix(round_number: int) -> str:
    """Key prefix of a round: ``rounds/round-007``."""
    return f"rounds/round-{round_number:03d}"


# libyaml's safe loader where PyYAML was built with it (ten times faster; pages read specs often)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_spec(data: bytes) -> CampaignSpec:
    """A campaign spec from its stored YAML."""
    return CampaignSpec.model_validate(yaml.load(data, Loader=_SAFE_LOADER))


def load_spec(store: ArtifactStore) -> CampaignSpec:
    """The campaign spec stored in ``store``."""
    return parsed(store, SPEC_KEY, parse_spec)


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


def surrogate_key(round_number: int) -> str:
    """Where a sharded round's fitted surrogate is kept (one fit, read by every shard)."""
    return f"{round_prefix(round_number)}/surrogate.pkl"


def shard_key(round_number: int, index: int) -> str:
    """Where shard ``index`` of a sharded round writes its top list (``steps.score``)."""
    return f"{round_prefix(round_number)}/shards/shard-{index:04d}.json"


def build_library(spec: CampaignSpec) -> Library:
    """The candidate library of a campaign (every site combination, or the listed variants).

    A combinatorial library is built without enumerating it; a variant list is read once.
    """
    lib = spec.library
    if lib.sites:
        parser = VariantParser(spec.parent_sequence, tuple(lib.sites))
        exclude = [parser.name(v, "library.exclude") for v in lib.exclude]
        return CombinatorialLibrary(spec.parent_sequence, lib.sites, lib.alphabet, exclude)
    library = VariantLibrary.from_strings(spec.parent_sequence, _read_variants_uri(lib.variants_uri or ""))
    try:
        check_library_size(len(library), lib, spec.acquisition.shards, "library.variantsUri")
    except ValueError as exc:
        raise ConfigError("library.variantsUri", str(exc)) from None
    if lib.exclude:
        drop = set(library.index_of(library.parser.name(v, "library.exclude") for v in lib.exclude))
        library = library.subset(np.asarray([i for i in range(len(library)) if i not in drop]))
    return library


def parse_proposals(data: bytes) -> pd.DataFrame:
    """A proposals table from its stored CSV."""
    return pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype={"variant": str}, na_values=[""])


def read_proposals(store: ArtifactStore, round_number: int) -> pd.DataFrame | None:
    """Proposals of a round, or ``None`` if the round has none yet."""
    key = f"{round_prefix(round_number)}/proposals.csv"
    if not store.exists(key):
        return None
    return parsed(store, key, parse_proposals)


def latest_round(store: ArtifactStore) -> int:
    """Highest round started (its inputs were snapshotted), 0 when none."""
    rounds = [
        int(k.split("/")[1].removeprefix("round-"))
        for k in store.list("rounds/")
        if k.endswith("/inputs.json")
    ]
    return max(rounds, default=0)


def write_record(store: ArtifactStore, key: str, record: dict) -> dict:
    """Store a step's JSON record under ``key`` and return it."""
    store.put_bytes(key, json.dumps(record, indent=2, sort_keys=True).encode())
    return record
