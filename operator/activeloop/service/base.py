"""The campaign service: every lab action, one interface, two implementations (a run directory,
a cluster). Every call acts as ``user``; every refusal is an :mod:`activeloop.errors` error, the
same class and words on both backends (the rules themselves are in ``lifecycle.machine``)."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

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
from activeloop.errors import InputError, NotFoundError
from activeloop.local.runner import OnProgress
from activeloop.service.plates import Plate, RecordOptions
from activeloop.service.views import page_version
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
                   jobs: int = 1, on_progress: OnProgress | None = None) -> NextRoundResult:
        """Start the next round now: close the current one if it waits for results (whatever is
        pending), or start a failed round again (``lifecycle.machine.plan_next_round``).
        ``wait``: return once the round's proposals are made (else as soon as it started)."""

    @abstractmethod
    def extend(self, user: User, name: str, rounds: int, namespace: str | None = None) -> CampaignDetail:
        """Raise the campaign's ``rounds`` (never lower)."""

    # ------------------------------------------------------------------------------ derived

    def check_login(self, user: User) -> None:  # noqa: B027 (a hook: most services accept any login)
        """Refuse a login the service will not accept (:class:`UnauthorizedError`); by default none."""

    def version(self, user: User, name: str, namespace: str | None = None) -> Version:
        """A string that changes whenever what the campaign page shows changes."""
        return page_version(self.campaign(user, name, namespace), self.rounds(user, name, namespace))

    def proposals(self, user: User, name: str, number: int | None = None,
                  namespace: str | None = None) -> tuple[int, pd.DataFrame]:
        """A round's proposals (the latest round with proposals by default) as a table to download:
        ``variant, rank, mean, std``."""
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
        return number, pd.DataFrame([{"variant": p.variant, "rank": p.rank, "mean": p.mean, "std": p.std}
                                     for p in rd.proposals])


__all__ = ["CampaignService", "User", "check_artifact_key", "require_name"]
