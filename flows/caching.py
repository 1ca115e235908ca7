"""Task cache keys from what a task reads, so a rerun after a crash resumes where it stopped.

Prefect's ``INPUTS`` policy hashes the parameters as given; for this pipeline those are mostly
paths, whose text says nothing about the data behind them. :class:`FileContents` hashes the
*content* of every existing file or folder a task's parameters name (at any depth inside
pydantic configs, lists and dicts) and the rest of the parameters by value; combined with
``TASK_SOURCE`` a task reruns when its code, its settings or its input data change, and is
otherwise loaded from its persisted result.

Small files (labels, districts, bundles: under ``full_hash_bytes``) are hashed byte by byte;
larger files and the files in folders are identified by size and modification time (nanoseconds),
as ``make`` and ``rsync`` do, so keying a folder of multi-gigabyte scenes costs a ``stat`` each.
Output locations (parameters or config fields named in ``outputs``) count by path only: their
content is what the task makes, and including it would change the key the moment the task ran.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.utilities.hashing import hash_objects
from pydantic import BaseModel

from sunet.hashing import file_hash

__all__ = ["FileContents", "fingerprint"]

FULL_HASH_BYTES = 64 << 20


def _file_id(path: Path, full_hash_bytes: int) -> list[Any]:
    st = path.stat()
    if st.st_size <= full_hash_bytes:
        return ["sha256", file_hash(path)]
    return ["stat", st.st_size, st.st_mtime_ns]


def _dir_id(path: Path) -> list[Any]:
    entries = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            f = Path(root) / name
            st = f.stat()
            entries.append([f.relative_to(path).as_posix(), st.st_size, st.st_mtime_ns])
    return ["dir", entries]


def fingerprint(
    value: Any,
    outputs: Iterable[str] = (),
    exclude: Iterable[str] = (),
    full_hash_bytes: int = FULL_HASH_BYTES,
) -> Any:
    """A JSON-like value standing for ``value`` and the data its paths name.

    Paths (``Path`` objects) become ``[path, content id]``; pydantic models and dicts are walked
    field by field, except fields named in ``outputs``, which are kept as plain text, and fields
    named in ``exclude``, which are left out.
    """
    outputs, exclude = frozenset(outputs), frozenset(exclude)

    def walk(v: Any) -> Any:
        if isinstance(v, BaseModel):
            v = {k: getattr(v, k) for k in type(v).model_fields}
        if isinstance(v, dict):
            return {
                str(k): (str(x) if k in outputs else walk(x))
                for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))
                if k not in exclude
            }
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, Path):
            if v.is_file():
                return [str(v), _file_id(v, full_hash_bytes)]
            if v.is_dir():
                return [str(v), _dir_id(v)]
            return [str(v), "missing"]
        return v

    return walk(value)


@dataclass
class FileContents(CachePolicy):
    """Cache key = hash of the task's parameters with every path replaced by its content id.

    Args:
        outputs: parameter or config field names that are output locations (hashed by path).
        exclude: names that do not change the result (progress bars, thread counts).
        full_hash_bytes: files up to this size are hashed byte by byte, larger ones by stat.
    """

    outputs: tuple[str, ...] = field(default=("out",))
    exclude: tuple[str, ...] = field(default=("progress",))
    full_hash_bytes: int = FULL_HASH_BYTES

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        if not inputs:
            return None
        return hash_objects(
            fingerprint(inputs, self.outputs, self.exclude, self.full_hash_bytes),
            raise_on_failure=True,
        )
