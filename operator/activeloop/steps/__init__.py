"""Steps of a round as functions over an artifact store: tune, acquire (distil comes with students)."""

from activeloop.steps.acquire import acquire
from activeloop.steps.tune import tune

STEPS = {"tune": tune, "acquire": acquire}
"""Steps by name, as the operator's Jobs and ``python -m activeloop.steps`` call them."""

__all__ = ["STEPS", "acquire", "tune"]
