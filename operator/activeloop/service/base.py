"""The campaign service: every lab action, one interface, two implementations (a run directory,
a cluster). Every call acts as ``user``; every refusal is an :mod:`activeloop.errors` error, the
same class and words on both backends (the rules themselves are in ``lifecycle.machine``)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from activeloop.api.campaign import CampaignSpec
from activeloop.api.views import (
    ActivityEntry,
    CampaignDetail,
    CampaignSummary,
    HistoryPoint,
    NextRoundResult,
    ParetoFront,
    PlateDetail,
    PlateView,
    RecordResult,
    RoundDetail,
    RoundSummary,
    StudentView,
    Version,
)
from activeloop.errors import InputError, NotFoundError
from activeloop.local.runner import OnProgress
from activeloop.service import archive as campaign_archive
from activeloop.service import views
from activeloop.service.plates import MAX_CHANGES, CheckedPlate, Plate, RecordOptions, correction_changes
from activeloop.service.views import page_version
from activeloop.steps import ingest
from activeloop.steps.data import PROPOSAL_COLUMNS
from activeloop.store import keys


@dataclass(frozen=True)
class User:
    """Who is calling: a name to show and record, and (on a cluster, from the web) the bearer
    token to act with."""

    name: str
    token: str | None = None


def check_artifact_key(key: str) -> str:
    """``key`` if a person may download it, else :class:`NotFoundError`."""
    if not keys.servable(key):
        raise NotFoundError(f"no artifact {key!r}")
    return key


def require_name(name: str) -> str:
    """A campaign name as the service accepts it (no path tricks)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", name) or ".." in name:
        raise InputError("name", f"{name!r} is not a campaign name (letters, digits, '.', '_', '-')")
    return name


class CampaignService(ABC):
    """Every lab action on the campaigns of one place (a folder of run directories, or the
    namespaces of a cluster), each acting as ``user``."""

    kind: str = ""
    namespaces: tuple[str, ...] = ()

    # ------------------------------------------------------------------------------- reading

    @abstractmethod
    def campaigns(self, user: User) -> list[CampaignSummary]:
        """Every campaign the user may see."""

    @abstractmethod
    def campaign(self, user: User, name: str, namespace: str | None = None) -> CampaignDetail:
        """One campaign (:class:`NotFoundError` if there is none by that name)."""

    @abstractmethod
    def rounds(self, user: User, name: str, namespace: str | None = None) -> list[RoundSummary]:
        """The campaign's rounds, first to last."""

    @abstractmethod
    def round(self, user: User, name: str, number: int, namespace: str | None = None) -> RoundDetail:
        """One round with its proposals and their results."""

    @abstractmethod
    def history(self, user: User, name: str, namespace: str | None = None) -> list[HistoryPoint]:
        """Best value found by the end of each round."""

    @abstractmethod
    def students(self, user: User, name: str, namespace: str | None = None) -> list[StudentView]:
        """The campaign's distilled students."""

    @abstractmethod
    def artifact(self, user: User, name: str, key: str, namespace: str | None = None) -> bytes:
        """An artifact's bytes (only keys a person may download: ``store.keys.servable``)."""

    # ------------------------------------------------------------------------------- acting

    @abstractmethod
    def create_campaign(self, user: User, name: str, spec: dict, namespace: str | None = None,
                        files: Mapping[str, bytes] | None = None) -> CampaignDetail:
        """Start a campaign from a spec (camelCase keys); :class:`ConfigError` names the field.
        ``files``: artifacts the spec names (a variant list), stored with the campaign first."""

    @abstractmethod
    def record(self, user: User, name: str, plate: Plate, options: RecordOptions,
               namespace: str | None = None) -> RecordResult:
        """Check and record a plate: all of it, or nothing (:class:`RecordError`)."""

    @abstractmethod
    def close_round(self, user: User, name: str, number: int | None = None,
                    namespace: str | None = None) -> NextRoundResult:
        """Close a round now (the latest by default), whatever is pending; it must be waiting for
        assay results (:class:`StateError` otherwise)."""

    @abstractmethod
    def next_round(self, user: User, name: str, namespace: str | None = None, *, wait: bool = False,
                   jobs: int = 1, on_progress: OnProgress | None = None,
                   picks: Sequence[str] = ()) -> NextRoundResult:
        """Start the next round now: close the current one if it waits for results (whatever is
        pending), or start a failed round again (``lifecycle.machine.plan_next_round``).
        ``wait``: return once the round's proposals are made (else as soon as it started).
        ``picks``: variants the caller adds to the new round's batch (``steps.picks``; refused,
        naming the bad one, before anything changes, and for a round started again)."""

    @abstractmethod
    def extend(self, user: User, name: str, rounds: int, namespace: str | None = None) -> CampaignDetail:
        """Raise the campaign's ``rounds`` (never lower)."""

    @abstractmethod
    def plates(self, user: User, name: str, namespace: str | None = None) -> list[PlateView]:
        """Every plate recorded for the campaign (corrected ones too), newest first."""

    @abstractmethod
    def plate(self, user: User, name: str, plate: str, namespace: str | None = None) -> PlateDetail:
        """One recorded plate with its wells."""

    @abstractmethod
    def plate_file(self, user: User, name: str, plate: str, namespace: str | None = None) -> tuple[bytes, str]:
        """A plate's file as the lab sent it, and a name to save it under."""

    @abstractmethod
    def activity(self, user: User, name: str, namespace: str | None = None) -> list[ActivityEntry]:
        """Who did what to the campaign, and what the loop did, newest first."""

    @abstractmethod
    def measurements(self, user: User, name: str, namespace: str | None = None) -> pd.DataFrame:
        """One row per measured variant (``steps.ingest.MEASUREMENT_COLUMNS``)."""

    @abstractmethod
    def archive_files(self, user: User, name: str, namespace: str | None = None) -> dict[str, bytes]:
        """The campaign's files for its archive (``store.keys.archived``), by key."""

    # ------------------------------------------------------------------------------ derived

    def pareto(self, user: User, name: str, namespace: str | None = None) -> ParetoFront:
        """The Pareto front of the measured variants (a campaign with several objectives; empty otherwise)."""
        detail = self.campaign(user, name, namespace)
        return views.pareto_view(self.measurements(user, name, namespace), detail.spec)

    def identify(self, user: User) -> User:
        """The user as the service knows them (on a cluster: the name the API server gives the
        token); :class:`UnauthorizedError` for a login the service will not accept."""
        return user

    @staticmethod
    def _checked_result(checked: CheckedPlate, options: RecordOptions, spec: CampaignSpec,
                        before: Sequence[pd.DataFrame], drift: Sequence[str]) -> RecordResult:
        """What recording ``checked`` would do: its rows, controls and drift, and (a correction)
        how it changes the plates it supersedes."""
        changes: list = []
        unchanged = 0
        if options.supersedes:
            after = ingest.variant_values(checked.rows, options.replicates, spec.plates.normalize)
            changes, unchanged = correction_changes(before, after)
        return RecordResult(
            recorded=False, dry_run=True, rows=int(len(checked.rows)), failed=checked.failed,
            preview=checked.preview, supersedes=list(options.supersedes), changes=changes[:MAX_CHANGES],
            unchanged=unchanged, skipped_wells=checked.skipped_wells, skipped_rows=checked.skipped_rows,
            decimal=checked.decimal, unit=checked.unit or None, controls=checked.controls, drift=list(drift))

    def archive(self, user: User, name: str, namespace: str | None = None) -> bytes:
        """The whole campaign as one zip archive (spec, plates and their files, rounds, proposals,
        activity) with a manifest of every file's SHA-256; ``activeloop init --from`` reads it back."""
        return campaign_archive.pack(name, self.archive_files(user, name, namespace))

    def version(self, user: User, name: str, namespace: str | None = None) -> Version:
        """A string that changes whenever what the campaign page shows changes."""
        return page_version(self.campaign(user, name, namespace), self.rounds(user, name, namespace))

    def proposals(self, user: User, name: str, number: int | None = None,
                  namespace: str | None = None) -> tuple[int, pd.DataFrame]:
        """A round's proposals (the latest round with proposals by default) as a table to download:
        ``steps.data.PROPOSAL_COLUMNS``."""
        rounds = self.rounds(user, name, namespace)
        with_props = [r.round for r in rounds if r.proposed]
        if number is None:
            if not with_props:
                raise NotFoundError(f"{name} has no round with proposals yet")
            number = with_props[-1]
        rd = self.round(user, name, number, namespace)
        if not rd.proposals:
            raise NotFoundError(f"round {number} of {name} has no proposals yet (phase {rd.phase.value}); "
                                f"rounds with proposals: {with_props or 'none'}")
        return number, pd.DataFrame([{"variant": p.variant, "rank": p.rank, "predicted": p.predicted,
                                      "predicted_low": p.low, "predicted_high": p.high, "score": p.score,
                                      "score_sd": p.score_sd, "picked_by": p.picked_by} for p in rd.proposals],
                                    columns=PROPOSAL_COLUMNS)


__all__ = ["CampaignService", "User", "check_artifact_key", "require_name"]
