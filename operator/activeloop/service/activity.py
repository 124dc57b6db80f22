"""A campaign's activity feed: who did what, and what the loop did, newest first.

Nothing is logged twice: each entry is derived from the record that made the change happen (a
plate's metadata, a round's status, the note of who started or closed it, a change to the spec),
so the feed can never disagree with what was recorded. The builders here are pure; each backend
gathers its records (a run directory's files; a cluster's objects and their annotations).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from activeloop.api.resources import LoopRoundStatus, RoundPhase
from activeloop.api.views import ActivityEntry
from activeloop.steps.ingest import StoredAssay

MAX_ENTRIES = 500
"""Entries a feed shows (the newest)."""


@dataclass(frozen=True)
class Note:
    """Who did something to a round or to the campaign, and when (``at``: RFC 3339)."""

    at: str
    by: str | None = None


def plate_entries(assays: Iterable[StoredAssay]) -> list[ActivityEntry]:
    """A plate recorded, or a correction."""
    out = []
    for a in assays:
        what = f"corrected {', '.join(a.supersedes)} with {a.name}" if a.supersedes else f"recorded plate {a.name}"
        failed = f", {a.failed} failed" if a.failed else ""
        out.append(ActivityEntry(at=a.accepted_at or "", who=a.recorded_by or None,
                                 kind="correction" if a.supersedes else "plate",
                                 round=a.declared_round or a.arrived_round or None, plate=a.name,
                                 text=f"{what} ({a.rows} rows{failed})"))
    return out


def round_entries(number: int, status: LoopRoundStatus, started: Note | None = None,
                  retries: Iterable[Note] = (), closed: Note | None = None) -> list[ActivityEntry]:
    """A round started (and started again), its proposals made, its failure, its closing by the lab."""
    out = []
    at = (started.at if started else None) or status.started_at
    if at:
        out.append(ActivityEntry(at=at, who=started.by if started else None, kind="roundStarted", round=number,
                                 text=f"started round {number}"))
    for k, r in enumerate(retries, start=2):
        out.append(ActivityEntry(at=r.at, who=r.by, kind="roundRetried", round=number,
                                 text=f"started round {number} again (attempt {k})"))
    done = status.acquire.finished_at
    if status.proposals and done:
        out.append(ActivityEntry(at=done, kind="proposals", round=number,
                                 text=f"round {number}: {len(status.proposals)} variants proposed"))
    if status.phase == RoundPhase.FAILED:
        cond = next((c for c in status.conditions if c.type == "Failed"), None)
        when = (cond.last_transition_time if cond else None) or status.completed_at or at or ""
        out.append(ActivityEntry(at=when, kind="roundFailed", round=number,
                                 text=f"round {number} failed: {cond.message if cond else 'see the round'}"))
    if closed is not None:
        out.append(ActivityEntry(at=closed.at, who=closed.by, kind="roundClosed", round=number,
                                 text=f"closed round {number} with {status.pending} proposals pending"
                                 if status.pending else f"closed round {number}"))
    return out


def campaign_entries(created: Note | None, extensions: Mapping[int, Note]) -> list[ActivityEntry]:
    """The campaign created, and its rounds raised (``extensions``: new number of rounds -> note)."""
    out = []
    if created is not None:
        out.append(ActivityEntry(at=created.at, who=created.by, kind="created", text="created the campaign"))
    for rounds, note in sorted(extensions.items()):
        out.append(ActivityEntry(at=note.at, who=note.by, kind="extended", text=f"raised the rounds to {rounds}"))
    return out


def feed(entries: Iterable[ActivityEntry]) -> list[ActivityEntry]:
    """Entries newest first (at most :data:`MAX_ENTRIES`)."""
    return sorted((e for e in entries if e.at), key=lambda e: e.at, reverse=True)[:MAX_ENTRIES]


__all__ = ["MAX_ENTRIES", "Note", "campaign_entries", "feed", "plate_entries", "round_entries"]
