"""Round semantics shared by every runner (workstation, operator, web): pure functions.

* A result *belongs to* the round that proposed its variant; a result for a variant no round
  proposed is extra data (it still trains the next models).
* A round is *complete* when the campaign's trigger fraction of its proposals has a result (a
  value or a failed well), or when the lab closes it explicitly.
* A campaign has ``rounds + 1`` rounds (the first batch, then ``rounds`` rounds of proposals) and
  starts no round beyond that unless its spec is extended.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from activeloop.api.campaign import CampaignSpec, RoundTrigger


@dataclass(frozen=True)
class RoundProgress:
    """How many of a round's proposals have a result."""

    proposed: int
    measured: int
    failed: int

    @property
    def done(self) -> int:
        """Proposals with a result: a value or a failed well."""
        return self.measured + self.failed

    @property
    def pending(self) -> int:
        """Proposals still waiting for the lab."""
        return self.proposed - self.done

    def needed(self, trigger: RoundTrigger) -> int:
        """Results this round needs before it is complete."""
        return math.ceil(trigger.min_fraction_measured * self.proposed - 1e-9)


def progress(proposals: Iterable[str], measured: Collection[str], failed: Collection[str]) -> RoundProgress:
    """Progress of a round whose ``proposals`` are canonical names."""
    props = list(proposals)
    m = sum(v in measured for v in props)
    f = sum(v in failed and v not in measured for v in props)
    return RoundProgress(len(props), m, f)


def is_complete(p: RoundProgress, trigger: RoundTrigger, closed: bool = False) -> bool:
    """Whether a round is done: closed by the lab, or enough of its proposals have a result."""
    return closed or p.done >= p.needed(trigger)


def may_start(round_number: int, spec: CampaignSpec) -> bool:
    """Whether the campaign's spec allows round ``round_number`` (1 is the first batch)."""
    return 1 <= round_number <= spec.total_rounds


__all__ = ["RoundProgress", "is_complete", "may_start", "progress"]
