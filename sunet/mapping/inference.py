"""Windows through the model, in one process or spread over Dask workers, with identical results.

Both paths run :func:`run_batch` on the same plan of batches (pure geometry, see
:func:`sunet.mapping.windows.plan_batches`) and feed the results to the accumulator in plan order,
so the output does not depend on where a batch ran. In one process, reading costs a few per cent
of the model's time (a batch's strips are read once, each pixel about twice at stride P/2);
``read_ahead`` overlaps it with the model in background threads (every core but one, each with its
own scene handles), which pays off when the model runs on a GPU and costs time when torch already
keeps every CPU core busy.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sunet.lcz import NUM_CLASSES
from sunet.mapping.accumulate import CellAccumulator, CellRow, RunResult
from sunet.mapping.mosaic import SceneMosaic
from sunet.mapping.predictor import AbundancePredictor, load_predictor
from sunet.mapping.resume import BatchCache
from sunet.mapping.windows import (
    MapGrid,
    WindowBatch,
    WindowRun,
    plan_batches,
    runnable_windows,
)
from sunet.threads import cpu_threads

__all__ = [
    "PreparedBatch",
    "map_cells",
    "predict_batch",
    "read_batch",
    "resolve_threads",
    "run_batch",
]

# Batches read ahead of the model per reader thread with read_ahead (each ~ batch * P * P * 3
# bytes).
_PREFETCH = 2


@dataclass
class PreparedBatch:
    """A batch's strips read and cut into windows.

    Attributes:
        images: uint8 ``(m, 3, P, P)``, the windows with enough imagery (m <= n).
        run: bool ``(n,)``, which of the batch's windows are in ``images``.
        cell_valid: per run of the batch, float32 ``(k, run.n + k - 1)``: valid-pixel share of
            each cell of its strip.
    """

    images: np.ndarray
    run: np.ndarray
    cell_valid: list[np.ndarray]


def _read_run(
    mosaic: SceneMosaic, grid: MapGrid, run: WindowRun
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """One strip -> (its windows, each window's valid share, per-cell valid shares)."""
    transform, width, height = run.strip(grid)
    image, valid = mosaic.read(transform, width, height)
    s, p, k = grid.stride, grid.patch, grid.k
    # (P, W) -> (k, s, cells, s) -> share per cell
    cells = valid.reshape(k, s, width // s, s).mean(axis=(1, 3), dtype=np.float64)
    share = np.array([cells[:, t : t + k].mean() for t in range(run.n)], dtype=np.float64)
    windows = [image[:, :, t * s : t * s + p] for t in range(run.n)]
    return windows, share, cells.astype(np.float32)


def read_batch(
    mosaic: SceneMosaic, grid: MapGrid, batch: WindowBatch, min_window_valid: float
) -> PreparedBatch:
    """Read a batch's strips from the mosaic and keep the windows with enough imagery."""
    windows: list[np.ndarray] = []
    shares, cell_valid = [], []
    for run in batch.runs:
        w, share, cells = _read_run(mosaic, grid, run)
        windows += w
        shares.append(share)
        cell_valid.append(cells)
    keep = np.concatenate(shares) >= min_window_valid
    kept = [w for w, ok in zip(windows, keep, strict=True) if ok]
    p = grid.patch
    images = np.stack(kept) if kept else np.zeros((0, len(mosaic.bands), p, p), dtype=np.uint8)
    return PreparedBatch(images, keep, cell_valid)


def predict_batch(prepared: PreparedBatch, predictor: AbundancePredictor) -> list[RunResult]:
    """Run the model on a prepared batch; one result per run, skipped windows as NaN rows."""
    n = prepared.run.shape[0]
    out = np.full((n, NUM_CLASSES), np.nan, dtype=np.float32)
    if prepared.images.shape[0]:
        pred = np.asarray(predictor.predict_abundances(prepared.images), dtype=np.float32)
        if pred.shape != (prepared.images.shape[0], NUM_CLASSES) or not np.isfinite(pred).all():
            raise ValueError(
                f"predictor returned {pred.shape} (finite: {np.isfinite(pred).all()}); "
                f"expected finite ({prepared.images.shape[0]}, {NUM_CLASSES})"
            )
        out[prepared.run] = pred
    results, t = [], 0
    for cells in prepared.cell_valid:
        m = cells.shape[1] - cells.shape[0] + 1  # windows in this run
        results.append(RunResult(out[t : t + m], cells))
        t += m
    return results


def run_batch(
    mosaic: SceneMosaic,
    grid: MapGrid,
    batch: WindowBatch,
    predictor: AbundancePredictor | str,
    min_window_valid: float,
    threads: int | None = None,
) -> list[RunResult]:
    """Read and predict one batch; ``predictor`` may be a bundle path (loaded once per process).
    ``threads``: torch threads to use in this process (None: leave as is)."""
    if isinstance(predictor, str):
        predictor = load_predictor(Path(predictor))
    _set_torch_threads(threads)
    return predict_batch(read_batch(mosaic, grid, batch, min_window_valid), predictor)


def resolve_threads(requested: int | None) -> int:
    """Torch threads for every process of a run: ``requested``, else this process's current
    count.

    CPU kernels split some batch shapes differently across thread counts, which changes the last
    bits of the abundances; running every process with the same count keeps a Dask run
    bit-identical to a single-process one. The count is read even when this process has not
    loaded torch yet (one that only hands batches to Dask workers): leaving it unset would let
    each worker keep whatever count it had (Dask starts workers with one thread).
    """
    if requested is not None:
        return requested
    import torch

    return int(torch.get_num_threads())


def _set_torch_threads(threads: int | None) -> None:
    if threads is not None and "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


_Indexed = tuple[int, WindowBatch]


def _local_results(
    mosaic: SceneMosaic,
    grid: MapGrid,
    batches: Iterator[_Indexed],
    predictor: AbundancePredictor,
    min_window_valid: float,
    read_ahead: bool,
    cache: BatchCache | None,
) -> Iterator[tuple[int, WindowBatch, list[RunResult], bool]]:
    """(index, batch, results, read back from ``cache``) in batch order."""
    kept = (lambda i: cache.get(i)) if cache is not None else (lambda i: None)
    if not read_ahead:
        for i, batch in batches:
            old = kept(i)
            if old is not None:
                yield i, batch, old, True
            else:
                prepared = read_batch(mosaic, grid, batch, min_window_valid)
                yield i, batch, predict_batch(prepared, predictor), False
        return
    readers = reader_threads()
    with ThreadPoolExecutor(max_workers=readers, thread_name_prefix="mosaic-read") as pool:
        pending: deque[tuple[int, WindowBatch, Any]] = deque()

        def pop() -> tuple[int, WindowBatch, list[RunResult], bool]:
            i, done, item = pending.popleft()
            if isinstance(item, list):
                return i, done, item, True
            return i, done, predict_batch(item.result(), predictor), False

        try:
            for i, batch in batches:
                old = kept(i)
                item = (
                    old
                    if old is not None
                    else pool.submit(read_batch, mosaic, grid, batch, min_window_valid)
                )
                pending.append((i, batch, item))
                if len(pending) > _PREFETCH * readers:
                    yield pop()
            while pending:
                yield pop()
        finally:
            for _, _, item in pending:  # abandoned (an error downstream): read no further
                if not isinstance(item, list):
                    item.cancel()
            # Each reader thread's scenes were opened under its own GDAL environment: close them
            # there, once per thread (a barrier keeps any thread from taking two closes).
            barrier = threading.Barrier(readers)

            def close() -> None:
                try:
                    mosaic.close()
                finally:
                    barrier.wait()

            for f in [pool.submit(close) for _ in range(readers)]:
                f.result()


def reader_threads() -> int:
    """Threads that read batches ahead of the model with ``read_ahead``: every CPU core but the
    one that feeds the model (at least one)."""
    return max(1, cpu_threads() - 1)


def _dask_results(
    client: Any,
    mosaic: SceneMosaic,
    grid: MapGrid,
    batches: Iterator[_Indexed],
    predictor: AbundancePredictor | str,
    min_window_valid: float,
    threads: int | None,
    cache: BatchCache | None,
) -> Iterator[tuple[int, WindowBatch, list[RunResult], bool]]:
    # Send the mosaic, grid and (a test's in-memory) predictor once; a bundle path stays a string
    # and each worker loads it once through load_predictor's cache.
    [mosaic_f, grid_f] = client.scatter([mosaic, grid], broadcast=True)
    pred_f = predictor if isinstance(predictor, str) else client.scatter(predictor, broadcast=True)
    nworkers = max(1, len(client.scheduler_info().get("workers", {})))
    in_flight = max(4, 3 * nworkers)
    pending: deque[tuple[int, WindowBatch, Any]] = deque()

    def pop() -> tuple[int, WindowBatch, list[RunResult], bool]:
        i, done, item = pending.popleft()
        if isinstance(item, list):
            return i, done, item, True
        return i, done, item.result(), False

    for i, batch in batches:
        old = cache.get(i) if cache is not None else None
        item = (
            old
            if old is not None
            else client.submit(
                run_batch, mosaic_f, grid_f, batch, pred_f, min_window_valid, threads, pure=False
            )
        )
        pending.append((i, batch, item))
        if len(pending) >= in_flight:
            yield pop()
    while pending:
        yield pop()


def map_cells(
    mosaic: SceneMosaic,
    grid: MapGrid,
    mask: np.ndarray,
    predictor: AbundancePredictor | str,
    *,
    weights: np.ndarray,
    batch_size: int,
    min_window_valid: float,
    min_cell_valid: float,
    sink: Callable[[CellRow], None],
    client: Any = None,
    progress: bool = False,
    threads: int | None = None,
    read_ahead: bool = False,
    only: np.ndarray | None = None,
    cache: BatchCache | None = None,
) -> dict[str, int]:
    """Map every masked cell of ``grid``, handing finished cell rows to ``sink`` in order.

    Args:
        mosaic: the scenes; grid: the cells; mask: bool ``(H, W)`` cells to map.
        predictor: an :class:`AbundancePredictor`, or a bundle path (then loaded via
            :func:`load_predictor`, on each Dask worker once).
        weights: ``(k, k)`` window weights; batch_size: windows per model call.
        min_window_valid / min_cell_valid: imagery shares needed to run a window / map a cell.
        sink: receives each :class:`CellRow` exactly once, rows ``0 ... H-1`` in order.
        client: a ``distributed.Client`` to spread batches over, or None for this process.
        threads: torch threads in every process that runs the model (None: this process's
            count, see :func:`resolve_threads`).
        read_ahead: in this process, read the next batches in a background thread while the
            model runs (see :class:`~sunet.mapping.config.MapConfig`).
        only: bool, shaped like :func:`runnable_windows`' result: run only the batches that
            hold one of these windows (None: all). The batches are those of the whole plan, so
            the windows that run see exactly the strips and batches of a full run and give the
            same numbers; cells not covered by all their windows come out wrong and are the
            caller's to replace.
        cache: keeps each finished batch and gives back those a crashed run of the same inputs
            finished (see :mod:`sunet.mapping.resume`).

    Returns:
        counts: ``windows`` planned, ``windows_run`` through the model, ``windows_skipped``
        (in batches left out by ``only``), ``batches``, ``batches_reused`` (read back from
        ``cache``).
    """
    runnable = runnable_windows(mask, grid.k)
    batches: Iterator[_Indexed] = enumerate(plan_batches(runnable, grid.k, batch_size))
    total = int(runnable.sum())
    if only is not None:  # the progress bar counts only the windows that will run
        chosen = [(i, b) for i, b in batches if _holds_any(b, only, grid.k)]
        total = sum(b.n for _, b in chosen)
        batches = iter(chosen)
    previous, threads = resolve_threads(None), resolve_threads(threads)
    results: Iterator[tuple[int, WindowBatch, list[RunResult], bool]]
    if client is not None:
        results = _dask_results(
            client, mosaic, grid, batches, predictor, min_window_valid, threads, cache
        )
    else:
        local = load_predictor(Path(predictor)) if isinstance(predictor, str) else predictor
        _set_torch_threads(threads)
        results = _local_results(mosaic, grid, batches, local, min_window_valid, read_ahead, cache)
    acc = CellAccumulator(mask, weights, min_cell_valid)
    counts = {"windows": int(runnable.sum()), "windows_run": 0, "batches": 0, "batches_reused": 0}
    in_batches_run = 0
    try:
        with tqdm(
            total=total, unit="win", disable=not progress, file=sys.stderr, leave=False
        ) as bar:
            for i, batch, per_run, reused in results:
                if cache is not None and not reused:
                    cache.put(i, per_run)
                for run, result in zip(batch.runs, per_run, strict=True):
                    for row in acc.add(run.row, run.col, result):
                        sink(row)
                    counts["windows_run"] += int(np.isfinite(result.abundances[:, 0]).sum())
                counts["batches"] += 1
                counts["batches_reused"] += int(reused)
                in_batches_run += batch.n
                bar.update(batch.n)
            for row in acc.finish():
                sink(row)
    finally:
        _set_torch_threads(previous)
    counts["windows_skipped"] = counts["windows"] - in_batches_run
    return counts


def _holds_any(batch: WindowBatch, windows: np.ndarray, k: int) -> bool:
    """Whether ``batch`` holds a window marked in ``windows`` (indexed as runnable_windows)."""
    return any(
        windows[r.row + k - 1, r.col + k - 1 : r.col + k - 1 + r.n].any() for r in batch.runs
    )
