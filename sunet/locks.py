"""One writer per output: an OS file lock held for as long as a stage writes a folder.

``hold(folder)`` takes an exclusive ``flock`` on ``<parent>/.<name>.lock`` (beside the folder, so
that it exists before the folder does and never ends up inside an output). The lock belongs to the
open file: it goes when the process ends, however it ends, so there is never a stale flag to clear.
The holder writes who it is (pid, command, since when) into the file and removes the file when it
is done (a waiting process that then finds its file gone opens the new one, so no two ever hold the
folder); a second writer gets one line naming the folder and the holder, or waits for it with
``wait=True`` (``lcz-map ... --wait``).

Locks are per open file description: a process that already holds a folder's lock must not take
it again (it would wait for itself); stages take their own folder's lock once, at their entry point.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["FolderBusyError", "hold", "lock_path", "set_waiting"]

_WAIT = False


class FolderBusyError(RuntimeError):
    """Another process is writing the folder."""


def set_waiting(wait: bool) -> None:
    """Whether stages wait for a busy output folder (the CLI's ``--wait``) instead of failing."""
    global _WAIT
    _WAIT = wait


def lock_path(folder: str | os.PathLike[str]) -> Path:
    """The lock file of ``folder``: ``<parent>/.<name>.lock``."""
    folder = Path(folder).absolute()
    return folder.with_name(f".{folder.name}.lock")


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} ({info['command']}) since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def hold(folder: str | os.PathLike[str], wait: bool | None = None) -> Iterator[Path]:
    """Hold the exclusive write lock of ``folder`` for the ``with`` block.

    Raises:
        FolderBusyError: one line naming the folder and its holder, when another process holds
            it and ``wait`` (default: :func:`set_waiting`'s setting) is false.
    """
    wait = _WAIT if wait is None else wait
    path = lock_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise FolderBusyError(
                f"{Path(folder)}: being written by {_holder(path)}; wait for it (--wait) or "
                "choose another output"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:  # the previous holder may have removed the file while this one waited: again
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        info = {
            "pid": os.getpid(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200] if sys.argv else "",
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still held: no one else holds this file
        os.close(fd)  # releases the lock
