"""Parsed artifacts, kept while they are unchanged: pages and status read the same proposals,
measurements and specs many times, and parsing them is most of the cost.

Each store owns one :class:`ParsedCache` (``store.parsed(key, parse)``): nothing is kept at module
level, so two stores (two campaigns, two tests) never share entries. Only stores that can say
cheaply whether an artifact changed (:meth:`ArtifactStore.version`: a local file's inode,
modification time and size, since every write replaces the file; an object's content hash from
its metadata) are cached; others parse every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

T = TypeVar("T")


class ParsedCache:
    """Parsed artifacts by ``(key, version, parser)``, the least recently used dropped first."""

    def __init__(self, max_entries: int = 256) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, version: str | None, load: Callable[[], bytes], parse: Callable[[bytes], T],
            tag: str = "") -> T:
        """``parse(load())``, from the cache when ``key`` is at ``version`` since last parsed
        (``tag``: what else the parse depends on, for parsers that close over arguments).

        Data frames are returned as copies (callers may change them); other results must be
        immutable (frozen models and dataclasses, tuples).
        """
        if version is None:
            return parse(load())
        ident = (key, version, f"{parse.__module__}.{parse.__qualname__}:{tag}")
        with self._lock:
            hit = self._entries.get(ident)
            if hit is not None:
                self._entries.move_to_end(ident)
        if hit is None:
            hit = parse(load())
            with self._lock:
                self._entries[ident] = hit
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return hit.copy() if isinstance(hit, pd.DataFrame) else hit

    def clear(self) -> None:
        """Forget every parsed artifact."""
        with self._lock:
            self._entries.clear()


__all__ = ["ParsedCache"]
