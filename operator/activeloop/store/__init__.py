"""Artifact stores: a local directory (embedded default) and MinIO/S3, one interface."""

from __future__ import annotations

from activeloop.errors import InputError
from activeloop.store.base import ArtifactStore, sha256_bytes
from activeloop.store.local import LocalStore

__all__ = ["ArtifactStore", "LocalStore", "sha256_bytes", "store_from_uri"]


def store_from_uri(uri: str) -> ArtifactStore:
    """``file:///dir`` or a plain path -> :class:`LocalStore`; ``s3://bucket/prefix`` -> MinIO."""
    if uri.startswith("s3://"):
        from activeloop.store.minio import MinioStore

        return MinioStore.from_uri(uri)
    if "://" in uri and not uri.startswith("file://"):
        raise InputError("store", f"{uri!r}: use file:///path or s3://bucket/prefix")
    return LocalStore(uri.removeprefix("file://"))
