"""A campaign on one workstation: ``init`` -> ``propose`` -> lab -> ``record`` -> ``propose`` ...

State lives in a run directory (a :class:`LocalStore`); every write is atomic, so an interrupted
command leaves the campaign as it was before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from activeloop.api.campaign import CampaignSpec
from activeloop.errors import ConfigError, RecordError, format_validation_error
from activeloop.ml.sequences import VariantLibrary
from activeloop.plates import measurement_columns, read_plate
from activeloop.steps import acquire, tune
from activeloop.steps.data import (
    MEASUREMENT_COLUMNS,
    SPEC_KEY,
    aggregate,
    build_library,
    check_measurements,
    dump_spec,
    latest_round,
    load_spec,
    read_measurements,
    read_proposals,
    round_prefix,
    write_measurements,
)
from activeloop.store.local import LocalStore


def parse_spec(data: dict) -> CampaignSpec:
    """Validate a campaign spec, turning pydantic errors into a :class:`ConfigError`."""
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("campaign", format_validation_error(exc)) from None


def init_campaign(spec_path: str | Path, run_dir: str | Path) -> CampaignSpec:
    """Validate ``spec_path`` and start a campaign in ``run_dir`` (refuses to overwrite one)."""
    data = yaml.safe_load(Path(spec_path).read_text())
    if isinstance(data, dict) and data.get("kind") == "Campaign":
        data = data.get("spec", {})
    if not isinstance(data, dict):
        raise ConfigError("campaign", f"{spec_path} is not a YAML mapping")
    spec = parse_spec(data)
    store = LocalStore(run_dir)
    if store.exists(SPEC_KEY):
        raise ConfigError("run_dir", f"{run_dir} already holds a campaign; choose another directory")
    build_library(spec)  # fail now, not at the first propose
    store.put_bytes(SPEC_KEY, dump_spec(spec))
    return spec


@dataclass(frozen=True)
class Proposal:
    """The outcome of ``propose``: the round, its CSV and whether it was made just now."""

    round: int
    path: Path
    new: bool
    record: dict


def propose(run_dir: str | Path, force: bool = False) -> Proposal:
    """Tune and acquire the next round, writing its proposals CSV.

    If the latest round has no measurements yet, its proposals are returned again (the lab has not
    answered) unless ``force`` asks for a new round, which excludes the pending variants.
    """
    store = LocalStore(run_dir)
    load_spec(store)
    last = latest_round(store)
    measured = set(read_measurements(store)["variant"])
    if last and not force:
        props = read_proposals(store, last)
        if props is not None and not measured.intersection(props["variant"]):
            return Proposal(last, store.path(f"{round_prefix(last)}/proposals.csv"), False, {})
    nxt = last + 1
    tune(store, nxt)
    record = acquire(store, nxt)
    return Proposal(nxt, store.path(f"{round_prefix(nxt)}/proposals.csv"), True, record)


def validate_rows(
    df: pd.DataFrame,
    spec: CampaignSpec,
    source: str,
    value_column: str | None = None,
    library: VariantLibrary | None = None,
) -> pd.DataFrame:
    """Check every row of an assay table; returns canonical ``variant``/``value`` rows.

    Raises :class:`RecordError` listing every bad row with its line number (header = line 1).
    """
    vcol, ycol = measurement_columns(df, spec, source, value_column)
    names, values, errors = check_measurements(list(df[vcol]), list(df[ycol]), spec, library)
    if errors:
        raise RecordError(source, [(i + 2, msg) for i, msg in errors])
    return pd.DataFrame({"variant": names, "value": values})


def record(run_dir: str | Path, table: str | Path, value_column: str | None = None) -> int:
    """Validate every row of ``table`` and append them all, or nothing if any row is bad.

    Variants must belong to the campaign's library. Replicates (the same variant twice) are kept
    and averaged when fitting. Returns the number of rows recorded.
    """
    store = LocalStore(run_dir)
    spec = load_spec(store)
    path = Path(table)
    new = validate_rows(read_plate(path), spec, str(path), value_column, build_library(spec))
    last = latest_round(store)
    new["round"] = last
    new["source"] = path.name
    old = read_measurements(store)
    both = pd.concat([old, new[MEASUREMENT_COLUMNS]], ignore_index=True) if len(old) else new
    write_measurements(store, both)
    return len(new)


def status(run_dir: str | Path) -> dict:
    """Rounds, measured and pending counts and the best variants so far."""
    store = LocalStore(run_dir)
    spec = load_spec(store)
    data = aggregate(read_measurements(store))
    measured = set(data["variant"])
    rounds = []
    for r in range(1, latest_round(store) + 1):
        props = read_proposals(store, r)
        if props is None:
            continue
        done = sum(v in measured for v in props["variant"])
        rounds.append({"round": r, "proposed": len(props), "measured": done, "pending": len(props) - done})
    best = data.sort_values("value", ascending=spec.objective.direction == "minimize").head(5)
    return {
        "rounds": rounds,
        "measured": len(data),
        "best": best[["variant", "value"]].to_dict("records"),
        "rounds_planned": spec.rounds,
    }


__all__ = ["Proposal", "init_campaign", "parse_spec", "propose", "record", "status", "validate_rows"]
