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
from activeloop.store.base import ArtifactStore, sha256_bytes

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


# ------------------------------------------------------------------ assay results from a cluster

ASSAYS_PREFIX = "assays/"


def assay_csv(rows: pd.DataFrame, name: str) -> bytes:
    """The stored form of one AssayResult's rows (``variant``, ``value``, ``round``)."""
    return rows.assign(source=name)[MEASUREMENT_COLUMNS].to_csv(index=False).encode()


def put_assay(
    store: ArtifactStore, name: str, rows: pd.DataFrame, supersedes: list[str], accepted_at: str
) -> str:
    """Store one accepted AssayResult (``variant``, ``value``, ``round``); returns the rows' hash.

    Writing the same object twice writes the same bytes: ingestion is idempotent.
    """
    sha = store.put_bytes(f"{ASSAYS_PREFIX}{name}.csv", assay_csv(rows, name))
    meta = {"name": name, "supersedes": sorted(supersedes), "sha256": sha, "accepted_at": accepted_at}
    key = f"{ASSAYS_PREFIX}{name}.json"
    if not store.exists(key) or json.loads(store.get_bytes(key))["sha256"] != sha:
        store.put_bytes(key, json.dumps(meta, sort_keys=True).encode())
    return sha


def assay_manifest(store: ArtifactStore) -> list[dict]:
    """Metadata of every stored AssayResult, sorted by name."""
    return [json.loads(store.get_bytes(k)) for k in store.list(ASSAYS_PREFIX) if k.endswith(".json")]


def rebuild_measurements(store: ArtifactStore) -> bool:
    """Rebuild ``measurements.csv`` from the stored AssayResults, leaving out superseded ones.

    Rebuilds only when the set of assays changed (tracked in ``measurements.sources.json``);
    returns whether it rebuilt.
    """
    manifest = assay_manifest(store)
    fingerprint = sha256_bytes(json.dumps([(m["name"], m["sha256"]) for m in manifest]).encode())
    key = "measurements.sources.json"
    if store.exists(key) and json.loads(store.get_bytes(key)).get("fingerprint") == fingerprint:
        return False
    superseded = {s for m in manifest for s in m["supersedes"]}
    frames = [
        pd.read_csv(io.BytesIO(store.get_bytes(f"{ASSAYS_PREFIX}{m['name']}.csv")), keep_default_na=False)
        for m in manifest
        if m["name"] not in superseded
    ]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MEASUREMENT_COLUMNS)
    write_measurements(store, df)
    sources = {"fingerprint": fingerprint, "assays": [m["name"] for m in manifest], "superseded": sorted(superseded)}
    store.put_bytes(key, json.dumps(sources).encode())
    return True


def check_measurements(
    variants: list[str], values: list[object], spec: CampaignSpec, library: VariantLibrary | None = None
) -> tuple[list[str], list[float], list[tuple[int, str]]]:
    """Validate measured rows against a campaign: canonical names, floats, and ``(index, error)``.

    A row is bad if its variant does not parse against the parent, is outside the library (when
    ``library`` is given), or its value is not a finite number.
    """
    import math

    from activeloop.errors import VariantError
    from activeloop.ml.sequences import VariantParser

    parser = VariantParser(spec.parent_sequence, tuple(spec.library.sites))
    names: list[str] = []
    floats: list[float] = []
    errors: list[tuple[int, str]] = []
    for i, (variant, value) in enumerate(zip(variants, values)):
        try:
            name = parser.name(str(variant), "variant")
        except VariantError as exc:
            errors.append((i, str(exc)))
            continue
        if library is not None and name not in library:
            errors.append((i, f"variant: {name} is not in the campaign's library"))
            continue
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            errors.append((i, f"value: {value!r} is not a number"))
            continue
        if not math.isfinite(v):
            errors.append((i, f"value: {value!r} is not a finite number"))
            continue
        names.append(name)
        floats.append(v)
    return names, floats, errors
