"""Named points in the workstation's writes where a test can kill the process, to prove that a
command killed at any of them leaves the run directory with its whole effect or none.

``ACTIVELOOP_FAILPOINT=record:rows-written activeloop record ...`` ends the process at that point
as ``kill -9`` would (no cleanup, no ``finally``). Unset, a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os

ENV = "ACTIVELOOP_FAILPOINT"
EXIT_CODE = 86
"""The exit code of a process ended at a failpoint."""

POINTS = (
    "record:locked",
    "record:rows-written",
    "record:committed",
    "record:measurements-written",
    "close:locked",
    "propose:round-created",
    "propose:snapshot-taken",
    "propose:job-started",
    "propose:step-done",
    "propose:job-finished",
    "propose:statuses-written",
)
"""Every failpoint, in the order a command reaches them."""


def reached(point: str) -> None:
    """End the process now if the environment names ``point`` (tests only)."""
    if os.environ.get(ENV) == point:
        os._exit(EXIT_CODE)


__all__ = ["ENV", "EXIT_CODE", "POINTS", "reached"]
