"""Plates, the same for every backend: how a plate on its way in is read and checked (by variant,
or by well with a plate map), the name it is recorded under, what a correction changes, and how
a recorded plate is shown (its controls, its drift, its wells)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import TASK_PATTERN, AssayResultSpec, Measurement
from activeloop.api.views import Change, ControlView, PlateDetail, PlateView, PlateWell
from activeloop.errors import InputError, NotFoundError, RecordError, RowProblem
from activeloop.ml.library import Library
from activeloop.service.views import number_or_none
from activeloop.steps import controls, ingest, layout
from activeloop.steps.tables import Table, column_key

MAX_CHANGES = 500
"""Changes a correction's preview lists (the count of the rest is given)."""


@dataclass(frozen=True)
class RecordOptions:
    """How to read and record a plate (the options of ``activeloop record`` and the upload)."""

    value_column: str | None = None
    decimal: str = "auto"
    sheet: str | None = None
    name: str | None = None
    supersedes: tuple[str, ...] = ()
    replicates: str = "mean"
    round: int | None = None
    dry_run: bool = False
    idempotency_key: str | None = None
    skip_rows: int | None = None
    layout: int | None = None
    """Read a reader's export by well with the round's plate map of this many wells (96 or 384)."""
    plate: int | None = None
    """Which plate of the map the file is (when the map has several)."""
    map: Table | None = None
    """The lab's own plate map (wells, variants, controls), instead of ``layout``."""
    earlier: bool = False
    """Measured before the campaign (earlier data)."""
    task: str | None = None
    """A related assay's name: the plate's values are a second task for the model, not results."""


Plate = Table | AssayResultSpec
"""A plate as read from a file or a CSV body (a table), or sent as JSON rows (a spec)."""


@dataclass(frozen=True)
class CheckedPlate:
    """A plate's rows, checked against the campaign, and where they came from."""

    rows: pd.DataFrame
    source: str
    sha256: str
    preview: list[Measurement] = field(default_factory=list)
    raw: bytes = b""
    unit: str = ""
    decimal: str = "."
    skipped_rows: int = 0
    skipped_wells: int = 0
    earlier: bool = False
    """Measured before the campaign (``ingest.StoredAssay.earlier``)."""
    task: str = ""
    """A related assay's name (``ingest.StoredAssay.task``); empty for the campaign's own."""

    @property
    def failed(self) -> int:
        """Failed wells."""
        return int(self.rows["failed"].sum())

    @property
    def controls(self) -> list[ControlView]:
        """The plate's controls, as shown."""
        return control_views(controls.stats(self.rows))


ProposalsOf = Callable[[int | None], tuple[int, pd.DataFrame]]
"""A round's proposals (``None``: the latest round with proposals) and the round's number."""


def resolve_map(options: RecordOptions, spec: CampaignSpec, proposals: ProposalsOf) -> ingest.PlateMap | None:
    """The plate map a by-well plate is read with: the lab's own (``options.map``), or the one
    ActiveLoop gave out for the round (``options.layout``), or ``None``."""
    if options.map is not None:
        return layout.read_map(options.map, options.plate)
    if options.layout is None:
        return None
    if options.layout not in layout.PLATES:
        raise InputError("layout", f"{options.layout}: use one of {sorted(layout.PLATES)}")
    number, table = proposals(options.round)
    wells = layout.plate_map(table, options.layout, spec.plates)
    return ingest.PlateMap(wells, options.plate, source=f"round {number}'s {options.layout}-well plate map")


def check_plate(plate: Plate, spec: CampaignSpec, library: Library, options: RecordOptions,
                plate_map: ingest.PlateMap | None = None) -> CheckedPlate:
    """Check every row of ``plate``; :class:`RecordError` lists every problem (nothing recorded)."""
    if options.replicates not in ("mean", "median"):
        raise RecordError("replicates", [RowProblem(0, "replicates", f"{options.replicates!r}: use mean or median")])
    extra: dict = {}
    if isinstance(plate, Table):
        if options.decimal not in (".", ",", "auto"):
            raise RecordError(plate.source, [RowProblem(0, "decimal", f"{options.decimal!r}: use '.', ',' or auto")])
        raw_rows = ingest.table_rows(plate, spec, options.value_column, options.decimal, plate_map)
        decimal = ingest.decimal_used(plate, spec, options.value_column, options.decimal)
        try:
            rows = ingest.check_rows(raw_rows, spec, library, plate.source, decimal)
        except RecordError as exc:
            raise RecordError(plate.source, plate.problems + exc.problems,
                              len(plate.problems) + exc.total) from None
        if plate.problems:
            raise RecordError(plate.source, plate.problems)
        source = plate.source
        value_col = next((c for c in plate.columns if column_key(c)[0] == column_key(raw_rows[0].value_column)[0]),
                         "") if raw_rows else ""
        extra = {"raw": plate.raw, "unit": plate.units.get(value_col, ""), "decimal": decimal,
                 "skipped_rows": plate.skipped, "skipped_wells": len(plate.rows) - len(raw_rows)}
    else:
        try:
            rows = ingest.check_rows(ingest.assay_spec_rows(plate), spec, library, "measurements")
        except RecordError as exc:  # the JSON body's paths are measurements[i].field
            raise RecordError("measurements", [RowProblem(p.line + 1, p.column.removeprefix("spec."), p.problem)
                                               for p in exc.problems]) from None
        source = "measurements"
        extra = {"unit": plate.unit or ""}
    controls.check_normalizable(rows, spec.plates.normalize, source)
    sha = ingest.content_hash(rows)
    preview = [Measurement.model_validate(m) for m in ingest.rows_as_measurements(rows.head(10))]
    sent = plate if isinstance(plate, AssayResultSpec) else None
    task = options.task or (sent.task if sent is not None else None) or ""
    if task and not re.fullmatch(TASK_PATTERN, task):
        raise RecordError("task", [RowProblem(0, "task", f"{task!r}: a related assay's name is letters, digits, "
                                                         "spaces and . _ ° - (at most 63), starting with a letter "
                                                         "or digit")])
    return CheckedPlate(rows, source, sha, preview, **extra, earlier=options.earlier or bool(sent and sent.earlier),
                        task=task)


def default_plate_name(options: RecordOptions, checked: CheckedPlate) -> str:
    """The name a plate gets when none is given: the idempotency key's, or the file's (the
    content's hash for rows sent as JSON)."""
    if options.idempotency_key:
        return "plate-" + hashlib.sha256(options.idempotency_key.encode()).hexdigest()[:12]
    if checked.source == "measurements":
        return f"plate-{checked.sha256[:8]}"
    return ingest.dns_label(checked.source.rsplit("/", 1)[-1].rsplit(".", 1)[0])[:40]


def original_suffix(source: str) -> str:
    """The suffix a plate's original file is stored with (``.csv``, ``.xlsx`` ...)."""
    name = source.rsplit("/", 1)[-1]
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ".csv"
    return suffix if suffix in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm") else ".csv"


# ------------------------------------------------------------------------------ corrections


def correction_changes(before: Sequence[pd.DataFrame], after: pd.DataFrame) -> tuple[list[Change], int]:
    """What a correction changes: each variant's value on the plates it supersedes (``before``,
    one row per variant: ``ingest.variant_values``) against its own (``after``); and how many
    variants it leaves unchanged."""
    old = pd.concat(list(before), ignore_index=True) if before else pd.DataFrame(columns=["variant", "value"])
    old = old.groupby("variant", sort=True)["value"].mean() if len(old) else pd.Series(dtype=float)
    new = after.groupby("variant", sort=True)["value"].mean() if len(after) else pd.Series(dtype=float)
    changes, same = [], 0
    for v in sorted(set(old.index) | set(new.index)):
        a = _num(old.get(v)) if v in old.index else None
        b = _num(new.get(v)) if v in new.index else None
        if v not in new.index:
            changes.append(Change(variant=v, before=a, before_failed=a is None, kind="removed"))
        elif v not in old.index:
            changes.append(Change(variant=v, after=b, after_failed=b is None, kind="added"))
        elif (a is None) == (b is None) and (a is None or math.isclose(a, b or 0.0, rel_tol=1e-12, abs_tol=0.0)):
            same += 1
        else:
            changes.append(Change(variant=v, before=a, after=b, before_failed=a is None, after_failed=b is None,
                                  kind="changed"))
    return changes, same


_num = number_or_none


def check_supersedes(names: Sequence[str], known: Mapping[str, object]) -> None:
    """:class:`InputError` unless every name in ``names`` is a recorded plate."""
    for old in names:
        if old not in known:
            raise InputError("supersedes", f"no recorded plate {old!r}; recorded: {sorted(known) or 'none'}")


# ------------------------------------------------------------------------------------ views


def control_views(stats: Sequence[controls.ControlStats]) -> list[ControlView]:
    """Controls as shown."""
    return [ControlView(kind=c.kind, variant=c.variant if c.kind == "reference" else "", wells=c.wells,
                        failed=c.failed, mean=c.mean, sd=c.sd, cv=c.cv) for c in stats]


def plate_view(meta: ingest.StoredAssay, rows: pd.DataFrame | None, superseded_by: str | None,
               drift: Sequence[str] = (), phase: str | None = None, message: str | None = None) -> PlateView:
    """A recorded plate as shown, from its stored metadata (and rows, for its controls)."""
    stats = controls.stats(rows) if rows is not None else []
    variants = int(rows.loc[rows["control"] == "", "variant"].nunique()) if rows is not None else 0
    return PlateView(
        name=meta.name, phase=phase or ("Superseded" if superseded_by else "Accepted"),
        round=meta.declared_round or meta.arrived_round or None, recorded_at=meta.accepted_at or None,
        recorded_by=meta.recorded_by or None, rows=meta.rows, variants=variants, failed=meta.failed,
        replicates=meta.replicates if meta.replicates in ("mean", "median") else "mean",
        source=meta.source or None, sha256=meta.sha256, supersedes=list(meta.supersedes), superseded_by=superseded_by,
        normalize=meta.normalize if meta.normalize in ("none", "parentRatio", "parentDifference") else "none",
        unit=meta.unit or None, original=bool(meta.original),
        wells=rows is not None and bool((rows["well"] != "").any()), controls=control_views(stats),
        drift=list(drift), earlier=meta.earlier, task=meta.task or None, message=message)


def plate_detail(view: PlateView, rows: pd.DataFrame, normalize: str) -> PlateDetail:
    """A plate with its wells (values as measured, and after the plate's normalisation)."""
    try:
        norm = controls.normalized(rows, normalize)["value"].tolist()
    except ValueError:
        norm = [math.nan] * len(rows)
    wells = [PlateWell(variant=str(r.variant), value=_num(r.value), normalized=_num(n) if normalize != "none" else None,
                       failed=bool(r.failed), replicate=None if pd.isna(r.replicate) else int(r.replicate),
                       well=str(r.well) or None, control=str(r.control) or None)
             for r, n in zip(rows.itertuples(index=False), norm)]
    size = 384 if any(w.well and (w.well[0] > "H" or int(w.well[1:]) > 12) for w in wells) else 96
    return PlateDetail(**view.model_dump(), size=size, wells_detail=wells)


def plate_drift(spec: CampaignSpec, plates: Mapping[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Why each plate's controls are out of line (``plates``: the rows of the plates in force)."""
    return controls.plates_drift(plates, spec.plates.control_tolerance)


def find_plate(name: str, known: Mapping[str, object]) -> str:
    """``name`` if it is a recorded plate, else :class:`NotFoundError` naming those recorded."""
    if name not in known:
        raise NotFoundError(f"no recorded plate {name!r}; recorded: {sorted(known)[:20] or 'none'}")
    return name


__all__ = [
    "MAX_CHANGES",
    "CheckedPlate",
    "Plate",
    "ProposalsOf",
    "RecordOptions",
    "check_plate",
    "check_supersedes",
    "control_views",
    "correction_changes",
    "default_plate_name",
    "find_plate",
    "original_suffix",
    "plate_detail",
    "plate_drift",
    "plate_view",
    "resolve_map",
]
