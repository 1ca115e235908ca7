"""Content hashes: of files and of JSON-able records (standard library only).

Recorded hashes keep the form they were stored in: hex for scene manifests, remap inputs and
labels keys, ``"sha256:<hex>"`` for bundles (:func:`file_hash` with ``tagged=True``), BLAKE2b
for the tiler's per-scene cache keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

__all__ = ["canonical_json", "file_hash", "files_hash", "hasher", "record_hash"]


def hasher(algorithm: str = "sha256", digest_size: int | None = None) -> hashlib._Hash:
    """A new ``hashlib`` object; ``digest_size`` (bytes) only for BLAKE2 (``"blake2b"``)."""
    if digest_size is None:
        return hashlib.new(algorithm)
    # BLAKE2 takes a digest size; the stubs of hashlib.new do not list it.
    return hashlib.new(algorithm, digest_size=digest_size)  # type: ignore[call-arg]


def file_hash(
    path: str | os.PathLike[str],
    algorithm: str = "sha256",
    *,
    digest_size: int | None = None,
    tagged: bool = False,
) -> str:
    """Hash of a file's bytes, read in chunks: hex, or ``"<algorithm>:<hex>"`` if ``tagged``."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, lambda: hasher(algorithm, digest_size)).hexdigest()
    return f"{algorithm}:{digest}" if tagged else digest


def files_hash(
    paths: Sequence[str | os.PathLike[str]],
    algorithm: str = "sha256",
    *,
    digest_size: int | None = None,
) -> str:
    """Hex hash of what a group of files holds, in order: the :func:`file_hash` of a single file
    (so a one-file scene keeps the hash it always had), else the hash of their hashes."""
    if len(paths) == 1:
        return file_hash(paths[0], algorithm, digest_size=digest_size)
    hashes = [file_hash(p, algorithm, digest_size=digest_size) for p in paths]
    return record_hash(hashes, algorithm, digest_size=digest_size)


def canonical_json(record: Any) -> str:
    """``record`` as JSON with sorted keys; values JSON does not know (paths ...) as ``str()``."""
    return json.dumps(record, sort_keys=True, default=str)


def record_hash(record: Any, algorithm: str = "sha256", *, digest_size: int | None = None) -> str:
    """Hex hash of :func:`canonical_json` of ``record`` (UTF-8)."""
    h = hasher(algorithm, digest_size)
    h.update(canonical_json(record).encode())
    return h.hexdigest()
