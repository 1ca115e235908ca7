"""A real (random-init) model bundle through the CLI, Dask workers and the Prefect flow."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from mapping_fixtures import LEFT, TOP, split_scene, write_districts

from sunet.cli import main
from sunet.mapping import MapConfig, map_districts

pytestmark = pytest.mark.slow


def _bundle(path: Path, patch: int = 32) -> Path:
    import torch

    from sunet.bundle import BundleMeta, save_bundle
    from sunet.model import SUNet, get_preset

    torch.manual_seed(0)
    preset = get_preset("cpu-small")
    meta = BundleMeta(
        preset=preset.name, model=preset.model, mean=[120.0] * 3, std=[60.0] * 3,
        patch_size=patch, input_size=preset.model.input_size, gsd=1.0,
        bands=["red", "green", "blue"], crs="EPSG:32650", index_hash="0" * 64,
    )  # fmt: skip
    return save_bundle(path, SUNet(preset.model), meta)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("flow")
    scene = split_scene(root / "scene.tif", 2, 17)
    districts = write_districts(
        root / "districts.gpkg",
        {"A": (LEFT + 32, TOP - 256, LEFT + 256, TOP - 32),
         "B": (LEFT + 256, TOP - 256, LEFT + 480, TOP - 32)},
    )  # fmt: skip
    return _bundle(root / "model.safetensors"), scene, districts


def _tif_hashes(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*.tif"))
    }


def test_cli_maps_with_a_bundle(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    model, scene, districts = inputs
    args = ["map", "--model", str(model), "--scenes", str(scene), "--districts", str(districts),
            "--out", str(tmp_path / "out"), "--no-progress", "--batch-size", "8"]  # fmt: skip
    assert main(args) == 0
    assert (tmp_path / "out" / "config.json").exists()
    assert len(_tif_hashes(tmp_path / "out")) == 3 * 4


def test_dask_workers_load_the_bundle_and_agree(
    inputs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    model, scene, districts = inputs

    def run(out: Path, workers: int) -> dict[str, str]:
        config = MapConfig(model=model, scenes=[scene], districts=districts, out=out,
                           workers=workers, batch_size=8, progress=False)  # fmt: skip
        report = map_districts(config)
        assert report.windows_run == report.windows > 0
        return _tif_hashes(out)

    assert run(tmp_path / "dask", workers=2) == run(tmp_path / "single", workers=0)


def test_prefect_flow_writes_the_same_map(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.map import map_flow

    model, scene, districts = inputs
    config = MapConfig(model=model, scenes=[scene], districts=districts, out=tmp_path / "flow",
                       batch_size=8, progress=False)  # fmt: skip
    with prefect_test_harness():
        report = map_flow(config)
    direct = map_districts(config.model_copy(update={"out": tmp_path / "direct"}))
    assert [a.name for a in report.districts] == ["A", "B"]
    assert report.windows == direct.windows
    assert _tif_hashes(tmp_path / "flow") == _tif_hashes(tmp_path / "direct")
