"""City looks: one plan rendered as other seasons, materials and sensors, same truth in each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from sunet.geo.raster import inspect_scene, open_scene
from sunet.synth import SynthConfig, generate_city
from sunet.synth import command as synth_command
from sunet.synth.looks import LOOKS, Look, get_look

SEED, SCENES, SIZE = 7, 2, 384


@pytest.fixture(scope="module")
def cities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("looks")
    out = {}
    for name in LOOKS:
        out[name] = root / name
        generate_city(SynthConfig(seed=SEED, scenes=SCENES, size_px=SIZE, looks=[name]), out[name])
    return out


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A scene as the pipeline sees it: uint8 (3, H, W) (stretched if not uint8) and validity."""
    info = inspect_scene(path)
    with open_scene(info) as scene:
        return scene.read(info.crs, info.transform, info.width, info.height)


def test_every_look_renders_the_same_city(cities: dict[str, Path]) -> None:
    reference = gpd.read_file(cities["default"] / "labels.gpkg")
    for name, city in cities.items():
        labels = gpd.read_file(city / "labels.gpkg")
        assert list(labels["lcz"]) == list(reference["lcz"]), name
        assert labels.geometry.geom_equals_exact(reference.geometry, tolerance=0.0).all(), name
        manifest = json.loads((city / "city.json").read_text())
        assert set(manifest["looks"]) == {name}
        assert {s["look"] for s in manifest["scenes"]} == {name}


def test_looks_differ_from_the_default_and_from_each_other(cities: dict[str, Path]) -> None:
    images = {}
    for name, city in cities.items():
        image, valid = _read(city / "scenes/scene_000_000.tif")
        # Compare on a common 96 x 96 grid of the scene's extent (the 16-bit look is coarser).
        h, w = image.shape[1:]
        rows = np.linspace(0, h - 1, 96).astype(int)
        cols = np.linspace(0, w - 1, 96).astype(int)
        images[name] = image[:, rows][:, :, cols].astype(np.float64)
        assert valid.mean() > 0.8, name
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = np.abs(images[a] - images[b]).mean()
            assert diff > 4.0, f"{a} and {b} look alike (mean difference {diff:.1f})"


def test_sensor_and_file_formats(cities: dict[str, Path]) -> None:
    with rasterio.open(cities["default"] / "scenes/scene_000_000.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 0 and src.compression.value == "DEFLATE"
        base_pixel = src.res[0]
        base_width = src.width
    with rasterio.open(cities["satellite-16bit"] / "scenes/scene_000_000.tif") as src:
        data = src.read()
        assert src.dtypes[0] == "uint16" and src.nodata == 0
        assert src.res[0] == pytest.approx(base_pixel * base_width / src.width)
        assert src.res[0] / base_pixel == pytest.approx(1.4, rel=0.01)
        valid = data[0] > 0
        assert 200 < data[0][valid].mean() < 4095  # linear counts, not display values
        assert src.tags()["look"] == "satellite-16bit"
    with rasterio.open(cities["ge-jpeg"] / "scenes/scene_000_000.tif") as src:
        assert src.compression.value == "JPEG" and src.nodata is None
        mask = src.dataset_mask()
        # The ragged nodata border is carried by the internal mask, not by pixel values.
        assert 0.8 < (mask > 0).mean() < 1.0
    for name, city in cities.items():
        manifest = json.loads((city / "city.json").read_text())
        expected = LOOKS[name].gsd_m or 1.0
        assert manifest["scenes"][0]["gsd_m"] == pytest.approx(expected), name


def test_winter_trees_lose_their_leaves_and_monsoon_fields_flood(cities: dict[str, Path]) -> None:
    def greenness(name: str) -> float:
        image, valid = _read(cities[name] / "scenes/scene_000_001.tif")
        r, g, b = (image[i][valid].astype(np.float64) for i in range(3))
        return float(((g > r + 6) & (g > b + 6)).mean())

    assert greenness("winter") < 0.5 * greenness("default")
    assert greenness("monsoon") > greenness("default")


def test_several_looks_share_the_scenes_out(tmp_path: Path) -> None:
    config = SynthConfig(seed=SEED, scenes=4, size_px=256, looks=["default", "winter"])
    manifest = generate_city(config, tmp_path / "mixed")
    counts = {name: sum(s.look == name for s in manifest.scenes) for name in ("default", "winter")}
    assert counts == {"default": 2, "winter": 2}
    assert set(manifest.looks) == {"default", "winter"}


def test_look_files_and_errors(tmp_path: Path) -> None:
    custom = LOOKS["arid"].model_copy(update={"name": "my-city", "haze": (0.3, 0.4)})
    path = tmp_path / "my-city.json"
    path.write_text(custom.model_dump_json())
    assert get_look(str(path)) == custom
    with pytest.raises(ValueError, match="unknown look 'sepia'; built-in looks: default"):
        SynthConfig(looks=["sepia"])
    (tmp_path / "bad.json").write_text(json.dumps({"name": "x", "palettes": {"gold": [[1, 2, 3]]}}))
    with pytest.raises(ValueError, match=r"bad.json: not a valid look .*unknown palette 'gold'"):
        get_look(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="finer than the city's"):
        generate_city(
            SynthConfig(seed=1, scenes=1, size_px=256, looks=[str(_write(tmp_path, gsd=0.5))]),
            tmp_path / "fine",
        )
    assert not (tmp_path / "fine").exists()


def _write(tmp_path: Path, gsd: float) -> Path:
    path = tmp_path / "fine.json"
    path.write_text(Look(name="fine", gsd_m=gsd).model_dump_json())
    return path


def test_command_lists_and_uses_looks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    synth_command.add_parser(parser.add_subparsers(dest="command"))
    assert synth_command.run(parser.parse_args(["synth", "--list-looks"])) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [*LOOKS, "random"]
    args = parser.parse_args(["synth", "--out", str(tmp_path / "c"), "--size", "256",
                              "--scenes", "1", "--look", "winter", "--quiet"])  # fmt: skip
    assert synth_command.run(args) == 0
    with rasterio.open(tmp_path / "c/scenes/scene_000_000.tif") as src:
        assert src.tags()["look"] == "winter"


def test_random_looks_differ_per_scene_and_repeat_per_seed(tmp_path: Path) -> None:
    config = SynthConfig(seed=SEED, scenes=4, size_px=256, looks=["random"])
    first = generate_city(config, tmp_path / "a")
    again = generate_city(config, tmp_path / "b")
    names = [s.look for s in first.scenes]
    assert names == ["random-000-000", "random-000-001", "random-001-000", "random-001-001"]
    assert len({first.looks[n].model_dump_json(exclude={"name"}) for n in names}) == 4
    assert first.looks == again.looks
    for scene in first.scenes:
        a = (tmp_path / "a" / scene.path).read_bytes()
        assert a == (tmp_path / "b" / scene.path).read_bytes()
    reference = gpd.read_file(tmp_path / "a" / "labels.gpkg")
    default = generate_city(SynthConfig(seed=SEED, scenes=4, size_px=256), tmp_path / "d")
    assert default.label_polygons == first.label_polygons
    assert list(gpd.read_file(tmp_path / "d" / "labels.gpkg")["lcz"]) == list(reference["lcz"])
