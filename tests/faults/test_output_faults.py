"""One writer per output, reruns that never look complete when they are not, and one line for
every fault on an output path."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sunet.cli import main
from sunet.locks import FolderBusyError, hold, lock_path

_HOLDER = """
import sys, time
from sunet.locks import hold
with hold(sys.argv[1]):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold_elsewhere(folder: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder), str(seconds)],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_told_who_holds_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "maps"
    proc = _hold_elsewhere(out, 30)
    try:
        with pytest.raises(FolderBusyError) as err:
            with hold(out):
                pass
        message = str(err.value)
        assert message.startswith(f"{out}: being written by pid {proc.pid} (")
        assert "--wait" in message and "\n" not in message
    finally:
        proc.kill()
        proc.wait()
    # The lock died with its process (kill -9 included): the folder is free at once.
    with hold(out):
        pass
    assert not lock_path(out).exists()  # and no lock file is left behind


def test_wait_takes_the_folder_when_the_holder_is_done(tmp_path: Path) -> None:
    out = tmp_path / "store"
    proc = _hold_elsewhere(out, 1.5)
    t0 = time.monotonic()
    with hold(out, wait=True):
        waited = time.monotonic() - t0
    proc.wait()
    assert waited > 0.5


def test_cli_writers_refuse_a_busy_output_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import geopandas as gpd
    import shapely
    from mapping_fixtures import LEFT, TOP, split_scene

    scene = split_scene(tmp_path / "scene.tif", 2, 17, size=128)
    box = shapely.box(LEFT, TOP - 128, LEFT + 128, TOP)
    gpd.GeoDataFrame({"lcz": ["2"]}, geometry=[box], crs=32650).to_file(tmp_path / "l.gpkg")
    out = tmp_path / "patches"
    proc = _hold_elsewhere(out, 30)
    try:
        code = main(["tile", "--scenes", str(scene), "--labels", str(tmp_path / "l.gpkg"),
                     "--out", str(out), "--patch", "32"])  # fmt: skip
    finally:
        proc.kill()
        proc.wait()
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"lcz-map tile: error: {out}: being written by pid {proc.pid}")


def test_map_rerun_is_not_complete_until_it_is(tmp_path: Path) -> None:
    from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, split_scene, write_districts

    from sunet.mapping import MapConfig, map_districts

    scene = split_scene(tmp_path / "scene.tif", 2, 17, size=256)
    districts = write_districts(tmp_path / "d.gpkg", {"A": (LEFT + 32, TOP - 224, LEFT + 224,
                                                            TOP - 32)})  # fmt: skip
    config = MapConfig(scenes=[scene], districts=districts, out=tmp_path / "out", progress=False,
                       novelty_windows=0)  # fmt: skip
    palette = {2: lcz_rgb(2), 17: lcz_rgb(17)}
    map_districts(config, ColourPredictor(palette))
    assert json.loads((tmp_path / "out" / "config.json").read_text())["config"]["stride"] == 16

    class Dies(ColourPredictor):
        def predict_abundances(self, images):  # type: ignore[no-untyped-def]
            raise OSError(errno.EIO, "killed")

    # A rerun with other options that dies part-way: the folder no longer claims to be complete
    # (before, the old config.json stayed beside a mix of old and new areas).
    with pytest.raises(OSError):
        map_districts(config.model_copy(update={"stride": 8}), Dies(palette))
    assert not (tmp_path / "out" / "config.json").exists()


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("file", "taken: is a file, where a folder is needed"),
        ("enospc", "no space left on device"),
        ("erofs", "read-only file system"),
    ],
)
def test_output_path_faults_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    expected: str,
) -> None:
    out = tmp_path / "city"
    if setup == "file":
        (tmp_path / "taken").write_text("a file where the output's parent should be")
        out = tmp_path / "taken" / "city"
    else:
        import sunet.synth.city as city

        code = errno.ENOSPC if setup == "enospc" else errno.EROFS

        def fail(*a: object, **k: object) -> None:
            raise OSError(code, "injected", str(out / "scenes" / "scene_000_000.tif"))

        monkeypatch.setattr(city, "generate_city", fail)
    status = main(["synth", "--out", str(out), "--scenes", "1", "--size", "256", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("lcz-map synth: error: ") and expected in err


def test_a_store_without_pure_patches_is_refused_at_train(tmp_path: Path) -> None:
    import pandas as pd
    from fake_patch_store import write_patch_store
    from tiny_model import TINY

    from sunet.training import TrainConfig, train

    store = write_patch_store(tmp_path / "patches", n=24, patch=64)
    index = pd.read_parquet(store / "index.parquet")
    index["kind"] = "mixed"
    index.to_parquet(store / "index.parquet")
    config = TrainConfig(patches=store, out=tmp_path / "run", model=TINY, epochs=1,
                         batch_size=8, progress=False, num_threads=1)  # fmt: skip
    with pytest.raises(ValueError, match="no pure patch in the train split"):
        train(config)
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_resume_finds_a_checkpoint_left_between_two_renames(tmp_path: Path) -> None:
    import shutil

    import torch

    from sunet.training.checkpoint import load_checkpoint, save_checkpoint

    folder = tmp_path / "run" / "checkpoint"
    weights = {"w": torch.zeros(2)}
    save_checkpoint(folder, weights, None, {"opt": torch.ones(1)}, {"step": 10, "epoch": 1})
    # A kill after the old checkpoint was moved aside and before the new one took its place.
    shutil.copytree(folder, folder.with_name(".tmp-1a2b3c4d-checkpoint"))
    (folder.with_name(".tmp-1a2b3c4d-checkpoint") / "state.json").write_text(
        json.dumps({"step": 20, "epoch": 2})
    )
    folder.rename(folder.with_name(".old-5e6f7a8b-checkpoint"))
    assert load_checkpoint(folder).state["step"] == 20  # the newest complete one
    assert (folder / "state.json").is_file()


def test_a_run_folder_moved_elsewhere_still_resumes(tmp_path: Path) -> None:
    import shutil

    from fake_patch_store import write_patch_store
    from tiny_model import TINY

    from sunet.training import TrainConfig, train

    store = write_patch_store(tmp_path / "patches", n=24, patch=64)
    config = TrainConfig(patches=store, out=tmp_path / "run", model=TINY, epochs=1,
                         batch_size=8, progress=False, num_threads=1)  # fmt: skip
    train(config)
    shutil.move(tmp_path / "run", tmp_path / "moved")
    moved = config.model_copy(update={"out": tmp_path / "moved", "epochs": 2, "resume": True})
    bundle = train(moved)
    assert (
        bundle.is_file() and json.loads((tmp_path / "moved" / "run.json").read_text())["epoch"] == 2
    )


def test_a_budget_that_cuts_training_short_says_so_at_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fake_patch_store import write_patch_store
    from tiny_model import TINY

    from sunet.bundle import read_bundle_meta
    from sunet.training import TrainConfig, train

    store = write_patch_store(tmp_path / "patches", n=24, patch=64)
    config = TrainConfig(patches=store, out=tmp_path / "run", model=TINY, epochs=5,
                         max_minutes=1e-4, batch_size=8, progress=False, num_threads=1)  # fmt: skip
    meta = read_bundle_meta(train(config))
    assert meta.training["stopped"] == "time_budget" and meta.training["epochs_planned"] == 5
    assert meta.training["epochs"] < 5
    out = capsys.readouterr().out
    assert f"time budget: trained {meta.training['epochs']} of 5 epochs" in out
    assert "--max-minutes 0" in out


def test_a_successful_map_removes_what_killed_runs_left(tmp_path: Path) -> None:
    from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, split_scene, write_districts

    from sunet.mapping import MapConfig, map_districts

    scene = split_scene(tmp_path / "scene.tif", 2, 17, size=128)
    districts = write_districts(tmp_path / "d.gpkg", {"A": (LEFT + 32, TOP - 96, LEFT + 96,
                                                            TOP - 32)})  # fmt: skip
    out = tmp_path / "out"
    for stale in (".work-abcd1234", ".tmp-1234abcd-a", ".old-99999999-city"):
        (out / stale).mkdir(parents=True)
        (out / stale / "part.tif").write_bytes(b"half")
    config = MapConfig(scenes=[scene], districts=districts, out=out, progress=False,
                       novelty_windows=0)  # fmt: skip
    map_districts(config, ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)}))
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    assert (out / "config.json").is_file()


def test_the_budget_is_planned_again_after_every_epoch(tmp_path: Path) -> None:
    from types import SimpleNamespace

    import torch

    from sunet.training.config import TrainConfig
    from sunet.training.schedule import Schedule
    from sunet.training.settings import Settings
    from sunet.training.state import RunState
    from sunet.training.trainer import Trainer

    config = TrainConfig(patches=tmp_path, out=tmp_path, epochs=30, pure_fraction=0.5)
    saved: list[dict[str, int]] = []
    run = SimpleNamespace(
        schedule=Schedule(Settings.of(config), steps_per_epoch=10),
        state=RunState(mean=[0.0], std=[1.0], epoch=1), world_size=1,
        device=torch.device("cpu"), is_main=False,
    )  # fmt: skip
    run._checkpoint = lambda: saved.append(run.state.horizon.to_json())
    # A slow first epoch (start-up, a busy machine): 100 s of 600 left fit 5 epochs ...
    Trainer._replan(run, 600.0, 100.0)  # type: ignore[arg-type]
    assert run.state.horizon.to_json() == {"epochs": 6, "configured": 30}
    # ... then the pace picks up: the schedule grows again, never beyond the configured epochs.
    run.state.epoch = 2
    Trainer._replan(run, 560.0, 40.0)  # type: ignore[arg-type]
    assert run.state.horizon.epochs == 15
    run.state.epoch = 3
    Trainer._replan(run, 540.0, 5.0)  # type: ignore[arg-type]
    assert run.state.horizon.epochs == 30
    assert [h["epochs"] for h in saved] == [6, 15, 30]
