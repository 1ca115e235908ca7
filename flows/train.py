"""``lcz-train``: train SU-Net on a patch store; a thin flow over :func:`sunet.training.train`.

The training task is keyed on the content of the patch store and the config (see
:mod:`flows.caching`), so rerunning the flow on unchanged data returns the bundle already made
instead of training again. Fields that change where or how visibly it
runs (progress bar, device, threads, resume) do not change the key.
"""

from __future__ import annotations

import math
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import TASK_SOURCE

from flows.caching import FileContents
from sunet.bundle import read_bundle_meta
from sunet.training.config import TrainConfig

__all__ = ["train_flow", "train_model"]


@task(
    name="train",
    cache_policy=TASK_SOURCE
    + FileContents(exclude=("progress", "resume", "device", "num_threads")),
    persist_result=True,
)
def train_model(config: TrainConfig) -> Path:
    """Train and return the bundle path (``config.out/...safetensors``)."""
    from sunet.training import train  # torch import only where training happens

    return Path(train(config))


def metrics_rows(bundle: Path) -> list[dict[str, object]]:
    """The bundle's metrics as table rows: one per metric, one column per split scored
    (``test``, ``val`` ...) plus ``training`` for the trainer's own summary."""
    meta = read_bundle_meta(bundle)
    rows: dict[str, dict[str, object]] = {}

    def put(metric: str, column: str, value: object) -> None:
        if isinstance(value, bool | int | float | str):
            if isinstance(value, float) and not math.isfinite(value):
                value = None  # JSON has no NaN
            rows.setdefault(metric, {"metric": metric})[column] = value

    for name, value in meta.metrics.items():
        if isinstance(value, dict):
            for metric, v in value.items():
                put(metric, name, v)
        else:
            put(name, "value", value)
    for name, value in meta.training.items():
        put(name, "training", value)
    # Every row carries every column: a table takes its columns from the first row.
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    return [{c: row.get(c) for c in columns} for row in rows.values()]


@flow(name="lcz-train", log_prints=True)
def train_flow(config: TrainConfig) -> Path:
    """Train SU-Net on ``config.patches``; publishes the bundle's metrics as a table artifact."""
    bundle = train_model(config)
    rows = metrics_rows(bundle)
    if rows:
        create_table_artifact(rows, key="lcz-train-metrics", description=f"Metrics of {bundle}")
    print(f"bundle: {bundle}")
    return bundle
