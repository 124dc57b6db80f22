"""Steps of a round as functions over an artifact store: tune, acquire, distil."""

from activeloop.steps.acquire import acquire
from activeloop.steps.distil import distil
from activeloop.steps.tune import tune

STEPS = {"tune": tune, "acquire": acquire, "distil": distil}
"""Steps by name, as the operator's Jobs and ``python -m activeloop.steps`` call them."""

__all__ = ["STEPS", "acquire", "distil", "tune"]
