"""A city configured once by its file: reading, validation, layout defaults, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.city import city_parameters, flow_defaults, read_city_file
from flows.lcz_map import lcz_map

REPO = Path(__file__).resolve().parents[1]


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / "lcz-map.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def test_shipped_wuhan_file_is_valid() -> None:
    city = read_city_file(REPO / "data" / "wuhan" / "lcz-map.yaml", lcz_map)
    assert city.parameters["crs"] == "EPSG:32650"
    assert city.parameters["district_names"][:2] == ["Jiang'an", "Jianghan"]
    assert city.parameters["automatic_training"] is False
    assert city.deployment.timezone == "Asia/Shanghai"


def test_values_are_typed_and_paths_relative_to_the_file(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "paris",
        "model: models/m.safetensors\nkeep_versions: 3\n"
        "training: {init_from: ../start.safetensors, fine_tune_steps: 50}\n"
        "mapping: {stride: 64}\n",
    )
    city = read_city_file(f, lcz_map)
    p = city.parameters
    assert p["model"] == (tmp_path / "paris" / "models" / "m.safetensors").resolve()
    assert p["keep_versions"] == 3
    assert p["training"].init_from == (tmp_path / "start.safetensors").resolve()
    assert p["training"].fine_tune_steps == 50
    assert p["mapping"].stride == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("district_nmes: [A]\n", "unknown parameter(s) district_nmes"),
        ("keep_versions: many\n", "keep_versions"),
        ("mapping: {strid: 3}\n", "mapping.strid"),
        ("- a\n- b\n", "expected a mapping"),
        ("crs: [unclosed\n", "while parsing"),
        ("config_file: x.yaml\n", "config_file cannot be set"),
        ("deployment: {cron: daily}\n", "deployment.cron"),
    ],
)
def test_bad_file_is_one_line_naming_it(tmp_path: Path, text: str, expected: str) -> None:
    f = _write(tmp_path / "c", text)
    with pytest.raises(ValueError) as err:
        read_city_file(f, lcz_map)
    message = str(err.value)
    assert message.startswith(str(f)) and "\n" not in message
    assert expected in message


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such city file"):
        read_city_file(tmp_path / "none" / "lcz-map.yaml", lcz_map)


def test_layout_then_file_then_explicit_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LCZ_RUNS_ROOT", str(tmp_path / "runs"))
    folder = tmp_path / "data" / "lyon"
    f = _write(folder, "district_names: [Centre]\ncrs: EPSG:2154\n")
    (folder / "labels.gpkg").write_bytes(b"")
    passed = {**flow_defaults(lcz_map), "city": "lyon", "config_file": f}
    p = city_parameters(passed, lcz_map, f)
    # The folder's layout, the file, and the flow's defaults for the rest.
    assert p["scenes_dir"] == folder.resolve() / "scenes"
    assert p["districts"] == folder.resolve() / "districts.gpkg"
    assert p["labels"] == folder.resolve() / "labels.gpkg"
    assert p["inbox"] == folder.resolve() / "inbox"
    assert p["out"] == tmp_path / "runs" / "lyon"
    assert p["district_names"] == ["Centre"] and p["crs"] == "EPSG:2154"
    assert p["automatic_training"] is False and p["started_by"] == "manual"
    # A value passed on the run (a -p differing from the default) wins over the file.
    p = city_parameters({**passed, "crs": "EPSG:32631", "started_by": "event"}, lcz_map, f)
    assert p["crs"] == "EPSG:32631" and p["started_by"] == "event"
    assert p["district_names"] == ["Centre"]


def test_labels_are_optional_in_the_layout(tmp_path: Path) -> None:
    f = _write(tmp_path / "rome", "model: m.safetensors\n")
    p = city_parameters({**flow_defaults(lcz_map), "city": "rome"}, lcz_map, f)
    assert p["labels"] is None and p["model"] == (tmp_path / "rome" / "m.safetensors").resolve()
