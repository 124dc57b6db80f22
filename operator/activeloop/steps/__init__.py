"""The steps of a round as functions over an artifact store: ``tune``, ``score`` (one shard of a
sharded round), ``acquire``, ``distil``.

Each is ``step(store, round_number, **options) -> record``: it reads the round's pinned inputs
(``steps.snapshot``) and artifacts from the store, writes its outputs and a JSON record with their
content hashes, and is idempotent. The local runner calls them in-process; the operator runs them
as Jobs (``python -m activeloop.steps STEP``). They are imported when asked for, so importing this
package loads no ML library.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from activeloop.api.names import Step
from activeloop.registry import Registry

STEPS: Registry[str] = Registry("step")
"""The module of each step (imported when the step is asked for)."""
for _step in Step:
    STEPS.add(_step.value, f"{__name__}.{_step.value}")


def get_step(name: str) -> Callable[..., dict]:
    """The step function called ``name`` (imports its module now); :class:`ConfigError` if unknown."""
    return getattr(import_module(STEPS.get(str(name))), str(name))


__all__ = ["STEPS", "get_step"]
