"""Artifact store on MinIO (or any S3-compatible service) with the ``minio`` SDK.

Credentials and endpoint come from arguments or the environment (``MINIO_ENDPOINT``,
``MINIO_ACCESS_KEY``, ``MINIO_SECRET_KEY``, ``MINIO_SECURE``, ``MINIO_REGION``), which the Helm
chart fills from a Secret. The bucket is created if missing. Objects larger than ``part_size`` are
uploaded in parts by the SDK (multipart); every call is retried with exponential backoff on
connection errors and 5xx answers, so a server that restarts mid-upload costs a retry, not a lost
artifact. Each object carries its SHA-256 as metadata so hashes need no download.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

import urllib3
from minio import Minio
from minio.error import S3Error
from typing_extensions import override

from activeloop.errors import InputError
from activeloop.store.base import ArtifactStore, check_key, sha256_bytes

log = logging.getLogger(__name__)
T = TypeVar("T")
SHA_META = "sha256"
_RETRYABLE_S3 = {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"}


class MinioStore(ArtifactStore):
    """Artifacts as objects ``<prefix>/<key>`` in ``bucket``.

    Args:
        bucket: bucket name (created if missing).
        prefix: key prefix inside the bucket (e.g. ``lab/gb1``).
        endpoint: ``host:port`` of the service.
        access_key, secret_key: credentials.
        secure: use HTTPS.
        retries: attempts per call for transient errors.
        backoff: first retry delay in seconds (doubles each time).
        part_size: multipart part size in bytes (at least 5 MiB).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        secure: bool | None = None,
        region: str | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        part_size: int = 16 * 1024 * 1024,
    ) -> None:
        endpoint = endpoint or os.environ.get("MINIO_ENDPOINT")
        if not endpoint:
            raise InputError("MINIO_ENDPOINT", "no MinIO/S3 endpoint given")
        if secure is None:
            secure = os.environ.get("MINIO_SECURE", "false").lower() in ("1", "true", "yes")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.retries = retries
        self.backoff = backoff
        self.part_size = part_size
        http = urllib3.PoolManager(
            maxsize=8,
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=0),  # retries are ours, with backoff per call
        )
        self.client = Minio(
            endpoint.removeprefix("http://").removeprefix("https://"),
            access_key=access_key or os.environ.get("MINIO_ACCESS_KEY"),
            secret_key=secret_key or os.environ.get("MINIO_SECRET_KEY"),
            secure=secure,
            region=region or os.environ.get("MINIO_REGION") or None,
            http_client=http,
        )
        self._retry(self._ensure_bucket)

    @classmethod
    def from_uri(cls, uri: str, **kwargs: object) -> MinioStore:
        """``s3://bucket/prefix`` (endpoint and credentials from the environment)."""
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InputError("store", f"{uri!r} is not s3://bucket/prefix")
        return cls(parsed.netloc, parsed.path.strip("/"), **kwargs)  # type: ignore[arg-type]

    def _ensure_bucket(self) -> None:
        try:
            exists = self.client.bucket_exists(self.bucket)
        except S3Error as exc:
            if exc.code == "AccessDenied":  # credentials limited to a prefix (a lab's): its bucket exists
                return
            raise
        if not exists:
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as exc:  # created concurrently by another process
                if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    def _name(self, key: str) -> str:
        key = check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _retry(self, fn: Callable[[], T]) -> T:
        delay = self.backoff
        for attempt in range(1, self.retries + 1):
            try:
                return fn()
            except S3Error as exc:
                if exc.code not in _RETRYABLE_S3 or attempt == self.retries:
                    raise
                err: Exception = exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if attempt == self.retries:
                    raise
                err = exc
            log.warning("store call failed (%s), retry %d/%d in %.1fs", err, attempt, self.retries, delay)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    @override
    def put_bytes(self, key: str, data: bytes) -> str:
        sha = sha256_bytes(data)
        name = self._name(key)

        def put() -> None:
            self.client.put_object(
                self.bucket, name, io.BytesIO(data), length=len(data),
                part_size=self.part_size, metadata={SHA_META: sha},
            )

        self._retry(put)
        return sha

    def put_file(self, key: str, path: str | Path) -> str:
        """Upload a file (multipart above ``part_size``), hashing it in a streaming pass."""
        import hashlib

        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        sha = h.hexdigest()
        name = self._name(key)
        self._retry(lambda: self.client.fput_object(
            self.bucket, name, str(path), part_size=self.part_size, metadata={SHA_META: sha}))
        return sha

    @override
    def get_bytes(self, key: str) -> bytes:
        name = self._name(key)

        def get() -> bytes:
            resp = self.client.get_object(self.bucket, name)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        try:
            return self._retry(get)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise KeyError(key) from None
            raise

    @override
    def list(self, prefix: str = "") -> list[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        objs = self._retry(
            lambda: list(self.client.list_objects(self.bucket, prefix=base + prefix, recursive=True))
        )
        return sorted(o.object_name[len(base):] for o in objs)

    @override
    def delete(self, key: str) -> None:
        name = self._name(key)
        self._retry(lambda: self.client.remove_object(self.bucket, name))

    @override
    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            self._retry(lambda: self.client.stat_object(self.bucket, name))
            return True
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return False
            raise

    def content_hash(self, key: str) -> str:
        """SHA-256 from the object's metadata (no download), else computed."""
        name = self._name(key)
        try:
            stat = self._retry(lambda: self.client.stat_object(self.bucket, name))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                raise KeyError(key) from None
            raise
        meta = {k.lower(): v for k, v in (stat.metadata or {}).items()}
        return meta.get(f"x-amz-meta-{SHA_META}") or sha256_bytes(self.get_bytes(key))

    @override
    def version(self, key: str) -> str | None:
        """The object's ETag and content hash (one metadata request, no download)."""
        name = self._name(key)
        try:
            stat = self._retry(lambda: self.client.stat_object(self.bucket, name))
        except S3Error:
            return None
        meta = {k.lower(): v for k, v in (stat.metadata or {}).items()}
        return f"{stat.etag}:{meta.get(f'x-amz-meta-{SHA_META}', '')}"

    @override
    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._name(key)}"
