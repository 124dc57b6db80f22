"""Campaign data in the artifact store: the spec, the library and proposals (keys: ``store.keys``)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import yaml

from activeloop.api.campaign import CampaignSpec, LibrarySpec, check_library_size
from activeloop.api.sequence import validate_sequence
from activeloop.api.views import LibraryCheck, LibrarySize, SiteView
from activeloop.errors import ConfigError, VariantError
from activeloop.ml.library import CombinatorialLibrary, Library, VariantLibrary
from activeloop.ml.sequences import VariantParser
from activeloop.ml.variants import IN_MEMORY_LIMIT, SubstitutionLibrary, read_variant_list
from activeloop.store import keys
from activeloop.store.base import ArtifactStore

# libyaml's safe loader where PyYAML was built with it (ten times faster; pages read specs often)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_spec(data: bytes) -> CampaignSpec:
    """A campaign spec from its stored YAML."""
    return CampaignSpec.model_validate(yaml.load(data, Loader=_SAFE_LOADER))


def load_spec(store: ArtifactStore) -> CampaignSpec:
    """The campaign spec stored in ``store``."""
    return store.parsed(keys.SPEC, parse_spec)


def dump_spec(spec: CampaignSpec) -> bytes:
    """YAML of a spec with camelCase keys (the form users write)."""
    return yaml.safe_dump(spec.model_dump(by_alias=True, exclude_none=True), sort_keys=False).encode()


VARIANTS_FIELD = "library.variantsUri"


def variants_key(spec: CampaignSpec, store: ArtifactStore | None) -> str:
    """The store key of a campaign's variant list (``library.variantsUri``), or :class:`ConfigError`.

    The list is an artifact of the campaign: a key of its store (``library/variants.csv``) or a URI
    inside it; any other path or URI is refused (a campaign reads no file outside its own store).
    """
    uri = spec.library.variants_uri or ""
    if store is None:
        raise ConfigError(VARIANTS_FIELD, f"{uri}: a variant list is read from the campaign's store")
    key = store.key_of(uri)
    if key is None:
        raise ConfigError(VARIANTS_FIELD, (
            f"{uri!r} is not in the campaign's store ({store.uri('x')[:-1]}); put the list there, e.g. "
            f"as library/variants.csv, and give that key"))
    return key


def variant_names(data: bytes, field: str = VARIANTS_FIELD) -> tuple[str, ...]:
    """The ``variant`` column of a CSV list (a library's variants, a scientist's picks), stripped;
    errors name ``field``."""
    try:
        df = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(field, f"not a readable CSV file ({exc})") from None
    if "variant" not in df.columns:
        raise ConfigError(field, f"the list has no 'variant' column (columns: {list(df.columns)})")
    return tuple(df["variant"].str.strip())


def site_library(parent: str, lib: LibrarySpec) -> CombinatorialLibrary:
    """The site library of ``lib`` over ``parent``, built arithmetically (never enumerated)."""
    parser = VariantParser(parent, tuple(lib.positions))
    exclude = [parser.name(v, "library.exclude") for v in lib.exclude]
    return CombinatorialLibrary(parent, lib.positions, lib.alphabet, exclude, residues=lib.own_residues,
                                max_substitutions=lib.max_substitutions, forbidden=lib.forbidden)


def library_size(check: LibraryCheck) -> LibrarySize:
    """How many variants a site library holds under its constraints, site by site; errors name
    the field (``library.sites``, ``library.forbidden[1]``)."""
    parent, lib = validate_sequence(check.parent_sequence, "parentSequence"), check.library
    if not lib.sites:
        raise ConfigError("library.sites", "give the sites to size (a variant list's size is its length)")
    for i, p in enumerate(lib.positions):
        if p > len(parent):
            raise ConfigError(f"library.sites[{i}]", f"site {p} is beyond the parent's {len(parent)} residues")
    library = site_library(parent, lib)
    return LibrarySize(
        variants=library.size, combinations=len(library), excluded=len(library.excluded_rows()),
        sites=[SiteView(position=p, parent=parent[p - 1], residues=r)
               for p, r in zip(lib.positions, library.residue_sets)],
        description=lib.describe(parent))


def build_library(spec: CampaignSpec, store: ArtifactStore | None = None) -> Library:
    """The candidate library of a campaign (site combinations, or the listed variants).

    A site library is built without enumerating it; a variant list is read from the
    campaign's ``store`` and parsed once per content (the store's parsed cache).
    """
    lib = spec.library
    if lib.sites:
        return site_library(spec.parent_sequence, lib)
    key = variants_key(spec, store)
    assert store is not None
    try:
        library = store.parsed(key, lambda data: variant_list(data, spec.parent_sequence), tag=spec.parent_sequence)
    except KeyError:
        raise ConfigError(VARIANTS_FIELD, f"no readable file {key!r} in the campaign's store") from None
    try:
        check_library_size(len(library), lib, spec.acquisition.shards, VARIANTS_FIELD)
    except ValueError as exc:
        raise ConfigError(VARIANTS_FIELD, str(exc)) from None
    if lib.exclude:
        names = [library.parser.name(v, "library.exclude") for v in lib.exclude]
        if isinstance(library, SubstitutionLibrary):
            return library.excluding(library.rows_of([n for n in names if library.contains(n)]))
        drop = set(library.index_of(n for n in names if n in library))
        library = library.subset(np.asarray([i for i in range(len(library)) if i not in drop]))
    return library


def variant_list(data: bytes, parent: str) -> SubstitutionLibrary | VariantLibrary:
    """A variant list's library: held as substitutions, streamed (``ml.variants``), when every
    variant is written as substitutions; else in memory (any spelling), up to a million variants."""
    try:
        library = read_variant_list(data, parent, VARIANTS_FIELD)
    except VariantError as exc:
        raise ConfigError(exc.field, exc.problem) from None
    if library is not None:
        return library
    names = variant_names(data)
    if len(names) > IN_MEMORY_LIMIT:
        raise ConfigError(VARIANTS_FIELD, (
            f"{len(names):,} variants not all written as substitutions (V39A:D40G, or WT): a list over "
            f"{IN_MEMORY_LIMIT:,} must be, so that it is held as substitutions"))
    return VariantLibrary.from_strings(parent, names)


PROPOSAL_COLUMNS = ["variant", "rank", "predicted", "predicted_low", "predicted_high", "score", "score_sd",
                    "picked_by"]
"""Columns of ``proposals.csv``: the prediction in the measured units with its 95% interval, the
model's own score (``steps.acquire.proposal_table``), and who picked the variant (empty: the model)."""


def parse_proposals(data: bytes) -> pd.DataFrame:
    """A proposals table from its stored CSV (:data:`PROPOSAL_COLUMNS`; a table written before
    predictions were in measured units has ``mean, std``: its score, and no prediction)."""
    df = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype={"variant": str}, na_values=[""])
    if "score" not in df and "mean" in df:
        df = df.rename(columns={"mean": "score", "std": "score_sd"})
    for c in PROPOSAL_COLUMNS:
        if c not in df:
            df[c] = float("nan")
    df["picked_by"] = [v if isinstance(v, str) and v else None for v in df["picked_by"]]
    return df


def read_proposals(store: ArtifactStore, round_number: int) -> pd.DataFrame | None:
    """Proposals of a round, or ``None`` if the round has none yet."""
    key = keys.proposals(round_number)
    if not store.exists(key):
        return None
    return store.parsed(key, parse_proposals)


def pending_names(store: ArtifactStore, library: Library, tried: set[str], before_round: int) -> list[str]:
    """Variants of ``library`` proposed in rounds before ``before_round`` with no result in
    ``tried`` (pending: never proposed again, nor picked)."""
    pending: list[str] = []
    for r in range(1, before_round):
        props = read_proposals(store, r)
        if props is not None:
            pending += [v for v in props["variant"] if v not in tried and library.contains(v)]
    return pending


def latest_round(store: ArtifactStore) -> int:
    """Highest round started (its inputs were snapshotted), 0 when none."""
    rounds = [keys.round_of(k) or 0 for k in store.list(keys.ROUNDS) if k == keys.inputs(keys.round_of(k) or 0)]
    return max(rounds, default=0)


def write_record(store: ArtifactStore, key: str, record: dict) -> dict:
    """Store a step's JSON record under ``key`` and return it."""
    store.put_bytes(key, json.dumps(record, indent=2, sort_keys=True).encode())
    return record
