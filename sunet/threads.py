"""Threads for work that releases the GIL (GDAL reads and writes, hashing, shapely, zlib).

One helper runs a function over items in a pool and keeps the order and the error of a plain loop;
one says how many threads this process may use.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["cpu_threads", "each", "threads_for"]

T = TypeVar("T")


def cpu_threads() -> int:
    """CPU cores this process may run on (its affinity mask, as a container's CPU set limits it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def threads_for(workers: int) -> int:
    """A ``workers`` option's thread count: 0 means one per CPU core (:func:`cpu_threads`)."""
    return workers if workers > 0 else cpu_threads()


def each(fn: Callable[[Any], T], items: Sequence[Any], threads: int) -> list[T]:
    """``[fn(item) for item in items]``, in up to ``threads`` threads when more than one.

    Results come in the order of ``items``; the first item (in that order) that fails raises its
    error, as in a plain loop, once every call has returned.
    """
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items))) as pool:
        futures = [pool.submit(fn, item) for item in items]
    return [f.result() for f in futures]
