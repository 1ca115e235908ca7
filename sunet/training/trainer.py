"""The training run: ``train(config) -> bundle path``, in one process or data-parallel (DDP).

Every epoch: the inner loop (:func:`~sunet.training.step.train_epoch`), validation, early
stopping on ``val_score`` (see :mod:`~sunet.training.validate`), a checkpoint, a CSV row and the
curves. The bundle (``OUT/model.safetensors``) holds the best validation epoch.

Data-parallel runs start one process per CPU share or GPU; each caches the training split and
takes its slice of every global batch; rank 0 validates, checkpoints and writes the outputs.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from sunet.atomic import write_text_atomic
from sunet.bundle import Bundle, BundleMeta, load_bundle, save_bundle
from sunet.hashing import file_hash
from sunet.locks import hold
from sunet.model import SUNet, load_pretrained_backbone
from sunet.patch_store import INDEX_NAME, PatchStore
from sunet.training.augment import Augmenter
from sunet.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sunet.training.config import (
    PURE_FRACTION,
    RESOLVED_FROM_DATA,
    RUNTIME_FIELDS,
    TrainConfig,
    load_saved_config,
)
from sunet.training.data import (
    MixedBatchSampler,
    SplitData,
    band_statistics,
    load_split,
)
from sunet.training.distributed import (
    agree,
    agree_min,
    backend_for,
    launched_by_torchrun,
    spawn,
)
from sunet.training.ema import WeightAverage
from sunet.training.gradnorm import GradNorm
from sunet.training.report import finite_or_none, plot_curves, write_log
from sunet.training.step import StepRunner, learning_rate, train_epoch
from sunet.training.validate import fit_feature_profile, validate

__all__ = [
    "BUNDLE_NAME",
    "Trainer",
    "build_optimizer",
    "check_fine_tune",
    "check_run_folder",
    "train",
]

BUNDLE_NAME = "model.safetensors"


def _device(config: TrainConfig, local_rank: int) -> torch.device:
    if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device is available")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def build_optimizer(model: SUNet, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW at the config's learning rate and weight decay (none on 1-D parameters)."""
    # No weight decay on norms, biases and Swin's scalar/relative-position parameters.
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups: list[dict[str, Any]] = [{"params": decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(
        groups, lr=float(config.lr or 0), weight_decay=float(config.weight_decay or 0)
    )


def bf16_native(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX (there bf16 autocast made a cpu-small step 1.5-1.7x faster; on CPUs
    without them bf16 is emulated and slower than float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # torch without these probes: assume not
        return False


def check_run_folder(config: TrainConfig) -> None:
    """Refuse to mix two runs in one folder; on resume, refuse a changed configuration."""
    saved_path = config.out / "config.json"
    if not config.resume:
        if (config.out / "checkpoint").exists():
            raise ValueError(
                f"{config.out}: already holds a training run; pass --resume to continue it "
                "or choose another --out"
            )
        return
    if not saved_path.is_file():
        raise FileNotFoundError(f"{saved_path}: no run to resume in {config.out}")
    saved = load_saved_config(saved_path)
    now, before = config.model_dump(mode="json"), saved.model_dump(mode="json")
    changed = sorted(
        k
        for k in now
        if k not in RUNTIME_FIELDS
        and now[k] != before.get(k)
        and not (k in RESOLVED_FROM_DATA and now[k] is None)  # resolved as it was the first time
    )
    if changed:
        raise ValueError(
            f"{saved_path}: cannot resume with a changed configuration ({', '.join(changed)})"
        )


class Trainer:
    """One process's share of a training run (rank 0 also validates and writes).

    Args:
        config: the run.
        rank, world_size: this process and the number of processes (1 = no DDP).
    """

    def __init__(self, config: TrainConfig, rank: int = 0, world_size: int = 1) -> None:
        self.config, self.rank, self.world_size = config, rank, world_size
        self.is_main = rank == 0
        self.device = _device(config, int(os.environ.get("LOCAL_RANK", rank)))
        if self.device.type == "cpu":
            threads = config.num_threads or max(1, (os.cpu_count() or 1) // world_size)
            torch.set_num_threads(threads)
        else:
            torch.cuda.set_device(self.device)  # nccl collectives use the current device
        self.amp_dtype = torch.bfloat16 if config.amp and bf16_native(self.device) else None
        self.out = config.out
        if self.is_main:
            check_run_folder(config)
        arch, cache = config.arch, config.cache_max_gb * 1e9
        self.store = PatchStore(config.patches)
        self.init = load_bundle(config.init_from) if config.init_from is not None else None
        if self.init is not None:
            check_fine_tune(self.init, self.store)
        splits = list(config.train_splits or ["train"])
        self.train_data = load_split(self.store, splits, arch.input_size, cache)
        if len(self.train_data) == 0:
            raise ValueError(f"{self.store.index_path}: no patches in the {'/'.join(splits)} split")
        self.replayed = 0
        if config.replay is not None and self.init is not None:
            self.train_data = self._with_replay(config, self.init, self.train_data, cache)
        if config.pure_stream and not self.train_data.pure.any():
            raise ValueError(
                f"{self.store.index_path}: no pure patch in the {'/'.join(splits)} split, so the "
                "class head cannot learn; tile with a lower --purity, add labels, or train with "
                "--no-pure-stream"
            )
        if config.epochs is None:  # fine-tuning: the schedule is counted in steps
            batches = max(len(self.train_data) // int(config.batch_size or 1), 1)
            epochs = max(1, math.ceil(config.fine_tune_steps / batches))
            self.config = config = config.model_copy(update={"epochs": epochs})
        if config.pure_fraction is None:
            share = float(self.train_data.pure.mean())
            fraction = PURE_FRACTION if share <= PURE_FRACTION else min(share, 0.95)
            self.config = config = config.model_copy(update={"pure_fraction": fraction})
        if self.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.out / "config.json", config.model_dump_json(indent=2))
        if world_size > 1:
            dist.barrier()
        validate_on = self.is_main and "val" not in splits  # never on what it trains on
        self.val_data = (
            load_split(self.store, "val", arch.input_size, cache) if validate_on else None
        )
        self.tasks = config.tasks
        self._build(arch)
        self.wrapped: nn.Module = self.model
        if world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.wrapped = DistributedDataParallel(self.model, device_ids=ids)
        self.runner = StepRunner(
            self.wrapped,
            self.model,
            self.optimizer,
            self.gradnorm,
            config.loss_weights == "gradnorm",
            config.grad_clip,
            self.amp_dtype,
            world_size,
            shared_layer=config.gradnorm_layer,
            gradnorm_every=config.gradnorm_every,
            average=self.average,
            abundances_on_pure=config.abundances_on_pure,
        )

    def _with_replay(
        self, config: TrainConfig, init: Bundle, new: SplitData, cache: float
    ) -> SplitData:
        """``new`` followed by a seeded random draw of ``replay_ratio`` train patches of the
        replay store per new patch (all of them when it holds fewer)."""
        assert config.replay is not None
        store = PatchStore(config.replay)
        check_fine_tune(init, store)
        source = load_split(store, "train", new.input_size, cache)
        if len(source) == 0:
            raise ValueError(f"{store.index_path}: no patches in the train split to replay")
        count = min(len(source), max(1, round(config.replay_ratio * len(new))))
        rows = np.sort(np.random.default_rng(config.seed).permutation(len(source))[:count])
        self.replayed = count
        return new.join(source.take(rows))

    def _build(self, arch: Any) -> None:
        """Model, optimiser, GradNorm, augmenter, sampler and state: fresh or from a checkpoint."""
        config = self.config
        ckpt = None
        if config.resume:
            try:
                ckpt = load_checkpoint(self.out / "checkpoint")
            except FileNotFoundError:
                # Stopped before its first checkpoint: nothing to continue, start from the top.
                if self.is_main:
                    print(f"resume: no checkpoint in {self.out} yet; starting from epoch 1")
        torch.manual_seed(config.seed)
        self.model = SUNet(arch)
        note = None
        if ckpt is not None:
            self.model.load_state_dict(ckpt.model)
            mean, std = ckpt.state["mean"], ckpt.state["std"]
        elif self.init is not None:
            # The bundle's weights with the normalisation they were trained under.
            self.model.load_state_dict(self.init.model.state_dict())
            mean, std = list(self.init.meta.mean), list(self.init.meta.std)
        else:
            mean, std = band_statistics(self.train_data)
            if config.pretrained is not None:
                note = load_pretrained_backbone(self.model.backbone, config.pretrained).summary()
                if self.is_main:
                    print(f"pretrained backbone: {note}")
        self.mean, self.std = mean, std
        self.model.backbone.freeze(config.freeze_backbone_stages)
        self.model.to(self.device)
        self.gradnorm = GradNorm(len(self.tasks), config.gradnorm_alpha, config.gradnorm_lr)
        start = self.init.meta.training.get("task_weights") if self.init is not None else None
        if start and set(start) == set(self.tasks):
            # Fine-tuning continues the balance the bundle ended with: equal weights would give
            # the heads' losses ten times the weight they last had, and undo the features.
            self.gradnorm.start_from([start[t] for t in self.tasks])
        self.gradnorm.to(self.device)
        self.average = (
            WeightAverage(self.model, config.weight_average) if config.weight_average else None
        )
        self.optimizer = build_optimizer(self.model, config)
        self.augmenter = (
            Augmenter(config.seed + 1000 * (self.rank + 1), appearance=config.appearance)
            if config.augment
            else None
        )
        self.sampler = MixedBatchSampler(
            self.train_data.pure,
            int(config.batch_size or 0),
            float(config.pure_fraction or PURE_FRACTION),
            config.seed,
            self.rank,
            self.world_size,
        )
        self.state: dict[str, Any] = {
            "epoch": 0,
            "step": 0,
            "best_score": None,
            "best_epoch": None,
            "bad_epochs": 0,
            "mean": mean,
            "std": std,
            "history": [],
            "pretrained": note,
        }
        self.best: dict[str, torch.Tensor] | None = None
        if ckpt is not None:
            self.state.update(ckpt.state)
            self.best = ckpt.best
            self.optimizer.load_state_dict(ckpt.extra["optimizer"])
            self.gradnorm.load_state_dict(ckpt.extra["gradnorm"])
            self.gradnorm.optimizer.load_state_dict(ckpt.extra["gradnorm_optimizer"])
            if self.average is not None:
                self.average.load_state_dict(ckpt.extra["weight_average"])
            augment_state = set_rng_state(ckpt.extra["rng"][self.rank])
            if self.augmenter is not None:
                self.augmenter.load_state(augment_state)

    # ------------------------------------------------------------------ the loop

    def run(self) -> Path:
        """Train until the epochs are done, early stopping or the time budget; write the bundle."""
        config = self.config
        started = time.monotonic()
        budget_s = float(config.max_minutes or 0) * 60
        epochs, patience = int(config.epochs or 0), int(config.patience or 0)
        last_epoch_s, completed, stopped = 0.0, 0, "completed"
        warmup, base_lr = int(config.warmup_steps or 0), float(config.lr or 0)

        def horizon() -> int:
            # The schedule spans the configured epochs, or those the time budget holds (fixed
            # after the first epoch, see _plan_horizon); a resumed run with the same epochs
            # keeps it, one given other epochs plans again.
            planned = self.state.get("horizon") or {}
            return int(planned["epochs"]) if planned.get("configured") == epochs else epochs

        def lr_at(step: int) -> float:
            return learning_rate(
                step, base_lr, warmup, horizon() * len(self.sampler), config.lr_schedule,
                config.min_lr_ratio,
            )  # fmt: skip

        def over_budget() -> bool:
            # Abandon a partial epoch only when this invocation has completed one (its
            # checkpoint then stands); the first epoch always completes.
            over = budget_s > 0 and completed > 0 and time.monotonic() - started > budget_s
            return agree(over, self.world_size, self.device)

        while self.state["epoch"] < horizon():
            if self.state["best_epoch"] is not None and self.state["bad_epochs"] >= patience:
                stopped = "early_stopping"
                break
            # No epoch is started that the last one's duration says will not fit.
            late = budget_s > 0 and time.monotonic() - started + last_epoch_s > budget_s
            if agree(late, self.world_size, self.device):
                stopped = "time_budget"
                break
            epoch, t0 = self.state["epoch"], time.monotonic()
            self.model.train()
            batches = self.sampler.batches(epoch)
            sums, done, aborted = train_epoch(
                self.runner,
                self.train_data,
                batches,
                self.mean,
                self.std,
                self.augmenter,
                lr_at=lr_at,
                first_step=self.state["step"],
                stop=over_budget,
                desc=f"epoch {epoch + 1}/{epochs}" if config.progress and self.is_main else None,
            )
            self.state["step"] += done
            if aborted:
                stopped = "time_budget"
                break
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "step": self.state["step"],
                "lr": float(self.optimizer.param_groups[0]["lr"]),
                "images_per_s": done
                * int(config.batch_size or 0)
                / max(time.monotonic() - t0, 1e-9),
            }
            row.update(
                {f"loss_{t}": float(v) / done for t, v in zip(self.tasks, sums, strict=True)}
            )
            weights = self.gradnorm.weights.detach().cpu().tolist()
            row.update({f"weight_{t}": w for t, w in zip(self.tasks, weights, strict=True)})
            self._end_epoch(row, t0)
            last_epoch_s = row["seconds"]
            completed += 1
            if budget_s > 0:  # re-planned after every epoch: a slow first one is not the rule
                self._plan_horizon(budget_s - (time.monotonic() - started), last_epoch_s)
        if stopped == "completed" and horizon() < epochs:
            stopped = "time_budget"  # the schedule was shortened to fit the budget
        return self._finish(stopped)

    def _init_record(self) -> dict[str, Any] | None:
        """What a fine-tuned model started from (recorded in its bundle)."""
        if self.init is None:
            return None
        meta = self.init.meta
        return {
            "path": str(Path(self.init.path).resolve()),
            "sha256": file_hash(self.init.path, tagged=True),
            "preset": meta.preset,
            "index_hash": meta.index_hash,
            "created": meta.created,
            "init_from": meta.training.get("init_from"),
        }

    @property
    def evaluated(self) -> SUNet:
        """The weights validated and kept: the running average when there is one."""
        return self.average.model if self.average is not None else self.model

    def _plan_horizon(self, left_s: float, epoch_s: float) -> None:
        """After each epoch of a budgeted run: end the schedule at the epochs that fit in the
        time left (at the last epoch's pace; never beyond the configured epochs), so that the
        learning rate has decayed when the budget ends instead of being cut off high. Planned
        again after every epoch, a slow start (start-up, a busy machine) no longer fixes a short
        schedule for good. The processes agree on the smallest estimate; the horizon is saved
        with the state."""
        epochs = int(self.config.epochs or 0)
        done = int(self.state["epoch"])
        fit = done + int(0.95 * max(left_s, 0.0) / max(epoch_s, 1e-9))
        fit = max(done, min(agree_min(fit, self.world_size, self.device), epochs))
        planned = self.state.get("horizon") or {}
        current = int(planned["epochs"]) if planned.get("configured") == epochs else epochs
        if fit != current:
            self.state["horizon"] = {"epochs": fit, "configured": epochs}
            self._checkpoint()  # so that a resumed run keeps the schedule
            if self.is_main:
                print(f"time budget: the schedule ends at epoch {fit} of {epochs}", flush=True)

    def _end_epoch(self, row: dict[str, Any], t0: float) -> None:
        """Validate, update early stopping and the best weights, checkpoint, log."""
        state = self.state
        improved = False
        if self.is_main:
            if self.val_data is not None and len(self.val_data):
                batch = 2 * int(self.config.batch_size or 0)
                row.update(
                    validate(
                        self.evaluated,
                        self.val_data,
                        self.mean,
                        self.std,
                        self.device,
                        batch,
                        self.amp_dtype,
                    )
                )
                score, best = row["val_score"], state["best_score"]
                improved = math.isfinite(score) and (best is None or score > best + 1e-4)
            else:
                improved = True  # no validation split: the latest epoch is the best we know
        improved = agree(improved, self.world_size, self.device)
        state["epoch"] = row["epoch"]
        if improved:
            state["best_score"] = finite_or_none(row.get("val_score", math.nan))
            state["best_epoch"] = row["epoch"]
            state["bad_epochs"] = 0
            self.best = {
                k: v.detach().cpu().clone() for k, v in self.evaluated.state_dict().items()
            }
        else:
            state["bad_epochs"] += 1
        row["seconds"] = time.monotonic() - t0
        row["best"] = improved
        state["history"].append(
            {k: finite_or_none(v) if isinstance(v, float) else v for k, v in row.items()}
        )
        self._checkpoint()
        if self.is_main:
            write_log(self.out / "train_log.csv", state["history"])
            plot_curves(self.out / "training_curves.png", state["history"], self.tasks)
            shown = {
                k: round(v, 4)
                for k, v in row.items()
                if isinstance(v, float) and k.startswith(("loss", "val_"))
            }
            print(
                f"epoch {row['epoch']}/{self.config.epochs} {row['seconds']:.0f}s "
                f"{row['images_per_s']:.1f} img/s {shown}",
                flush=True,
            )

    def _checkpoint(self) -> None:
        empty = torch.zeros(0, dtype=torch.uint8)
        rngs = [rng_state(self.augmenter.state() if self.augmenter is not None else empty)]
        if self.world_size > 1:
            gathered: list[Any] = [None] * self.world_size
            dist.all_gather_object(gathered, rngs[0])
            rngs = gathered
        if self.is_main:
            extra = {
                "optimizer": self.optimizer.state_dict(),
                "gradnorm": self.gradnorm.state_dict(),
                "gradnorm_optimizer": self.gradnorm.optimizer.state_dict(),
                "rng": rngs,
            }
            if self.average is not None:
                extra["weight_average"] = self.average.state_dict()
            save_checkpoint(
                self.out / "checkpoint", self.model.state_dict(), self.best, extra, self.state
            )

    def _finish(self, stopped: str) -> Path:
        state = self.state
        if self.world_size > 1:
            # DDP keeps the replicas identical; check it rather than trust it.
            flat = torch.cat([p.detach().flatten() for p in self.model.parameters()]).double()
            sums: list[Any] = [None] * self.world_size
            dist.all_gather_object(sums, [float(flat.sum()), float(flat.abs().sum())])
            state["ddp"] = {
                "world_size": self.world_size,
                "replicas_identical": all(s == sums[0] for s in sums),
            }
        path = self.out / BUNDLE_NAME
        if not self.is_main:
            return path
        state["stopped"] = stopped
        if stopped == "time_budget":
            # Said plainly at the end, not only when the schedule was planned: a budget that cut
            # the schedule short may leave the model well below what the full schedule gives.
            print(
                f"time budget: trained {state['epoch']} of {self.config.epochs} epochs in "
                f"{self.config.max_minutes:g} minutes; the model may fall short of the full "
                "schedule's: rerun with --max-minutes 0 (or a larger budget) for all of them",
                flush=True,
            )
        keys = ("epoch", "step", "stopped", "best_epoch", "best_score", "ddp")
        write_text_atomic(
            self.out / "run.json", json.dumps({k: state.get(k) for k in keys}, indent=1)
        )
        final = SUNet(self.config.arch)
        final.load_state_dict(self.best if self.best is not None else self.evaluated.state_dict())
        final.to(self.device)
        profile = fit_feature_profile(
            final, self.train_data, self.val_data, self.mean, self.std, self.device,
            2 * int(self.config.batch_size or 1),
        )  # fmt: skip
        save_bundle(path, final.cpu(), self._meta(stopped), profile)
        return path

    def _meta(self, stopped: str) -> BundleMeta:
        config, state, store = self.config, self.state, self.store
        weights = self.gradnorm.weights.detach().cpu().tolist()
        training = {
            "epochs": state["epoch"],
            "steps": state["step"],
            "best_epoch": state["best_epoch"],
            "best_val_score": state["best_score"],
            "stopped": stopped,
            "epochs_planned": config.epochs,
            "loss_weights": config.loss_weights,
            "gradnorm": {
                "alpha": config.gradnorm_alpha,
                "layer": config.gradnorm_layer,
                "every": config.gradnorm_every,
            },
            "weight_average": config.weight_average,
            "pure_stream": config.pure_stream,
            "abundances_on_pure": config.abundances_on_pure,
            "task_weights": dict(zip(self.tasks, weights, strict=True)),
            "patches": str(Path(config.patches).resolve()),
            "train_patches": len(self.train_data),
            "replay": (
                {"store": str(self.config.replay), "patches": self.replayed}
                if self.config.replay is not None
                else None
            ),
            "train_splits": list(config.train_splits or ["train"]),
            "val_patches": len(self.val_data) if self.val_data is not None else 0,
            "batch_size": config.batch_size,
            "lr": config.lr,
            "num_processes": self.world_size,
            "pretrained": state.get("pretrained"),
            "seed": config.seed,
            "appearance": config.appearance if config.augment else None,
            "init_from": self._init_record(),
            "freeze_backbone_stages": config.freeze_backbone_stages,
        }
        return BundleMeta(
            preset=config.preset,
            model=config.arch,
            mean=self.mean,
            std=self.std,
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


def check_fine_tune(init: Bundle, store: PatchStore) -> None:
    """Refuse to fine-tune a bundle on a store it cannot read the same way it was trained."""
    meta, problems = init.meta, []
    if list(meta.bands) != list(store.bands):
        problems.append(f"bands {meta.bands} vs the store's {store.bands}")
    elif meta.source_bands is not None and list(meta.source_bands) != store.source_bands:
        problems.append(
            f"scene bands {meta.source_bands} vs the store's {store.source_bands} (--bands)"
        )
    if meta.patch_size != store.patch_size:
        problems.append(f"patch size {meta.patch_size} vs the store's {store.patch_size} px")
    if not math.isclose(meta.gsd, store.gsd, rel_tol=1e-6):
        problems.append(f"GSD {meta.gsd:g} vs the store's {store.gsd:g} m")
    if meta.radiometry != store.radiometry:
        problems.append(
            f"radiometry {meta.radiometry.model_dump()} vs the store's "
            f"{store.radiometry.model_dump()} (tile with the same --stretch/--scale-range)"
        )
    if problems:
        raise ValueError(f"{init.path}: cannot fine-tune on {store.path}: {'; '.join(problems)}")


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
            dist.init_process_group(backend_for(_device(config, local)))
        return _run(config, dist.get_rank(), dist.get_world_size())
    if config.num_processes > 1:
        index = config.patches / INDEX_NAME
        if not index.is_file():
            raise FileNotFoundError(f"{index}: not found; not a complete patch store")
        check_run_folder(config)  # fail here rather than inside every worker
        spawn(_run, (config,), config.num_processes, backend_for(_device(config, 0)))
        return config.out / BUNDLE_NAME
    return _run(config, 0, 1)
