"""Parsed artifacts, kept while they are unchanged: pages and status read the same proposals,
measurements and specs many times, and parsing them is most of the cost.

Only stores that can say cheaply whether an artifact changed (:meth:`ArtifactStore.version`: a
local file's inode, modification time and size; every write replaces the file, so a new write
is a new inode) are cached; other stores parse every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd

from activeloop.store.base import ArtifactStore

T = TypeVar("T")

_MAX_ENTRIES = 1024
_cache: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
_lock = threading.Lock()


def parsed(store: ArtifactStore, key: str, parse: Callable[[bytes], T]) -> T:
    """``parse(store.get_bytes(key))``, from the cache when ``key`` is unchanged since last parsed.

    Data frames are returned as copies (callers may change them); other results must be
    immutable (frozen models and dataclasses).
    """
    version = store.version(key)
    if version is None:
        return parse(store.get_bytes(key))
    ident = (store.uri(key), version, f"{parse.__module__}.{parse.__qualname__}")
    with _lock:
        hit = _cache.get(ident)
        if hit is not None:
            _cache.move_to_end(ident)
    if hit is None:
        hit = parse(store.get_bytes(key))
        with _lock:
            _cache[ident] = hit
            while len(_cache) > _MAX_ENTRIES:
                _cache.popitem(last=False)
    return hit.copy() if isinstance(hit, pd.DataFrame) else hit


def clear() -> None:
    """Forget every parsed artifact."""
    with _lock:
        _cache.clear()


__all__ = ["clear", "parsed"]
