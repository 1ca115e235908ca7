"""Content hashes: one file hash in the forms stored before (hex, 'sha256:<hex>', BLAKE2b)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from sunet.hashing import canonical_json, file_hash, hasher, record_hash


def _sample(tmp_path: Path) -> tuple[Path, bytes]:
    # Over 4 MiB, so that every chunked reader the hash replaces read several chunks.
    data = np.random.default_rng(0).integers(0, 256, (5 << 20) + 123, dtype=np.uint8).tobytes()
    path = tmp_path / "sample.bin"
    path.write_bytes(data)
    return path, data


def test_file_hash_matches_the_formats_stored_before(tmp_path: Path) -> None:
    path, data = _sample(tmp_path)
    hex_ = hashlib.sha256(data).hexdigest()
    assert file_hash(path) == hex_  # scene manifests, remap inputs, flow cache keys
    assert file_hash(path, tagged=True) == f"sha256:{hex_}"  # bundles: index_hash, init sha256
    assert file_hash(str(path)) == hex_
    # The tiler's per-scene cache key part.
    assert file_hash(path, "blake2b", digest_size=16) == (
        hashlib.blake2b(data, digest_size=16).hexdigest()
    )
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_hash(empty, tagged=True) == "sha256:" + hashlib.sha256(b"").hexdigest()


def test_record_hash_is_the_hash_of_sorted_json() -> None:
    record = {"b": [1, 2.5], "a": {"y": None, "x": "s"}, "p": Path("/data/scene.tif")}
    text = json.dumps(record, sort_keys=True, default=str)
    assert canonical_json(record) == text
    assert record_hash(record) == hashlib.sha256(text.encode()).hexdigest()
    assert record_hash(record, "blake2b", digest_size=12) == (
        hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    )
    assert record_hash({"a": 1, "b": 2}) == record_hash({"b": 2, "a": 1})
    assert hasher("blake2b", 16).digest_size == 16
