"""A campaign as one file: a zip archive of what it recorded and decided, to keep, to hand over,
or to start again elsewhere (``activeloop init --from``).

The archive holds the campaign's own files under their store keys (``store.keys.archived``: the
spec, each plate's rows, metadata and file as sent, each round's status, pinned inputs, records and
proposals, the activity) and ``manifest.json``: the format, the campaign's name, when it was made,
and every file's SHA-256. Reading one back checks the manifest first: a file missing, altered or
not listed, a name outside the campaign's keys, or an archive that unpacks beyond its bounds is
refused, naming the file.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from activeloop.errors import InputError, TooLargeError
from activeloop.store import keys
from activeloop.store.base import sha256_bytes

FORMAT = "activeloop-campaign/1"
MANIFEST = "manifest.json"
MAX_FILES = 100_000
MAX_UNPACKED = 2 * 2**30
"""Bounds of an archive read back (files, bytes unpacked)."""


@dataclass(frozen=True)
class Unpacked:
    """An archive read back: the campaign's name, its spec (YAML text), and its other files."""

    name: str
    spec: bytes
    files: dict[str, bytes]
    created_at: str


def pack(name: str, files: Mapping[str, bytes]) -> bytes:
    """The archive of campaign ``name``'s ``files`` (keys -> bytes), with its manifest."""
    manifest = {"format": FORMAT, "campaign": name, "created_at": datetime.now(timezone.utc).isoformat(),
                "files": {k: sha256_bytes(v) for k, v in sorted(files.items())}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        for k, v in sorted(files.items()):
            z.writestr(k, v)
    return buf.getvalue()


def unpack(data: bytes, source: str = "archive") -> Unpacked:
    """Read an archive back, every file checked against the manifest (:class:`InputError` naming
    the file otherwise)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InputError(source, f"not a campaign archive (a zip file): {exc}") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_FILES or sum(i.file_size for i in infos) > MAX_UNPACKED:
            raise TooLargeError(f"{source}: the archive unpacks beyond {MAX_FILES:,} files or {MAX_UNPACKED:,} bytes")
        try:
            manifest = json.loads(z.read(MANIFEST))
        except KeyError:
            raise InputError(source, f"no {MANIFEST}: not an archive that ActiveLoop made") from None
        except ValueError as exc:
            raise InputError(f"{source}: {MANIFEST}", f"not readable JSON ({exc})") from None
        if manifest.get("format") != FORMAT:
            raise InputError(f"{source}: {MANIFEST}", f"format {manifest.get('format')!r}; this version reads {FORMAT}")
        listed: dict[str, str] = dict(manifest.get("files") or {})
        names = {i.filename for i in infos if not i.is_dir()} - {MANIFEST}
        for extra in sorted(names - set(listed)):
            raise InputError(f"{source}: {extra}", "is not in the manifest")
        files: dict[str, bytes] = {}
        for key, digest in sorted(listed.items()):
            if not keys.archived(key):
                raise InputError(f"{source}: {key}", "is not a file of a campaign")
            try:
                body = z.read(key)
            except KeyError:
                raise InputError(f"{source}: {key}", "is in the manifest but not in the archive") from None
            if sha256_bytes(body) != digest:
                raise InputError(f"{source}: {key}", "does not match its SHA-256 in the manifest (altered?)")
            files[key] = body
    spec = files.pop(keys.SPEC, None)
    if spec is None:
        raise InputError(source, f"the archive has no {keys.SPEC}")
    return Unpacked(str(manifest.get("campaign") or ""), spec, files, str(manifest.get("created_at") or ""))


__all__ = ["FORMAT", "MANIFEST", "Unpacked", "pack", "unpack"]
