"""Write-then-rename, so that no reader ever sees a half-written output.

Every output file of the pipeline is written under a temporary name in its destination folder
and renamed into place only once complete (``os.replace`` is atomic on one file system). An
interrupted run leaves at most a ``.tmp-*`` file or folder behind, never a file that looks
complete but is not.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "remove_leftovers", "scratch_dir", "write_text_atomic"]


def _tmp_sibling(dst: Path) -> Path:
    # Keep the suffix so that drivers that pick a format by extension (GDAL, pyogrio) still work.
    return dst.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{dst.name}")


@contextmanager
def atomic_path(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``dst``; on success rename it to ``dst``, else remove it."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(dst)
    try:
        yield tmp
        os.replace(tmp, dst)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextmanager
def scratch_dir(path: Path) -> Iterator[Path]:
    """Create the folder ``path`` and yield it; if the body raises, remove it (and re-raise)."""
    path.mkdir()
    try:
        yield path
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


@contextmanager
def atomic_dir(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``dst``; on success it replaces ``dst`` as a whole.

    An existing ``dst`` is moved aside first and deleted only after the new one is in place, so a
    failure never loses the previous complete output.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(dst)
    with scratch_dir(tmp):
        yield tmp
    old = None
    if dst.exists():
        old = dst.with_name(f".old-{uuid.uuid4().hex[:8]}-{dst.name}")
        os.replace(dst, old)
    os.replace(tmp, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(dst: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``dst`` atomically and return the path."""
    with atomic_path(dst) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(dst)


def remove_leftovers(folder: str | os.PathLike[str]) -> None:
    """Remove the scratch and half-written entries (``.work-*``, ``.tmp-*``, ``.old-*``, and the
    lock files of builds inside it) that runs killed part-way left in ``folder``; call it only
    while holding the folder's lock (then none of them belongs to a running process)."""
    for pattern in (".work-*", ".tmp-*", ".old-*", "..*.lock"):
        for stale in Path(folder).glob(pattern):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
