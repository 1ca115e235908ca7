"""Finished batches kept on disk, so that a rerun after a crash does not run them again.

A map is made batch by batch in a fixed order (:func:`sunet.mapping.windows.plan_batches`), so a
batch's window results depend only on the run's inputs and its position in that order.
:class:`BatchCache` keeps each finished batch's results as ``NNNNNNN.npz`` (written to a
temporary name and renamed: a file there is complete) in a folder stamped with a fingerprint of
the inputs; a rerun with the same fingerprint reads them back and runs only the rest. The
numbers read back are the bytes the model produced, so a resumed map equals an uninterrupted one.
A folder stamped for other inputs is emptied first.
"""

from __future__ import annotations

import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

from sunet.atomic import write_text_atomic
from sunet.mapping.accumulate import RunResult

__all__ = ["BatchCache"]

_STAMP = "inputs.txt"


class BatchCache:
    """Window results of finished batches under ``folder`` for the inputs ``fingerprint``.

    Attributes:
        reused: batches read back so far; stored: batches written so far.
    """

    def __init__(self, folder: str | os.PathLike[str], fingerprint: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = self.folder / _STAMP
        if not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != fingerprint:
            for f in self.folder.glob("*.npz"):
                f.unlink()
            write_text_atomic(stamp, fingerprint + "\n")
        self.reused = 0
        self.stored = 0

    def _path(self, index: int) -> Path:
        return self.folder / f"{index:07d}.npz"

    def get(self, index: int) -> list[RunResult] | None:
        """The results of batch ``index``, or None when not kept (or unreadable: run again)."""
        path = self._path(index)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                runs = int(data["runs"])
                results = [
                    RunResult(data[f"abundances_{i}"], data[f"cell_valid_{i}"]) for i in range(runs)
                ]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)
            return None
        self.reused += 1
        return results

    def put(self, index: int, results: list[RunResult]) -> None:
        """Keep the results of batch ``index`` (atomically)."""
        arrays: dict[str, np.ndarray] = {"runs": np.asarray(len(results))}
        for i, r in enumerate(results):
            arrays[f"abundances_{i}"] = r.abundances
            arrays[f"cell_valid_{i}"] = r.cell_valid
        path = self._path(index)
        tmp = path.with_name(f".{path.stem}-{uuid.uuid4().hex[:8]}.npz")
        try:
            np.savez(tmp, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        self.stored += 1
