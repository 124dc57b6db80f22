"""A campaign on one workstation: ``init`` -> ``propose`` -> lab -> ``record`` -> ``propose`` ...

State lives in a run directory (a :class:`LocalStore`); every write is atomic, so an interrupted
command leaves the campaign as it was before it. Results go through the same ingestion path as on
a cluster (``steps.ingest``), rounds follow the same rules (``steps.rounds``), and each round's
steps read the inputs pinned when it started (``steps.snapshot``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from activeloop.api.campaign import CampaignSpec
from activeloop.errors import ConfigError, InputError, StateError, format_validation_error
from activeloop.steps import ingest, rounds
from activeloop.steps.data import (
    MEASUREMENTS_KEY,
    SPEC_KEY,
    build_library,
    dump_spec,
    latest_round,
    load_spec,
    read_proposals,
    round_prefix,
)
from activeloop.steps.snapshot import read_inputs, take_snapshot
from activeloop.store.local import LocalStore
from activeloop.store.parsed import parsed


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_spec(data: object, source: str = "campaign") -> CampaignSpec:
    """Validate a campaign spec, turning pydantic errors into a :class:`ConfigError`."""
    if isinstance(data, dict) and data.get("kind") == "Campaign":
        data = data.get("spec", {})
    if not isinstance(data, dict):
        raise ConfigError(source, "is not a YAML mapping of campaign fields")
    try:
        return CampaignSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc)) from None


def init_campaign(spec_path: str | Path, run_dir: str | Path) -> CampaignSpec:
    """Validate ``spec_path`` and start a campaign in ``run_dir`` (refuses to overwrite one).

    Nothing is created when the spec is invalid.
    """
    try:
        data = yaml.safe_load(Path(spec_path).read_text())
    except OSError as exc:
        raise InputError(str(spec_path), f"cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(spec_path), f"not valid YAML: {exc}") from None
    return create_campaign(parse_spec(data), run_dir)


def create_campaign(spec: CampaignSpec, run_dir: str | Path) -> CampaignSpec:
    """Start a campaign from a validated spec in ``run_dir`` (which must not hold one)."""
    if (Path(run_dir) / SPEC_KEY).exists():
        raise ConfigError("run_dir", f"{run_dir} already holds a campaign; choose another directory")
    build_library(spec)  # fail now, not at the first propose
    LocalStore(run_dir).put_bytes(SPEC_KEY, dump_spec(spec))
    return spec


def open_campaign(run_dir: str | Path) -> tuple[LocalStore, CampaignSpec]:
    """The store and live spec of the campaign in ``run_dir``; an error (creating nothing) if none."""
    path = Path(run_dir)
    if not (path / SPEC_KEY).is_file():
        what = "does not exist" if not path.exists() else "holds no campaign"
        raise InputError("run_dir", f"{run_dir} {what}; start one with "
                                    f"`activeloop init CAMPAIGN.yaml --run-dir {run_dir}`")
    store = LocalStore(path, create=False)
    return store, load_spec(store)


@dataclass(frozen=True)
class Proposal:
    """The outcome of ``propose``: the round, its CSV, whether it was made just now, its progress."""

    round: int
    path: Path
    new: bool
    record: dict
    progress: rounds.RoundProgress


def _results(store: LocalStore) -> tuple[set[str], set[str]]:
    data = current_measurements(store)
    return set(data.loc[~data["failed"], "variant"].tolist()), set(data.loc[data["failed"], "variant"].tolist())


def round_progress(store: LocalStore, round_number: int) -> rounds.RoundProgress:
    """How many of a round's proposals have a result now."""
    props = read_proposals(store, round_number)
    measured, failed = _results(store)
    return rounds.progress([] if props is None else props["variant"].tolist(), measured, failed)


def _closed_key(round_number: int) -> str:
    return f"{round_prefix(round_number)}/closed.json"


def is_closed(store: LocalStore, round_number: int) -> bool:
    """Whether the lab closed the round explicitly."""
    return store.exists(_closed_key(round_number))


def close_round(run_dir: str | Path, reason: str = "closed by the lab") -> int:
    """Close the latest round now, whatever is still pending; returns its number."""
    store, _ = open_campaign(run_dir)
    last = latest_round(store)
    if not last or read_proposals(store, last) is None:
        raise StateError("no round with proposals to close; run `activeloop propose` first")
    if not is_closed(store, last):
        p = round_progress(store, last)
        store.put_bytes(_closed_key(last), json.dumps(
            {"closed_at": _now(), "reason": reason, "pending": p.pending}).encode())
    return last


def propose(run_dir: str | Path, force: bool = False, jobs: int = 1,
            on_shard: Callable[[dict], None] | None = None) -> Proposal:
    """Start the next round (tune, then acquire) and write its proposals CSV.

    A sharded round (``acquisition.shards``) runs its shards (``steps.score``) in ``jobs``
    processes, calling ``on_shard`` with each shard's record as it finishes, then merges them.

    While the latest round is not complete (see ``steps.rounds``) its proposals are returned again
    with their progress, unless ``force`` closes it first. A campaign past its ``rounds`` starts
    nothing (:class:`StateError`; extend it with :func:`extend`).
    """
    store, spec = open_campaign(run_dir)
    last = latest_round(store)
    if last and read_proposals(store, last) is not None:
        progress = round_progress(store, last)
        if not rounds.is_complete(progress, spec.trigger, is_closed(store, last)):
            if not force:
                return Proposal(last, store.path(f"{round_prefix(last)}/proposals.csv"), False,
                                _record(store, last), progress)
            close_round(run_dir, "closed by propose --force")
        nxt = last + 1
    else:
        nxt = max(last, 1)  # round 1, or a round whose steps were interrupted: finish it
    if nxt > last and not rounds.may_start(nxt, spec):
        raise StateError(
            f"the campaign has done its {spec.total_rounds} rounds (the first batch and "
            f"rounds: {spec.rounds}); to go on, raise them with "
            f"`activeloop extend --rounds {spec.rounds + 1} --run-dir {run_dir}`")
    from activeloop.steps.acquire import acquire
    from activeloop.steps.tune import tune

    take_snapshot(store, nxt, spec, _now())
    shards = int(tune(store, nxt).get("shards") or 1)
    if shards > 1:
        run_shards(store.root, nxt, shards, jobs, on_shard)
    record = acquire(store, nxt)
    return Proposal(nxt, store.path(f"{round_prefix(nxt)}/proposals.csv"), True, record,
                    round_progress(store, nxt))


def _score_shard(run_dir: str, round_number: int, index: int) -> dict:
    from activeloop.steps.score import score

    return score(LocalStore(run_dir), round_number, index)


def run_shards(run_dir: str | Path, round_number: int, shards: int, jobs: int = 1,
               on_shard: Callable[[dict], None] | None = None) -> list[dict]:
    """Run a round's score shards, ``jobs`` at a time in separate processes (in this process when
    ``jobs`` is 1); shards already written are not run again. Returns their records by index."""
    if jobs < 1:
        raise ConfigError("jobs", f"must be at least 1, got {jobs}")
    records: dict[int, dict] = {}
    if jobs == 1:
        for i in range(shards):
            records[i] = _score_shard(str(run_dir), round_number, i)
            if on_shard:
                on_shard(records[i])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn: a fresh interpreter per worker (forking a process that holds torch's threads can hang)
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_score_shard, str(run_dir), round_number, i): i for i in range(shards)}
            for future in as_completed(futures):
                records[futures[future]] = future.result()
                if on_shard:
                    on_shard(records[futures[future]])
    return [records[i] for i in range(shards)]


def _record(store: LocalStore, round_number: int) -> dict:
    key = f"{round_prefix(round_number)}/acquire.json"
    return json.loads(store.get_bytes(key)) if store.exists(key) else {}


def extend(run_dir: str | Path, total: int) -> CampaignSpec:
    """Raise the campaign's ``rounds`` (rounds of proposals after the first batch) to ``total``."""
    store, spec = open_campaign(run_dir)
    if total < spec.rounds:
        raise ConfigError("rounds", f"{total} is below the campaign's {spec.rounds}; rounds are never "
                                    "taken back")
    new = spec.model_copy(update={"rounds": total})
    store.put_bytes(SPEC_KEY, dump_spec(CampaignSpec.model_validate(new.model_dump())))
    return new


@dataclass(frozen=True)
class RecordOutcome:
    """What ``record`` did: the assay's name, its rows, and whether anything new was stored."""

    name: str
    rows: int
    failed: int
    new: bool
    duplicate_of: str | None = None
    supersedes: tuple[str, ...] = ()


def current_measurements(store: LocalStore) -> pd.DataFrame:
    """One row per variant from every recorded assay (see ``steps.ingest.measurements``)."""
    if store.exists(MEASUREMENTS_KEY):
        return parsed(store, MEASUREMENTS_KEY, ingest.read_measurements_csv)
    return ingest.measurements(store, [])


def record(
    run_dir: str | Path,
    table: str | Path | ingest.Table,
    value_column: str | None = None,
    *,
    decimal: str = ".",
    sheet: str | None = None,
    name: str | None = None,
    supersede: tuple[str, ...] | list[str] = (),
    replicates: str = "mean",
) -> RecordOutcome:
    """Check every row of a plate and record them all, or nothing if any row is bad.

    A plate whose rows were recorded before (same content, whatever its file name) records
    nothing. ``supersede`` names earlier assays this one corrects: they stop counting.
    """
    _, spec = open_campaign(run_dir)
    tbl = table if isinstance(table, ingest.Table) else ingest.read_table(table, sheet=sheet)
    rows = ingest.plate_rows(tbl, spec, build_library(spec), value_column=value_column, decimal=decimal)
    return record_rows(run_dir, rows, Path(tbl.source).name, name=name, supersede=supersede, replicates=replicates)


def record_rows(
    run_dir: str | Path,
    rows: pd.DataFrame,
    source: str,
    *,
    name: str | None = None,
    supersede: tuple[str, ...] | list[str] = (),
    replicates: str = "mean",
) -> RecordOutcome:
    """Record checked rows (``steps.ingest.check_rows``) as one assay named ``name`` (or after
    ``source``); the same content recorded before records nothing."""
    store, _ = open_campaign(run_dir)
    if replicates not in ("mean", "median"):
        raise ConfigError("replicates", f"{replicates!r}: use mean or median")
    assays = ingest.list_assays(store)
    known = {a.name for a in assays}
    for old in supersede:
        if old not in known:
            raise InputError("supersede", f"no recorded assay {old!r}; recorded: {sorted(known)}")
    sha = ingest.content_hash(rows)
    gone = ingest.superseded_names(assays)
    same = next((a for a in assays if a.sha256 == sha and a.name not in gone), None)
    if same is not None and not supersede:
        return RecordOutcome(same.name, same.rows, same.failed, False, duplicate_of=same.name)
    base = ingest.dns_label(name or Path(source).stem)
    candidate, k = base, 1
    while candidate in known:
        k += 1
        candidate = f"{base}-{k}"
    meta = ingest.StoredAssay(
        name=candidate, sha256=sha, rows=len(rows), failed=int(rows["failed"].sum()),
        supersedes=tuple(supersede), replicates=replicates, source=Path(source).name,
        arrived_round=latest_round(store), accepted_at=_now(),
    )
    stored = ingest.store_assay(store, meta, rows)
    store.put_bytes(MEASUREMENTS_KEY, ingest.measurements_csv(ingest.measurements(store)))
    return RecordOutcome(stored.name, stored.rows, stored.failed, True, supersedes=tuple(supersede))


def proposals(run_dir: str | Path, round_number: int | None = None) -> tuple[int, pd.DataFrame]:
    """A round's proposals (the latest round when ``round_number`` is ``None``)."""
    store, _ = open_campaign(run_dir)
    number = round_number or latest_round(store)
    props = read_proposals(store, number) if number else None
    if props is None:
        have = [r for r in range(1, latest_round(store) + 1) if read_proposals(store, r) is not None]
        raise InputError("round", f"round {number} has no proposals; rounds with proposals: {have or 'none'}")
    return number, props


def status(run_dir: str | Path) -> dict:
    """Rounds (proposed, measured, failed, pending, closed), planned rounds, best variants so far."""
    store, spec = open_campaign(run_dir)
    data = current_measurements(store)
    measured, failed = _results(store)
    out_rounds = []
    for r in range(1, latest_round(store) + 1):
        props = read_proposals(store, r)
        if props is None:
            continue
        p = rounds.progress(props["variant"].tolist(), measured, failed)
        inputs = read_inputs(store, r)
        out_rounds.append({"round": r, "proposed": p.proposed, "measured": p.measured, "failed": p.failed,
                           "pending": p.pending, "closed": is_closed(store, r),
                           "complete": rounds.is_complete(p, spec.trigger, is_closed(store, r)),
                           "started_at": inputs.taken_at if inputs else None})
    valued = data[~data["failed"]]
    best = valued.sort_values("value", ascending=spec.objective.direction == "minimize").head(5)
    return {
        "rounds": out_rounds,
        "measured": int(len(valued)),
        "failed": int(data["failed"].sum()),
        "assays": len(ingest.list_assays(store)),
        "best": best[["variant", "value"]].to_dict("records"),
        "rounds_planned": spec.total_rounds,
        "direction": spec.objective.direction,
    }


__all__ = [
    "Proposal",
    "RecordOutcome",
    "close_round",
    "create_campaign",
    "extend",
    "init_campaign",
    "open_campaign",
    "parse_spec",
    "proposals",
    "propose",
    "record",
    "record_rows",
    "round_progress",
    "status",
]
