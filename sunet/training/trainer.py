"""The training run: ``train(config) -> bundle path``, in one process or data-parallel (DDP).

Every epoch: the inner loop (:func:`~sunet.training.step.train_epoch`), validation, early
stopping on ``val_score`` (see :mod:`~sunet.training.validate`), a checkpoint, a CSV row and the
curves. The bundle (``OUT/model.safetensors``) holds the best validation epoch.

This module is the loop. What it follows lives beside it, one job per module: the resolved
settings (:mod:`.settings`), the learning-rate schedule, time budget and early stopping
(:mod:`.schedule`), the run's state (:mod:`.state`), what learns and where it starts
(:mod:`.learner`), checkpoints and resuming (:mod:`.checkpoint`), fine-tuning
(:mod:`.fine_tune`) and what the bundle records (:mod:`.metadata`).

Data-parallel runs start one process per CPU share or GPU; each caches the training split and
takes its slice of every global batch; rank 0 validates, checkpoints and writes the outputs.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sunet.atomic import write_text_atomic
from sunet.bundle import load_bundle, save_bundle
from sunet.locks import hold
from sunet.model import SUNet
from sunet.patch_store import INDEX_NAME, PatchStore
from sunet.training.checkpoint import Checkpointer, check_run_folder
from sunet.training.config import TrainConfig
from sunet.training.data import MixedBatchSampler, SplitData, load_split
from sunet.training.distributed import (
    agree,
    agree_min,
    backend_for,
    bf16_native,
    device_for,
    launched_by_torchrun,
    replica_check,
    spawn,
)
from sunet.training.fine_tune import check_fine_tune, with_replay
from sunet.training.learner import build_learner, build_optimizer
from sunet.training.metadata import bundle_meta, run_record
from sunet.training.report import plot_curves, write_log
from sunet.training.schedule import (
    Budget,
    Schedule,
    Stopped,
    epochs_that_fit,
    improves,
    out_of_patience,
)
from sunet.training.settings import Settings, resolve_from_data, train_splits
from sunet.training.step import StepRunner, train_epoch
from sunet.training.validate import fit_feature_profile, validate

__all__ = [
    "BUNDLE_NAME",
    "Trainer",
    "bf16_native",
    "build_optimizer",
    "check_fine_tune",
    "check_run_folder",
    "train",
]

BUNDLE_NAME = "model.safetensors"


class Trainer:
    """One process's share of a training run (rank 0 also validates and writes).

    Args:
        config: the run.
        rank, world_size: this process and the number of processes (1 = no DDP).
    """

    def __init__(self, config: TrainConfig, rank: int = 0, world_size: int = 1) -> None:
        self.rank, self.world_size = rank, world_size
        self.is_main = rank == 0
        self.device = device_for(config.device, int(os.environ.get("LOCAL_RANK", rank)))
        if self.device.type == "cpu":
            threads = config.num_threads or max(1, (os.cpu_count() or 1) // world_size)
            torch.set_num_threads(threads)
        else:
            torch.cuda.set_device(self.device)  # nccl collectives use the current device
        self.amp_dtype = torch.bfloat16 if config.amp and bf16_native(self.device) else None
        self.out = config.out
        if self.is_main:
            check_run_folder(config)
        self.store = PatchStore(config.patches)
        self.init = load_bundle(config.init_from) if config.init_from is not None else None
        if self.init is not None:
            check_fine_tune(self.init, self.store)
        self.train_data, self.replayed = self._load_train_data(config)
        pure_share = float(self.train_data.pure.mean())
        self.config = config = resolve_from_data(config, len(self.train_data), pure_share)
        self.settings = settings = Settings.of(config)
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.out / "config.json", config.model_dump_json(indent=2))
        if world_size > 1:
            dist.barrier()
        # Never validated on what it trains on.
        validate_on = self.is_main and "val" not in settings.train_splits
        self.val_data = (
            load_split(self.store, "val", config.arch.input_size, config.cache_max_gb * 1e9)
            if validate_on
            else None
        )
        self.tasks = config.tasks
        self.checkpointer = Checkpointer(self.out, rank, world_size)
        resumed = self.checkpointer.load() if config.resume else None
        self.learner, self.state = build_learner(
            config, settings, self.train_data, self.init, resumed, rank, self.device, self.is_main
        )
        self.best: dict[str, torch.Tensor] | None = resumed.best if resumed is not None else None
        self.sampler = MixedBatchSampler(
            self.train_data.pure,
            settings.batch_size,
            settings.pure_fraction,
            config.seed,
            rank,
            world_size,
        )
        self.schedule = Schedule(settings, steps_per_epoch=len(self.sampler))
        self.runner = self._step_runner(config)

    def _load_train_data(self, config: TrainConfig) -> tuple[SplitData, int]:
        """The training split(s), with the replayed patches when fine-tuning with a replay
        store; and how many patches were replayed."""
        splits, cache = train_splits(config), config.cache_max_gb * 1e9
        data = load_split(self.store, splits, config.arch.input_size, cache)
        if len(data) == 0:
            raise ValueError(f"{self.store.index_path}: no patches in the {'/'.join(splits)} split")
        replayed = 0
        if config.replay is not None and self.init is not None:
            data, replayed = with_replay(
                self.init, data, config.replay, config.replay_ratio, config.seed, cache
            )
        if config.pure_stream and not data.pure.any():
            raise ValueError(
                f"{self.store.index_path}: no pure patch in the {'/'.join(splits)} split, so the "
                "class head cannot learn; tile with a lower --purity, add labels, or train with "
                "--no-pure-stream"
            )
        return data, replayed

    def _step_runner(self, config: TrainConfig) -> StepRunner:
        """The optimisation step, through DDP when the run has several processes."""
        learner = self.learner
        wrapped: nn.Module = learner.model
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = DistributedDataParallel(learner.model, device_ids=ids)
        return StepRunner(
            wrapped,
            learner.model,
            learner.optimizer,
            learner.gradnorm,
            config.loss_weights == "gradnorm",
            config.grad_clip,
            self.amp_dtype,
            shared_layer=config.gradnorm_layer,
            gradnorm_every=config.gradnorm_every,
            abundances_on_pure=config.abundances_on_pure,
            world_size=self.world_size,
            average=learner.average,
        )

    # ------------------------------------------------------------------ the loop

    def run(self) -> Path:
        """Train until the epochs are done, early stopping or the time budget; write the bundle."""
        settings, state = self.settings, self.state
        budget = Budget(settings.budget_s, lambda flag: agree(flag, self.world_size, self.device))
        stopped: Stopped = "completed"
        while state.epoch < self.schedule.last_epoch(state.horizon):
            if out_of_patience(state.best_epoch, state.bad_epochs, settings.patience):
                stopped = "early_stopping"
                break
            if not budget.next_epoch_fits():
                stopped = "time_budget"
                break
            t0 = time.monotonic()
            row = self._train_epoch(budget, t0)
            if row is None:
                stopped = "time_budget"
                break
            self._end_epoch(row, t0)
            budget.epoch_done(row["seconds"])
            if budget.limited:  # re-planned after every epoch: a slow first one is not the rule
                self._replan(budget.left_s(), budget.last_epoch_s)
        if stopped == "completed" and self.schedule.last_epoch(state.horizon) < settings.epochs:
            stopped = "time_budget"  # the schedule was shortened to fit the budget
        return self._finish(stopped)

    def _train_epoch(self, budget: Budget, t0: float) -> dict[str, Any] | None:
        """The epoch's optimiser steps; its log row (learning rate, throughput, mean losses and
        task weights), or None when the budget ran out before its end."""
        state, learner = self.state, self.learner
        epoch = state.epoch
        learner.model.train()
        show = self.config.progress and self.is_main
        sums, done, aborted = train_epoch(
            self.runner,
            self.train_data,
            self.sampler.batches(epoch),
            state.mean,
            state.std,
            learner.augmenter,
            lr_at=lambda step: self.schedule.lr_at(step, state.horizon),
            first_step=state.step,
            stop=budget.spent,
            desc=f"epoch {epoch + 1}/{self.settings.epochs}" if show else None,
        )
        state.step += done
        if aborted:
            return None
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": state.step,
            "lr": float(learner.optimizer.param_groups[0]["lr"]),
            "images_per_s": done * self.settings.batch_size / max(time.monotonic() - t0, 1e-9),
        }
        row.update({f"loss_{t}": float(v) / done for t, v in zip(self.tasks, sums, strict=True)})
        weights = learner.gradnorm.weights.detach().cpu().tolist()
        row.update({f"weight_{t}": w for t, w in zip(self.tasks, weights, strict=True)})
        return row

    def _end_epoch(self, row: dict[str, Any], t0: float) -> None:
        """Validate, update early stopping and the best weights, checkpoint, log."""
        state, evaluated = self.state, self.learner.evaluated
        improved = False
        if self.is_main:
            if self.val_data is not None and len(self.val_data):
                batch = 2 * self.settings.batch_size
                scores = validate(
                    evaluated, self.val_data, state.mean, state.std, self.device, batch,
                    self.amp_dtype,
                )  # fmt: skip
                row.update(scores)
                improved = improves(row["val_score"], state.best_score)
            else:
                improved = True  # no validation split: the latest epoch is the best we know
        improved = agree(improved, self.world_size, self.device)
        if improved:
            self.best = {k: v.detach().cpu().clone() for k, v in evaluated.state_dict().items()}
        row["seconds"] = time.monotonic() - t0
        row["best"] = improved
        state.end_epoch(row, improved)
        self._checkpoint()
        if self.is_main:
            write_log(self.out / "train_log.csv", state.history)
            plot_curves(self.out / "training_curves.png", state.history, self.tasks)
            shown = {
                k: round(v, 4)
                for k, v in row.items()
                if isinstance(v, float) and k.startswith(("loss", "val_"))
            }
            print(
                f"epoch {row['epoch']}/{self.settings.epochs} {row['seconds']:.0f}s "
                f"{row['images_per_s']:.1f} img/s {shown}",
                flush=True,
            )

    def _replan(self, left_s: float, epoch_s: float) -> None:
        """After an epoch of a budgeted run: end the schedule at the epochs that fit in the
        ``left_s`` seconds left at ``epoch_s`` per epoch (see :meth:`Schedule.replan`). The
        processes agree on the smallest estimate; a new horizon is checkpointed at once, so that
        a resumed run keeps the schedule."""
        state = self.state
        fit = epochs_that_fit(state.epoch, left_s, epoch_s)
        fit = agree_min(fit, self.world_size, self.device)
        horizon = self.schedule.replan(state.horizon, state.epoch, fit)
        if horizon is None:
            return
        state.horizon = horizon
        self._checkpoint()
        if self.is_main:
            print(
                f"time budget: the schedule ends at epoch {horizon.epochs} of {horizon.configured}",
                flush=True,
            )

    def _checkpoint(self) -> None:
        learner = self.learner
        self.checkpointer.save(
            learner.model.state_dict(),
            self.best,
            learner.state_dicts(),
            learner.augment_state(),
            self.state.to_json(),
        )

    def _finish(self, stopped: Stopped) -> Path:
        """Write ``run.json`` and the bundle: the best epoch's weights, the training patches'
        feature profile and the metadata (rank 0; the others return the bundle's path)."""
        state, settings = self.state, self.settings
        ddp = replica_check(self.learner.model, self.world_size) if self.world_size > 1 else None
        path = self.out / BUNDLE_NAME
        if not self.is_main:
            return path
        if stopped == "time_budget":
            # Said plainly at the end, not only when the schedule was planned: a budget that cut
            # the schedule short may leave the model well below what the full schedule gives.
            print(
                f"time budget: trained {state.epoch} of {settings.epochs} epochs in "
                f"{settings.max_minutes:g} minutes; the model may fall short of the full "
                "schedule's: rerun with --max-minutes 0 (or a larger budget) for all of them",
                flush=True,
            )
        record = run_record(state, stopped, ddp)
        write_text_atomic(self.out / "run.json", json.dumps(record, indent=1))
        final = SUNet(self.config.arch)
        final.load_state_dict(
            self.best if self.best is not None else self.learner.evaluated.state_dict()
        )
        final.to(self.device)
        profile = fit_feature_profile(
            final, self.train_data, self.val_data, state.mean, state.std, self.device,
            2 * settings.batch_size,
        )  # fmt: skip
        weights = self.learner.gradnorm.weights.detach().cpu().tolist()
        meta = bundle_meta(
            self.config,
            settings,
            self.store,
            state,
            stopped,
            task_weights=dict(zip(self.tasks, weights, strict=True)),
            train_patches=len(self.train_data),
            val_patches=len(self.val_data) if self.val_data is not None else 0,
            replayed=self.replayed,
            num_processes=self.world_size,
            init=self.init,
        )
        save_bundle(path, final.cpu(), meta, profile)
        return path


def _run(config: TrainConfig, rank: int, world_size: int) -> Path:
    threads = torch.get_num_threads()
    try:
        return Trainer(config, rank, world_size).run()
    finally:
        torch.set_num_threads(threads)  # the caller's setting, as it was


def train(config: TrainConfig) -> Path:
    """Train SU-Net on a patch store and return the path of the model bundle.

    Writes to ``config.out``: ``config.json``, ``checkpoint/`` (per epoch), ``train_log.csv``,
    ``training_curves.png``, ``run.json`` and ``model.safetensors`` (the bundle, best validation
    epoch). ``config.num_processes > 1`` starts that many data-parallel processes; under
    ``torchrun`` the launcher's processes are used instead.

    Raises:
        FileNotFoundError: no patch store, or nothing to resume.
        ValueError: a bad store, a folder holding another run, or a changed config on resume.
    """
    if launched_by_torchrun() and int(os.environ.get("RANK", "0")) != 0:
        return _train(config)  # rank 0 holds the folder's lock for all ranks
    with hold(config.out):
        return _train(config)


def _train(config: TrainConfig) -> Path:
    if launched_by_torchrun():
        if not dist.is_initialized():
            local = int(os.environ.get("LOCAL_RANK", 0))
            dist.init_process_group(backend_for(device_for(config.device, local)))
        return _run(config, dist.get_rank(), dist.get_world_size())
    if config.num_processes > 1:
        index = config.patches / INDEX_NAME
        if not index.is_file():
            raise FileNotFoundError(f"{index}: not found; not a complete patch store")
        check_run_folder(config)  # fail here rather than inside every worker
        spawn(_run, (config,), config.num_processes, backend_for(device_for(config.device, 0)))
        return config.out / BUNDLE_NAME
    return _run(config, 0, 1)
