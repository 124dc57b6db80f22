"""The round state machine and Kubernetes-style conditions, as pure functions.

A LoopRound moves ``Pending -> Tuning -> Acquiring -> WaitingForAssays -> Completed``; a step Job
that fails after its retries moves it to ``Failed``. :func:`after_step` says what follows a step's
outcome; the handlers only carry it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from activeloop.api.resources import RoundPhase

STEP_OF_PHASE = {RoundPhase.TUNING: "tune", RoundPhase.ACQUIRING: "acquire"}
PHASE_OF_STEP = {v: k for k, v in STEP_OF_PHASE.items()}


@dataclass(frozen=True)
class Transition:
    """What to do after a step: the next phase, and the next step Job to create (if any)."""

    phase: RoundPhase
    next_step: str | None
    condition: tuple[str, str, str, str]  # type, status, reason, message


def after_step(step: str, succeeded: bool, message: str = "") -> Transition:
    """The transition of a round when ``step``'s Job has finished."""
    if not succeeded:
        return Transition(
            RoundPhase.FAILED, None,
            ("Failed", "True", f"{step.capitalize()}JobFailed", message or f"the {step} Job failed"),
        )
    if step == "tune":
        return Transition(RoundPhase.ACQUIRING, "acquire", ("Tuned", "True", "TuneJobSucceeded", ""))
    if step == "acquire":
        return Transition(
            RoundPhase.WAITING_FOR_ASSAYS, None, ("Proposed", "True", "AcquireJobSucceeded", "")
        )
    raise ValueError(f"unknown step {step!r}")


def job_outcome(job_status: dict[str, Any] | None) -> bool | None:
    """``True`` if a Job completed, ``False`` if it failed for good, ``None`` while it runs."""
    status = job_status or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "SuccessCriteriaMet"):
            return True
        if cond.get("status") == "True" and cond.get("type") in ("Failed", "FailureTarget"):
            return False
    if status.get("succeeded"):
        return True
    return None


def now() -> str:
    """RFC 3339 UTC timestamp."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: str,
    reason: str = "",
    message: str = "",
    generation: int = 0,
) -> list[dict[str, Any]]:
    """Conditions with ``type_`` set; ``lastTransitionTime`` changes only when ``status`` does."""
    out = [dict(c) for c in conditions or [] if c.get("type") != type_]
    old = next((c for c in conditions or [] if c.get("type") == type_), None)
    changed = old is None or old.get("status") != status
    out.append(
        {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message[:2000],
            "lastTransitionTime": now() if changed else old.get("lastTransitionTime", now()),
            "observedGeneration": generation,
        }
    )
    return sorted(out, key=lambda c: c["type"])
