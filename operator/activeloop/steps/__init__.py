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

STEP_NAMES = ("tune", "score", "acquire", "distil")
"""Steps by name, as the operator's Jobs and ``python -m activeloop.steps`` call them."""


def get_step(name: str) -> Callable[..., dict]:
    """The step function called ``name`` (imports its module now)."""
    if name not in STEP_NAMES:
        raise KeyError(f"unknown step {name!r}; known: {list(STEP_NAMES)}")
    return getattr(import_module(f"activeloop.steps.{name}"), name)


__all__ = ["STEP_NAMES", "get_step"]
