"""Training: the patch-store reader, mixed batches, augmentation, losses, the trainer (outputs,
exact resume, ablations, time budget), the CLI and data-parallel training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from fake_patch_store import write_patch_store
from safetensors.torch import load_file
from tiny_model import TINY

from sunet.bundle import Predictor, load_bundle
from sunet.cli import main
from sunet.patch_store import PatchStore
from sunet.training import MixedBatchSampler, TrainConfig, load_split, train
from sunet.training.augment import Augmenter
from sunet.training.losses import abundance_loss, psc_loss, reconstruction_loss
from sunet.training.schedule import learning_rate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_patch_store(tmp_path_factory.mktemp("store") / "patches", n=48, patch=64)


def _config(store: Path, out: Path, **kw: object) -> TrainConfig:
    fields: dict[str, object] = {
        "patches": store,
        "out": out,
        "model": TINY,
        "epochs": 2,
        "batch_size": 8,
        "progress": False,
        "num_threads": 1,
    }
    fields.update(kw)
    return TrainConfig(**fields)  # type: ignore[arg-type]


# ------------------------------------------------------------------ data


def test_store_reads_patches_in_the_requested_order(store: Path) -> None:
    ps = PatchStore(store)
    assert (ps.patch_size, ps.gsd, ps.crs) == (64, 1.0, "EPSG:32650")
    assert ps.bands == ["red", "green", "blue"]
    # Unsorted, with a run of consecutive patches (3, 4, 5 read as one slice) and a repeat.
    picked = np.array([7, 2, 30, 4, 3, 5, 2])
    images = ps.read(picked)
    assert images.shape == (7, 3, 64, 64) and images.dtype == np.uint8
    for i, k in enumerate(picked):
        np.testing.assert_array_equal(images[i], np.asarray(ps.images[int(k)]))
    assert not np.array_equal(images[0], images[1])
    assert ps.hash().startswith("sha256:")


def test_store_errors_name_the_file(tmp_path: Path, store: Path) -> None:
    with pytest.raises(FileNotFoundError, match="index.parquet"):
        PatchStore(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.read_parquet(store / "index.parquet").drop(columns=["kind"]).to_parquet(
        bad / "index.parquet"
    )
    with pytest.raises(ValueError, match=r"index.parquet: missing column\(s\) kind"):
        PatchStore(bad)


def test_split_cache_equals_reading_per_batch(store: Path) -> None:
    ps = PatchStore(store)
    cached = load_split(ps, "train", 32, cache_max_bytes=2e9)
    streamed = load_split(ps, "train", 32, cache_max_bytes=0)
    assert cached.cached is not None and streamed.cached is None
    rows = np.array([0, 5, 3])
    torch.testing.assert_close(cached.images(rows), streamed.images(rows))
    assert cached.images(rows).shape == (3, 3, 32, 32)
    expected = (ps.index[ps.index["split"] == "train"]["kind"] == "pure").to_numpy()
    np.testing.assert_array_equal(cached.pure, expected)
    np.testing.assert_allclose(cached.abundances.sum(1), 1.0, rtol=1e-6)


def test_batches_keep_the_pure_share_and_split_across_ranks() -> None:
    pure = np.array([True] * 10 + [False] * 20)
    one = MixedBatchSampler(pure, batch_size=6, pure_fraction=1 / 3, seed=3)
    batches = one.batches(epoch=0)
    assert len(batches) == 5
    for b in batches:
        assert len(b) == 6 and int(pure[b].sum()) == 2
    # Deterministic per (seed, epoch), different between epochs.
    assert all(np.array_equal(a, b) for a, b in zip(batches, one.batches(0), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, one.batches(1), strict=True))
    # Two ranks together see exactly the single-process batch, each with pure and mixed.
    ranks = [MixedBatchSampler(pure, 6, 1 / 3, seed=3, rank=r, world_size=2) for r in (0, 1)]
    for b, r0, r1 in zip(batches, ranks[0].batches(0), ranks[1].batches(0), strict=True):
        assert sorted(np.concatenate([r0, r1])) == sorted(b)
        assert int(pure[r0].sum()) == int(pure[r1].sum()) == 1


def test_augmentation_is_a_d4_transform_with_mild_jitter() -> None:
    images = torch.randint(1, 255, (16, 3, 8, 8), dtype=torch.uint8)
    exact = Augmenter(seed=1, appearance="mild", brightness=0, contrast=0, band_gain=0)
    out = exact(images)
    assert out.dtype == torch.float32 and out.shape == images.shape
    views = {
        tuple(torch.rot90(img.flip(-1) if f else img, k, (-2, -1)).flatten().tolist())
        for img in images[:1].float()
        for k in range(4)
        for f in range(2)
    }
    assert tuple(out[0].flatten().tolist()) in views
    assert not torch.equal(out, images.float())  # something was transformed
    jitter = Augmenter(seed=1, appearance="mild")(images)
    ratio = jitter.mean() / images.float().mean()
    assert 0.8 < float(ratio) < 1.2
    # Saved state replays the same draws (resume relies on it).
    a = Augmenter(seed=5, appearance="mild")
    state = a.state()
    first = a(images)
    a.load_state(state)
    torch.testing.assert_close(a(images), first)


def test_losses() -> None:
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    target = torch.tensor([0, 2])
    select = torch.tensor([True, False])
    torch.testing.assert_close(psc_loss(probs, target, select), -torch.log(torch.tensor(0.7)))
    assert float(abundance_loss(probs, probs, torch.tensor([True, True]))) == pytest.approx(
        0, abs=1e-6
    )
    assert float(abundance_loss(probs, probs.flip(0), torch.tensor([True, True]))) > 0.5
    empty = psc_loss(probs.requires_grad_(), target, torch.tensor([False, False]))
    assert float(empty.detach()) == 0.0 and empty.requires_grad
    torch.testing.assert_close(
        reconstruction_loss(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)), torch.tensor(1.0)
    )


# ------------------------------------------------------------------ trainer


def test_learning_rate_warms_up_then_follows_a_half_cosine() -> None:
    lrs = [learning_rate(s, 1.0, 10, 110, "cosine", 0.01) for s in range(130)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.01 + 0.99 * 0.5)  # half-way through the decay
    assert lrs[110] == pytest.approx(0.01) and lrs[129] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert [learning_rate(s, 1.0, 10, 110, "constant", 0.01) for s in (9, 60, 129)] == [1.0] * 3


def test_train_writes_bundle_logs_curves_and_config(store: Path, tmp_path: Path) -> None:
    bundle_path = train(_config(store, tmp_path / "run"))
    run = tmp_path / "run"
    assert bundle_path == run / "model.safetensors"
    log = pd.read_csv(run / "train_log.csv")
    assert list(log["epoch"]) == [1, 2]
    for col in (
        "loss_psc",
        "loss_abundance",
        "loss_reconstruction",
        "weight_psc",
        "val_oa",
        "val_mae",
    ):
        assert log[col].notna().all(), col
    np.testing.assert_allclose(
        log[["weight_psc", "weight_abundance", "weight_reconstruction"]].sum(axis=1), 3.0, rtol=1e-5
    )
    assert (run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((run / "config.json").read_text())
    assert saved["lr"] == 2e-3 and saved["model"]["embed_dim"] == 16  # resolved values
    bundle = load_bundle(bundle_path)
    assert bundle.meta.training["best_epoch"] in (1, 2)
    assert bundle.meta.index_hash == PatchStore(store).hash()
    assert len(bundle.meta.mean) == 3 and all(s > 1 for s in bundle.meta.std)
    # The bundle holds the best epoch's weights, as recorded in the checkpoint.
    best = load_file(str(run / "checkpoint" / "best.safetensors"))
    for k, v in bundle.model.state_dict().items():
        torch.testing.assert_close(v, best[k])


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight_average": 0.9, "gradnorm_layer": "first-stage", "gradnorm_every": 2},
    ],
    ids=["default", "averaged-first-stage"],
)
def test_two_epochs_equal_one_epoch_plus_resume(
    store: Path, tmp_path: Path, options: dict[str, object]
) -> None:
    train(_config(store, tmp_path / "straight", epochs=2, **options))
    train(_config(store, tmp_path / "split", epochs=1, **options))
    train(_config(store, tmp_path / "split", epochs=2, resume=True, **options))
    for name in ("last.safetensors", "best.safetensors"):
        a = load_file(str(tmp_path / "straight" / "checkpoint" / name))
        b = load_file(str(tmp_path / "split" / "checkpoint" / name))
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    if options:  # the bundle keeps the running average, not the last weights
        bundle = load_bundle(tmp_path / "split" / "model.safetensors")
        last = load_file(str(tmp_path / "split" / "checkpoint" / "last.safetensors"))
        key = "abundance_head.fc.weight"
        assert not torch.allclose(bundle.model.state_dict()[key], last[key])
        assert bundle.meta.training["weight_average"] == 0.9
    la = pd.read_csv(tmp_path / "straight" / "train_log.csv")
    lb = pd.read_csv(tmp_path / "split" / "train_log.csv")
    cols = ["loss_psc", "loss_abundance", "weight_psc", "val_score"]
    np.testing.assert_allclose(la[cols].to_numpy(), lb[cols].to_numpy(), rtol=1e-5)


def test_run_folder_is_protected(store: Path, tmp_path: Path) -> None:
    train(_config(store, tmp_path / "run", epochs=1))
    with pytest.raises(ValueError, match="already holds a training run"):
        train(_config(store, tmp_path / "run", epochs=1))
    with pytest.raises(ValueError, match=r"changed configuration \(lr\)"):
        train(_config(store, tmp_path / "run", epochs=2, lr=0.1, resume=True))
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        train(_config(store, tmp_path / "other", resume=True))
    # A run saved before the GradNorm layer was configurable trained at the final norm, every
    # step: resuming it under today's defaults is a change, not a silent switch.
    saved = tmp_path / "run" / "config.json"
    fields = json.loads(saved.read_text())
    for name in ("gradnorm_layer", "gradnorm_every", "weight_average", "abundances_on_pure"):
        del fields[name]
    saved.write_text(json.dumps(fields))
    with pytest.raises(
        ValueError, match=r"changed configuration \(gradnorm_every, gradnorm_layer\)"
    ):
        train(_config(store, tmp_path / "run", epochs=2, resume=True))
    train(
        _config(
            store, tmp_path / "run", epochs=2, resume=True,
            gradnorm_layer="final-norm", gradnorm_every=1,
        )
    )  # fmt: skip


def test_ablation_without_pure_stream_and_fixed_weights(store: Path, tmp_path: Path) -> None:
    path = train(
        _config(store, tmp_path / "msu", epochs=1, pure_stream=False, loss_weights="fixed")
    )
    log = pd.read_csv(tmp_path / "msu" / "train_log.csv")
    assert "loss_psc" not in log
    assert (
        float(log["weight_abundance"].iloc[0]) == 1.0 == float(log["weight_reconstruction"].iloc[0])
    )
    predictor = Predictor(path)
    images = PatchStore(store).read(np.arange(4))
    abundances = predictor.predict_abundances(images)
    np.testing.assert_allclose(abundances.sum(1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="no PSC stream"):
        predictor.predict_classes(images)


def test_time_budget_stops_after_a_complete_epoch(store: Path, tmp_path: Path) -> None:
    path = train(_config(store, tmp_path / "run", epochs=50, max_minutes=1e-4))
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["stopped"] == "time_budget" and run["epoch"] == 1
    assert load_bundle(path).meta.training["stopped"] == "time_budget"
    # The budget holds one epoch: the schedule was made to end there, and is kept on resume.
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["horizon"] == {"epochs": 1, "configured": 50}


def test_cosine_schedule_ends_at_the_last_epoch(store: Path, tmp_path: Path) -> None:
    train(_config(store, tmp_path / "run", epochs=3, max_minutes=0, warmup_steps=2, lr=1e-3))
    log = pd.read_csv(tmp_path / "run" / "train_log.csv")
    steps = int(log["step"].iloc[-1])  # the schedule spans exactly the run's steps
    assert log["lr"].is_monotonic_decreasing
    assert log["lr"].iloc[-1] == pytest.approx(
        learning_rate(steps - 1, 1e-3, 2, steps, "cosine", 0.01)
    )
    assert log["lr"].iloc[-1] < 1e-4


def test_training_learns_the_toy_classes(store: Path, tmp_path: Path) -> None:
    # Each class has its own colour in the fixture: a few epochs must beat chance clearly (with
    # the mild augmentation: the look-spanning one turns hues, which is what the toy's classes are).
    train(_config(store, tmp_path / "run", epochs=6, lr=3e-3, warmup_steps=5, appearance="mild"))
    log = pd.read_csv(tmp_path / "run" / "train_log.csv")
    first, last = log.iloc[0], log.iloc[-1]
    assert last["loss_psc"] < 0.7 * first["loss_psc"]
    assert last["loss_abundance"] < 0.7 * first["loss_abundance"]
    assert last["loss_reconstruction"] < first["loss_reconstruction"]


def test_cli_train(store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["train", "--patches", str(store), "--out", str(out), "--epochs", "1", "--threads", "1"]
    assert main([*args, "--batch-size", "8", "--no-progress"]) == 0
    assert "model bundle:" in capsys.readouterr().out
    assert load_bundle(out / "model.safetensors").meta.preset == "cpu-small"
    assert main(["train", "--patches", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "index.parquet" in err[0]


@pytest.mark.slow
def test_data_parallel_training_on_two_cpu_processes(store: Path, tmp_path: Path) -> None:
    path = train(_config(store, tmp_path / "ddp", epochs=2, num_processes=2))
    run = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert run["ddp"] == {"world_size": 2, "replicas_identical": True}
    assert run["epoch"] == 2
    bundle = load_bundle(path)
    assert bundle.meta.training["num_processes"] == 2
    log = pd.read_csv(tmp_path / "ddp" / "train_log.csv")
    assert log["loss_psc"].notna().all() and log["val_oa"].notna().all()


def test_uncached_split_trains_like_the_cached_one(store: Path, tmp_path: Path) -> None:
    # A split over the cache budget is read from the store one batch ahead, in a thread.
    train(_config(store, tmp_path / "cached", epochs=1))
    train(_config(store, tmp_path / "streamed", epochs=1, cache_max_gb=0.0))
    a = load_file(str(tmp_path / "cached" / "checkpoint" / "last.safetensors"))
    b = load_file(str(tmp_path / "streamed" / "checkpoint" / "last.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)


def test_training_starts_from_pretrained_weights(store: Path, tmp_path: Path) -> None:
    torch.manual_seed(7)
    timm_model = timm.create_model(
        "swinv2_tiny_window8_256", pretrained=False, **TINY.timm_kwargs()
    )
    weights = tmp_path / "imagenet.pth"
    torch.save(timm_model.state_dict(), weights)
    path = train(_config(store, tmp_path / "run", epochs=1, pretrained=weights))
    note = load_bundle(path).meta.training["pretrained"]
    assert note.startswith("imagenet.pth: loaded") and "0 missing" in note
    bad = tmp_path / "bad.pth"
    bad.write_text("not weights")
    with pytest.raises(ValueError, match="bad.pth"):
        train(_config(store, tmp_path / "run2", epochs=1, pretrained=bad))


def test_weight_average_follows_its_recurrence() -> None:
    from sunet.training.ema import WeightAverage

    layer = torch.nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    average = WeightAverage(layer, decay=0.5)
    expected = 0.0
    for step in range(4):
        with torch.no_grad():
            layer.weight.fill_(float(step + 1))
        d = min(0.5, (1 + step) / (10 + step))  # warm-up: 0.1, 0.18, 0.25, 0.31 ... then 0.5
        expected = d * expected + (1 - d) * (step + 1)
        average.update()
        assert float(average.model.weight[0, 0]) == pytest.approx(expected)
    assert layer.weight.requires_grad and not average.model.weight.requires_grad
    again = WeightAverage(layer, decay=0.5)
    again.load_state_dict(average.state_dict())
    assert again.steps == 4 and torch.equal(again.model.weight, average.model.weight)
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(layer, decay=1.0)
