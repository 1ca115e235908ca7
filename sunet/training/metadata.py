"""What a finished run records: the bundle's metadata (:func:`bundle_meta`) and ``run.json``.

The bundle carries what mapping needs to read scenes the way the model was trained (bands,
patch size, GSD, radiometry, normalisation) and, under ``training``, how it was trained: the
schedule and how it ended, the loss weighting, the data, and the bundle it was fine-tuned from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sunet.bundle import Bundle, BundleMeta
from sunet.patch_store import PatchStore
from sunet.training.config import TrainConfig
from sunet.training.fine_tune import init_record
from sunet.training.schedule import Stopped
from sunet.training.settings import Settings
from sunet.training.state import RunState

__all__ = ["bundle_meta", "run_record"]


def bundle_meta(
    config: TrainConfig,
    settings: Settings,
    store: PatchStore,
    state: RunState,
    stopped: Stopped,
    *,
    task_weights: dict[str, float],
    train_patches: int,
    val_patches: int,
    replayed: int,
    num_processes: int,
    init: Bundle | None,
) -> BundleMeta:
    """The bundle's metadata at the end of a run.

    Args:
        store: the patch store trained on (its grid, bands and radiometry are the model's).
        state: the run's final state (epochs, steps, best epoch, normalisation).
        stopped: why the run ended.
        task_weights: GradNorm's final weight per task.
        train_patches: training patches, replayed ones included; val_patches: validation ones.
        replayed: patches drawn from the replay store (0 without one).
        num_processes: data-parallel processes.
        init: the bundle fine-tuned, or None.
    """
    training: dict[str, Any] = {
        "epochs": state.epoch,
        "steps": state.step,
        "best_epoch": state.best_epoch,
        "best_val_score": state.best_score,
        "stopped": stopped,
        "epochs_planned": settings.epochs,
        "loss_weights": config.loss_weights,
        "gradnorm": {
            "alpha": config.gradnorm_alpha,
            "layer": config.gradnorm_layer,
            "every": config.gradnorm_every,
        },
        "weight_average": config.weight_average,
        "pure_stream": config.pure_stream,
        "abundances_on_pure": config.abundances_on_pure,
        "task_weights": task_weights,
        "patches": str(Path(config.patches).resolve()),
        "train_patches": train_patches,
        "replay": (
            {"store": str(config.replay), "patches": replayed}
            if config.replay is not None
            else None
        ),
        "train_splits": list(settings.train_splits),
        "val_patches": val_patches,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "num_processes": num_processes,
        "pretrained": state.pretrained,
        "seed": config.seed,
        "appearance": config.appearance if config.augment else None,
        "init_from": init_record(init) if init is not None else None,
        "freeze_backbone_stages": config.freeze_backbone_stages,
    }
    return BundleMeta(
        preset=config.preset,
        model=config.arch,
        mean=state.mean,
        std=state.std,
        patch_size=store.patch_size,
        input_size=config.arch.input_size,
        gsd=store.gsd,
        bands=store.bands,
        source_bands=store.source_bands,
        radiometry=store.radiometry,
        crs=store.crs,
        index_hash=store.hash(),
        training=training,
    )


def run_record(state: RunState, stopped: Stopped, ddp: dict[str, Any] | None) -> dict[str, Any]:
    """``run.json``: how far the run got, why it stopped, its best epoch and, for a
    data-parallel run, whether the processes' weights stayed identical."""
    return {
        "epoch": state.epoch,
        "step": state.step,
        "stopped": stopped,
        "best_epoch": state.best_epoch,
        "best_score": state.best_score,
        "ddp": ddp,
    }
