"""A plate on its way in, the same for every backend: how to read it, its rows checked against
the campaign, and the name it is recorded under."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import AssayResultSpec, Measurement
from activeloop.errors import RecordError, RowProblem
from activeloop.ml.library import Library
from activeloop.steps import ingest


@dataclass(frozen=True)
class RecordOptions:
    """How to read and record a plate (the options of ``activeloop record`` and the upload)."""

    value_column: str | None = None
    decimal: str = "."
    sheet: str | None = None
    name: str | None = None
    supersedes: tuple[str, ...] = ()
    replicates: str = "mean"
    round: int | None = None
    dry_run: bool = False
    idempotency_key: str | None = None


Plate = ingest.Table | AssayResultSpec
"""A plate as read from a file or a CSV body (a table), or sent as JSON rows (a spec)."""


@dataclass(frozen=True)
class CheckedPlate:
    """A plate's rows, checked against the campaign, and where they came from."""

    rows: pd.DataFrame
    source: str
    sha256: str
    preview: list[Measurement] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Failed wells."""
        return int(self.rows["failed"].sum())


def check_plate(plate: Plate, spec: CampaignSpec, library: Library, options: RecordOptions) -> CheckedPlate:
    """Check every row of ``plate``; :class:`RecordError` lists every problem (nothing recorded)."""
    if options.replicates not in ("mean", "median"):
        raise RecordError("replicates", [RowProblem(0, "replicates", f"{options.replicates!r}: use mean or median")])
    if isinstance(plate, ingest.Table):
        rows = ingest.plate_rows(plate, spec, library, value_column=options.value_column, decimal=options.decimal)
        source = plate.source
    else:
        try:
            rows = ingest.check_rows(ingest.assay_spec_rows(plate), spec, library, "measurements")
        except RecordError as exc:  # the JSON body's paths are measurements[i].field
            raise RecordError("measurements", [RowProblem(p.line + 1, p.column.removeprefix("spec."), p.problem)
                                               for p in exc.problems]) from None
        source = "measurements"
    sha = ingest.content_hash(rows)
    preview = [Measurement.model_validate(m) for m in ingest.rows_as_measurements(rows.head(10))]
    return CheckedPlate(rows, source, sha, preview)


def default_plate_name(options: RecordOptions, checked: CheckedPlate) -> str:
    """The name a plate gets when none is given: the idempotency key's, or the file's (the
    content's hash for rows sent as JSON)."""
    if options.idempotency_key:
        return "plate-" + hashlib.sha256(options.idempotency_key.encode()).hexdigest()[:12]
    if checked.source == "measurements":
        return f"plate-{checked.sha256[:8]}"
    return ingest.dns_label(checked.source.rsplit("/", 1)[-1].rsplit(".", 1)[0])[:40]


__all__ = ["CheckedPlate", "Plate", "RecordOptions", "check_plate", "default_plate_name"]
