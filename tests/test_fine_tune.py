"""Fine-tuning from a bundle (``lcz-map train --init-from``) and the look-spanning augmentation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import zarr
from fake_patch_store import write_patch_store
from tiny_model import TINY

from sunet.bundle import Predictor, load_bundle, save_bundle
from sunet.cli import main
from sunet.geo.raster import Radiometry
from sunet.hashing import file_hash
from sunet.training import TrainConfig, train
from sunet.training.augment import Augmenter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A store and a bundle trained on it for two epochs."""
    root = tmp_path_factory.mktemp("fine")
    store = write_patch_store(root / "patches", n=48, patch=64)
    bundle = train(
        TrainConfig(
            patches=store,
            out=root / "base",
            model=TINY,
            epochs=2,
            batch_size=8,
            progress=False,
            num_threads=1,
        )  # fmt: skip
    )
    return store, bundle


def test_fine_tuning_starts_from_the_bundle_and_records_it(
    base: tuple[Path, Path], tmp_path: Path
) -> None:
    store, bundle = base
    new_store = write_patch_store(tmp_path / "new", n=24, patch=64, seed=3)
    config = TrainConfig(patches=new_store, out=tmp_path / "ft", init_from=bundle,
                         batch_size=8, fine_tune_steps=6, progress=False, num_threads=1)  # fmt: skip
    assert config.arch == TINY and config.lr == pytest.approx(2e-3 * 0.25)
    assert config.max_minutes == 5.0
    path = train(config)
    tuned, start = load_bundle(path), load_bundle(bundle)
    # Normalisation comes from the bundle, not from the new store.
    assert tuned.meta.mean == start.meta.mean and tuned.meta.std == start.meta.std
    record = tuned.meta.training["init_from"]
    assert record["sha256"] == file_hash(bundle, tagged=True)
    assert record["index_hash"] == start.meta.index_hash
    assert tuned.meta.index_hash != start.meta.index_hash
    # A few new labels are too precious to hold back: every split trains, the last epoch is kept.
    assert tuned.meta.training["train_splits"] == ["train", "val", "test"]
    # The bundle's own store is still in place: its train patches are replayed alongside, up to
    # two per new patch (the base store's train split holds fewer here: all of them).
    replay = tuned.meta.training["replay"]
    assert replay["store"] == str(store.resolve()) and 0 < replay["patches"] <= 48
    assert tuned.meta.training["train_patches"] == 24 + replay["patches"]
    assert tuned.meta.training["best_epoch"] == tuned.meta.training["epochs"]
    # The schedule is counted in steps: 6 steps of batches of 8.
    batches = tuned.meta.training["train_patches"] // 8  # new and replayed patches
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert saved["epochs"] == tuned.meta.training["epochs"] == -(-6 // batches)
    assert tuned.meta.training["steps"] == saved["epochs"] * batches
    changed = [
        k for k, v in tuned.model.state_dict().items()
        if not torch.equal(v, start.model.state_dict()[k])
    ]  # fmt: skip
    assert changed  # it learned

    # GradNorm goes on from the bundle's task weights, not from equal ones.
    ended = {"psc": 0.2, "abundance": 0.3, "reconstruction": 2.5}
    meta = start.meta.model_copy(
        update={"training": {**start.meta.training, "task_weights": ended}}
    )
    weighted = save_bundle(tmp_path / "weighted.safetensors", start.model, meta, start.profile)
    train(config.model_copy(update={"init_from": weighted, "out": tmp_path / "ft2"}))
    first = pd.read_csv(tmp_path / "ft2" / "train_log.csv").iloc[0]
    for task, weight in ended.items():
        assert first[f"weight_{task}"] == pytest.approx(weight, abs=0.05)


def test_frozen_stages_keep_the_bundle_weights(base: tuple[Path, Path], tmp_path: Path) -> None:
    store, bundle = base
    path = train(
        TrainConfig(
            patches=store,
            out=tmp_path / "ft",
            init_from=bundle,
            batch_size=8,
            fine_tune_steps=4,
            freeze_backbone_stages=2,
            loss_weights="fixed",
            progress=False,
            num_threads=1,
        )  # fmt: skip
    )
    tuned, start = load_bundle(path).model.state_dict(), load_bundle(bundle).model.state_dict()
    for k, v in tuned.items():
        fixed = k.startswith(("backbone.body.patch_embed", "backbone.body.layers_0",
                              "backbone.body.layers_1"))  # fmt: skip
        if fixed:
            assert torch.equal(v, start[k]), k
    assert not torch.equal(tuned["backbone.body.layers_3.blocks.0.mlp.fc1.weight"],
                           start["backbone.body.layers_3.blocks.0.mlp.fc1.weight"])  # fmt: skip


def test_replay_mixes_the_bundle_training_patches_in(
    base: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, bundle = base
    new_store = write_patch_store(tmp_path / "new", n=10, patch=64, seed=3)
    config = TrainConfig(patches=new_store, out=tmp_path / "ft", init_from=bundle, replay=store,
                         replay_ratio=1.5, batch_size=8, fine_tune_steps=3, progress=False,
                         num_threads=1)  # fmt: skip
    meta = load_bundle(train(config)).meta
    replayed = round(1.5 * 10)  # of the base store's train split, which holds more
    assert meta.training["replay"] == {"store": str(store), "patches": replayed}
    assert meta.training["train_patches"] == 10 + replayed
    # The replay store must read like the bundle's own data; replay needs a bundle.
    other = write_patch_store(tmp_path / "other", n=24, patch=32)
    code = main(["train", "--patches", str(new_store), "--out", str(tmp_path / "x"),
                 "--init-from", str(bundle), "--replay", str(other), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"cannot fine-tune on {other}: patch size 64 vs the store's 32 px" in err
    # By default the bundle's own store (still in place) is replayed; null turns it off.
    assert TrainConfig(patches=new_store, out=tmp_path / "d", init_from=bundle).replay == store
    none = TrainConfig(patches=new_store, out=tmp_path / "d", init_from=bundle, replay=None)
    assert none.replay is None
    with pytest.raises(ValueError, match="replay needs init_from"):
        TrainConfig(patches=store, out=tmp_path / "y", replay=store)


def test_a_bundle_that_cannot_read_the_store_is_refused(
    base: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, bundle = base
    other = write_patch_store(tmp_path / "other", n=24, patch=32)
    group = zarr.open_group(str(other / "patches.zarr"), mode="r+")
    group.attrs["radiometry"] = {"stretch": "all", "scale_range": None}
    code = main(["train", "--patches", str(other), "--out", str(tmp_path / "x"),
                 "--init-from", str(bundle), "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert f"{bundle}: cannot fine-tune on {other}: patch size 64 vs the store's 32 px" in err
    assert "radiometry" in err
    assert not (tmp_path / "x" / "model.safetensors").exists()
    with pytest.raises(ValueError, match="fine-tuning keeps its preset"):
        TrainConfig(patches=store, out=tmp_path / "y", init_from=bundle, preset="paper")
    with pytest.raises(ValueError, match="GradNorm measures at the first stage"):
        TrainConfig(patches=store, out=tmp_path / "y", init_from=bundle, freeze_backbone_stages=1)
    with pytest.raises(ValueError, match="needs init_from"):
        TrainConfig(patches=store, out=tmp_path / "y", freeze_backbone_stages=1)


def test_looks_augmentation_spans_other_radiometry_and_stays_reproducible() -> None:
    torch.manual_seed(0)
    images = (torch.rand(32, 3, 32, 32) * 120 + 60).to(torch.uint8)
    mild, looks = Augmenter(1, appearance="mild")(images), Augmenter(1, appearance="looks")(images)
    assert looks.shape == images.shape and looks.dtype == torch.float32
    assert float(looks.min()) >= 0 and float(looks.max()) <= 255

    def spread(x: torch.Tensor) -> float:
        """How much the patches' mean colours differ from the originals'."""
        return float((x.mean(dim=(2, 3)) - images.float().mean(dim=(2, 3))).abs().mean())

    assert spread(looks) > 2 * spread(mild)
    a = Augmenter(5, appearance="looks")
    state = a.state()
    first = a(images)
    a.load_state(state)
    torch.testing.assert_close(a(images), first)
    with pytest.raises(ValueError, match="appearance must be one of"):
        Augmenter(1, appearance="sepia")  # type: ignore[arg-type]


def test_the_bundle_carries_the_store_radiometry_to_mapping(tmp_path: Path) -> None:
    store = write_patch_store(tmp_path / "patches", n=24, patch=64)
    group = zarr.open_group(str(store / "patches.zarr"), mode="r+")
    group.attrs["radiometry"] = {"stretch": "all", "scale_range": None}
    path = train(TrainConfig(patches=store, out=tmp_path / "run", model=TINY, epochs=1,
                             batch_size=8, progress=False, num_threads=1))  # fmt: skip
    predictor = Predictor(path)
    assert predictor.radiometry == Radiometry(stretch="all")
    # Every trained bundle carries its training features' profile for novelty scores.
    assert predictor.profile is not None
    assert set(predictor.meta.novelty or {}) >= {"features_median", "colours_median"}


def test_batches_follow_a_mostly_pure_store_and_fine_tuning_keeps_the_abundance_training(
    base: tuple[Path, Path], tmp_path: Path
) -> None:
    import pandas as pd

    store, bundle = base
    assert (
        TrainConfig(patches=store, out=tmp_path / "a", init_from=bundle).abundances_on_pure is False
    )
    aop = train(TrainConfig(patches=store, out=tmp_path / "aop", model=TINY, epochs=1,
                            batch_size=8, abundances_on_pure=True, progress=False,
                            num_threads=1))  # fmt: skip
    assert TrainConfig(patches=store, out=tmp_path / "b", init_from=aop).abundances_on_pure is True
    explicit = TrainConfig(patches=store, out=tmp_path / "c", init_from=aop,
                           abundances_on_pure=False)  # fmt: skip
    assert explicit.abundances_on_pure is False
    # Few polygons of a new city: mostly pure patches. Batches follow the store's share.
    sparse = write_patch_store(tmp_path / "sparse", n=48, patch=64)
    index = pd.read_parquet(sparse / "index.parquet")
    index.loc[index.index[: int(0.8 * len(index))], "kind"] = "pure"
    index.to_parquet(sparse / "index.parquet")
    train(TrainConfig(patches=sparse, out=tmp_path / "s", model=TINY, epochs=1, batch_size=8,
                      progress=False, num_threads=1))  # fmt: skip
    saved = json.loads((tmp_path / "s" / "config.json").read_text())
    share = float((index[index["split"] == "train"]["kind"] == "pure").mean())
    assert share > 1 / 3 and saved["pure_fraction"] == pytest.approx(min(share, 0.95))
    train(TrainConfig(patches=store, out=tmp_path / "d", model=TINY, epochs=1, batch_size=8,
                      progress=False, num_threads=1))  # fmt: skip
    assert json.loads((tmp_path / "d" / "config.json").read_text())["pure_fraction"] == 1 / 3
