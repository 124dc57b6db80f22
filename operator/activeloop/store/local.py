"""Artifact store on a local directory: the embedded default (``./activeloop-runs/...``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from typing_extensions import override

from activeloop.errors import InputError
from activeloop.store.base import ArtifactStore, check_key, sha256_bytes


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else by setting it back at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class LocalStore(ArtifactStore):
    """Artifacts as files under ``root``; writes go to a temporary file renamed into place, so an
    interrupted write never leaves a half-written artifact. Files get the permissions the umask
    allows (``-rw-rw-r--`` with a lab's usual ``002``), as files made by ``open`` would.

    Args:
        root: the directory.
        create: create ``root`` if it is missing; otherwise a missing ``root`` is an error.
    """

    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = Path(root).resolve()
        if not create and not self.root.is_dir():
            raise InputError("run_dir", f"{root} does not exist")
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Local path of ``key``."""
        return self.root / check_key(key)

    @override
    def put_bytes(self, key: str, data: bytes) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256_bytes(data)

    @override
    def get_bytes(self, key: str) -> bytes:
        p = self.path(key)
        if not p.is_file():
            raise KeyError(key)
        return p.read_bytes()

    @override
    def list(self, prefix: str = "") -> list[str]:
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise InputError("prefix", f"{prefix!r} is not a relative artifact path")
        start = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        folder = os.path.join(self.root, start) if start else str(self.root)
        keys = []
        for dirpath, _dirs, files in os.walk(folder):  # os.walk: a missing folder yields nothing
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            base = "" if rel == "." else rel + "/"
            keys += [base + f for f in files if not f.startswith(".") and (base + f).startswith(prefix)]
        return sorted(keys)

    @override
    def version(self, key: str) -> str | None:
        try:
            st = os.stat(self.path(key))
        except FileNotFoundError:
            return None
        return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"

    @override
    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    @override
    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    @override
    def uri(self, key: str) -> str:
        return self.path(key).as_uri()
