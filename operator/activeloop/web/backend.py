"""One interface behind the web interface and REST API, with two implementations: a run directory
on a workstation (:mod:`activeloop.web.local`) and a cluster reached as the caller
(:mod:`activeloop.web.cluster`)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.resources import AssayResultSpec, Measurement
from activeloop.api.views import (
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    NextRoundResult,
    RecordResult,
    RoundDetail,
    RoundSummary,
    StudentView,
    Version,
)
from activeloop.errors import InputError, NotFoundError, RecordError, RowProblem
from activeloop.ml.library import Library
from activeloop.steps import ingest

ARTIFACT_KEY = re.compile(
    r"^(campaign\.yaml|measurements\.csv|rounds/round-\d{3}/(proposals|cascade)\.csv|"
    r"rounds/round-\d{3}/(inputs|tune|acquire)\.json|students/[a-z0-9][-a-z0-9]*/[-a-z0-9_.]+\.(onnx|json))$")
"""Artifacts the web interface serves; anything else (and any path trick) is not found."""


def check_artifact_key(key: str) -> str:
    """``key`` if the web interface may serve it, else :class:`NotFoundError`."""
    if not ARTIFACT_KEY.match(key) or ".." in key:
        raise NotFoundError(f"no artifact {key!r}")
    return key


@dataclass(frozen=True)
class User:
    """Who is calling: a name to show, and (on a cluster) the bearer token to act with."""

    name: str
    token: str | None = None


@dataclass(frozen=True)
class RecordOptions:
    """How to read and record a plate (the options of ``activeloop record``)."""

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


def check_plate(plate: Plate, spec: CampaignSpec, library: Library, options: RecordOptions) -> CheckedPlate:
    """Check every row of ``plate``; :class:`RecordError` lists every problem (nothing recorded)."""
    if isinstance(plate, ingest.Table):
        rows = ingest.plate_rows(plate, spec, library, value_column=options.value_column,
                                 decimal=options.decimal)
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


def plate_name(options: RecordOptions, checked: CheckedPlate) -> str:
    """The name a plate is recorded under: the one given, the idempotency key's, or the content's."""
    if options.name:
        return ingest.dns_label(options.name)
    if options.idempotency_key:
        return "plate-" + hashlib.sha256(options.idempotency_key.encode()).hexdigest()[:12]
    stem = ingest.dns_label(checked.source.rsplit(".", 1)[0]) if checked.source != "measurements" else "plate"
    return f"{stem[:30]}-{checked.sha256[:8]}"


def number_or_none(v: object) -> float | None:
    """``v`` as a float, or ``None`` for a missing value (empty, NaN, not a number)."""
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def best_by_round(data: pd.DataFrame, round_of: dict[str, int], rounds: list[int],
                  direction: str) -> list[HistoryPoint]:
    """Best value found by the end of each round: a result counts from the round that proposed its
    variant (extra data from the round in which it arrived)."""
    valued = data[~data["failed"]]
    arrived = np.array([round_of.get(v, a) for v, a in zip(valued["variant"].tolist(),
                                                             valued["arrived_round"].tolist())], dtype=float)
    values = valued["value"].to_numpy(dtype=float)
    best = np.max if direction == "maximize" else np.min
    out = []
    for n in rounds:
        upto = arrived <= n
        out.append(HistoryPoint(round=n, measured=int(upto.sum()),
                                best=float(best(values[upto])) if upto.any() else None))
    return out


def version_of(*parts: object) -> str:
    """An opaque version string of what a page shows."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def page_version(campaign: CampaignDetail, rounds: list[RoundSummary]) -> Version:
    """The version of a campaign page showing ``campaign`` and ``rounds`` (a page embeds the
    version it was rendered from, so a change between rendering and listening is not missed)."""
    return Version(version=version_of(campaign.dump(), [r.dump() for r in rounds]), phase=campaign.phase,
                   current_round=campaign.current_round)


class Backend(ABC):
    """What the web interface asks of where campaigns live; every call acts as ``user``."""

    kind: str = ""
    namespaces: tuple[str, ...] = ()

    @abstractmethod
    def campaigns(self, user: User) -> list[CampaignSummary]:
        """Every campaign the user may see."""

    @abstractmethod
    def campaign(self, user: User, name: str, namespace: str | None = None) -> CampaignDetail:
        """One campaign (:class:`NotFoundError` if there is none by that name)."""

    @abstractmethod
    def create_campaign(self, user: User, name: str, spec: dict, namespace: str | None = None) -> CampaignDetail:
        """Start a campaign from a spec (camelCase keys); :class:`ConfigError` names the field."""

    @abstractmethod
    def rounds(self, user: User, name: str, namespace: str | None = None) -> list[RoundSummary]:
        """The campaign's rounds, first to last."""

    @abstractmethod
    def round(self, user: User, name: str, number: int, namespace: str | None = None) -> RoundDetail:
        """One round with its proposals."""

    @abstractmethod
    def history(self, user: User, name: str, namespace: str | None = None) -> list[HistoryPoint]:
        """Best value found by the end of each round."""

    @abstractmethod
    def record(self, user: User, name: str, plate: Plate, options: RecordOptions,
               namespace: str | None = None) -> RecordResult:
        """Check and record a plate: all of it, or nothing (:class:`RecordError`)."""

    @abstractmethod
    def next_round(self, user: User, name: str, namespace: str | None = None) -> NextRoundResult:
        """Start the next round now (closing the current one, whatever is pending)."""

    @abstractmethod
    def students(self, user: User, name: str, namespace: str | None = None) -> list[StudentView]:
        """The campaign's distilled students."""

    @abstractmethod
    def artifact(self, user: User, name: str, key: str, namespace: str | None = None) -> bytes:
        """An artifact's bytes (only the keys :data:`ARTIFACT_KEY` allows)."""

    def check_login(self, user: User) -> None:  # noqa: B027 (a hook: most backends accept any login)
        """Refuse a login the backend will not accept (:class:`UnauthorizedError`); by default none."""

    def version(self, user: User, name: str, namespace: str | None = None) -> Version:
        """A string that changes whenever what the campaign page shows changes."""
        return page_version(self.campaign(user, name, namespace), self.rounds(user, name, namespace))

    def proposals_table(self, user: User, name: str, number: int, namespace: str | None = None) -> pd.DataFrame:
        """A round's proposals as the CSV download shows them."""
        rd = self.round(user, name, number, namespace)
        if not rd.proposals:
            raise NotFoundError(f"round {number} of {name} has no proposals yet (phase {rd.phase})")
        return pd.DataFrame([{"variant": p.variant, "rank": p.rank, "mean": p.mean, "std": p.std}
                             for p in rd.proposals])


def require_name(name: str) -> str:
    """A campaign name as the web interface accepts it (no path tricks)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", name) or ".." in name:
        raise InputError("name", f"{name!r} is not a campaign name (letters, digits, '.', '_', '-')")
    return name


__all__ = [
    "ARTIFACT_KEY",
    "Backend",
    "best_by_round",
    "CheckedPlate",
    "Plate",
    "RecordOptions",
    "User",
    "check_artifact_key",
    "check_plate",
    "number_or_none",
    "page_version",
    "plate_name",
    "require_name",
    "version_of",
]
