"""The artifact store interface: one API over a local directory and MinIO/S3."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from activeloop.errors import InputError
from activeloop.store.parsed import ParsedCache

T = TypeVar("T")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """A key is a relative, '/'-separated path without '..' or empty parts."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InputError("key", f"{key!r} is not a relative artifact path like 'round-1/x.csv'")
    return key


class ArtifactStore(ABC):
    """Put and get artifacts by key; every put returns the content's SHA-256.

    ``uri(key)`` is how an artifact is named in statuses and logs (``file://...``, ``s3://...``).
    """

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` (replacing it atomically); returns its SHA-256."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The bytes under ``key``; raises ``KeyError`` if absent."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, sorted."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key`` (nothing happens if it is not stored)."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """A URI naming ``key`` in this store."""

    def version(self, key: str) -> str | None:
        """A token that changes whenever ``key``'s content may have changed, or ``None`` where
        the store cannot tell cheaply (then nothing is cached; see ``store.parsed``)."""
        return None

    @cached_property
    def _parsed(self) -> ParsedCache:
        return ParsedCache()

    def parsed(self, key: str, parse: Callable[[bytes], T], tag: str = "") -> T:
        """``parse(self.get_bytes(key))``, parsed again only when the artifact changed (see
        :class:`~activeloop.store.parsed.ParsedCache`); ``KeyError`` if absent."""
        return self._parsed.get(self.uri(key), self.version(key), lambda: self.get_bytes(key), parse, tag)

    def key_of(self, uri: str) -> str | None:
        """The key of ``uri`` if it names an artifact of this store (``s3://bucket/prefix/k``,
        ``file:///dir/k``, or a key itself), else ``None``."""
        if "://" not in uri:
            try:
                return check_key(uri.removeprefix("./"))
            except InputError:
                return None
        base = self.uri("x")[:-1]  # this store's URI prefix
        if uri.startswith(base) and len(uri) > len(base):
            try:
                return check_key(uri[len(base):])
            except InputError:
                return None
        return None

    def put_file(self, key: str, path: str | Path) -> str:
        """Store a local file; returns its SHA-256."""
        return self.put_bytes(key, Path(path).read_bytes())

    def get_file(self, key: str, path: str | Path) -> Path:
        """Write the artifact to ``path`` and return it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.get_bytes(key))
        return path

    def content_hash(self, key: str) -> str:
        """SHA-256 of the artifact under ``key``."""
        return sha256_bytes(self.get_bytes(key))
