"""A campaign on a workstation driven as the command line drives it, through the campaign service
(tests and benchmarks)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from activeloop.api.names import Step
from activeloop.api.resources import CampaignPhase
from activeloop.api.views import CampaignDetail, NextRoundResult, RecordResult, RoundSummary
from activeloop.local.runner import OnProgress
from activeloop.service.base import User
from activeloop.service.plates import RecordOptions
from activeloop.service.rundir import RunDirService
from activeloop.steps import ingest
from activeloop.store import keys


@dataclass(frozen=True)
class Proposal:
    """A round's batch as ``propose`` left it: whether it was made now, its CSV, its record."""

    round: int
    path: Path
    new: bool
    record: dict
    summary: RoundSummary


class Lab:
    """One campaign in ``run_dir``, acted on as ``user``."""

    def __init__(self, run_dir: str | Path, user: str = "tester") -> None:
        self.service, self.name = RunDirService.for_run_dir(run_dir)
        self.run_dir = self.service.root
        self.user = User(user)

    def init(self, spec: dict[str, Any]) -> CampaignDetail:
        """Start the campaign."""
        return self.service.create_campaign(self.user, self.name, spec)

    def propose(self, force: bool = False, jobs: int = 1, on_progress: OnProgress | None = None) -> Proposal:
        """What ``activeloop propose`` does: the next round if the latest is complete (or ``force``),
        else the latest round's batch again."""
        detail = self.service.campaign(self.user, self.name)
        if detail.phase == CampaignPhase.WAITING_FOR_ASSAYS and not force:
            return self._proposal(detail.current_round, new=False)
        result = self.service.next_round(self.user, self.name, wait=True, jobs=jobs, on_progress=on_progress)
        assert result.next_round is not None
        return self._proposal(result.next_round, new=True)

    def _proposal(self, number: int, new: bool) -> Proposal:
        record_key = keys.step_record(number, Step.ACQUIRE)
        path = self.run_dir / record_key
        record = json.loads(path.read_text()) if path.is_file() else {}
        summary = next(r for r in self.service.rounds(self.user, self.name) if r.round == number)
        return Proposal(number, self.run_dir / keys.proposals(number), new, record, summary)

    def record(self, plate: str | Path, **options: Any) -> RecordResult:
        """What ``activeloop record PLATE`` does."""
        table = ingest.read_table(plate, sheet=options.get("sheet"))
        if "supersedes" in options:
            options["supersedes"] = tuple(options["supersedes"])
        return self.service.record(self.user, self.name, table, RecordOptions(**options))

    def close(self, number: int | None = None) -> NextRoundResult:
        """What ``activeloop close-round`` does."""
        return self.service.close_round(self.user, self.name, number)

    def extend(self, rounds: int) -> CampaignDetail:
        """What ``activeloop extend`` does."""
        return self.service.extend(self.user, self.name, rounds)

    def detail(self) -> CampaignDetail:
        """The campaign."""
        return self.service.campaign(self.user, self.name)

    def rounds(self) -> list[RoundSummary]:
        """The campaign's rounds."""
        return self.service.rounds(self.user, self.name)

    def measurements(self) -> pd.DataFrame:
        """One row per variant, from every recorded plate."""
        return self.service.run(self.name).measurements()


__all__ = ["Lab", "Proposal"]
