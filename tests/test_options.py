"""Options generated from configs: one definition drives the command line (sunet.options)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from sunet.cli import build_parser, main
from sunet.mapping.config import MapConfig
from sunet.operations.config import RemapConfig
from sunet.options import config_from_args, default_of, options_model
from sunet.tiling.config import TileConfig
from sunet.training.config import TrainConfig

MAP = ["map", "--model", "m.safetensors", "--scenes", "s", "--districts", "d.gpkg", "--out", "o"]
TILE = ["tile", "--scenes", "s", "--labels", "l.gpkg", "--out", "o"]


def parse(argv: list[str]) -> argparse.Namespace:
    parser, _ = build_parser(argv[0])
    return parser.parse_args(argv)


@pytest.mark.parametrize("bands", [["3", "2", "1"], ["3,2,1"], ["3,", "2", ",1"]])
def test_every_list_option_takes_spaces_or_commas(bands: list[str]) -> None:
    assert parse([*TILE, "--bands", *bands]).bands == [3, 2, 1]
    assert parse([*MAP, "--bands", *bands]).bands == [3, 2, 1]
    # Repeating a list option adds to it (as `--look a --look b` always did).
    assert parse([*MAP, "--bands", "3", "--bands", "2,1"]).bands == [3, 2, 1]


def test_a_bad_list_item_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse([*MAP, "--bands", "red"])
    assert "argument --bands: invalid literal for int()" in capsys.readouterr().err


def test_options_not_given_leave_the_config_default() -> None:
    args = parse(MAP)
    assert not hasattr(args, "batch_size")  # the parser holds no copy of the default
    config = config_from_args(MapConfig, args)
    assert config.batch_size == default_of(MapConfig, "batch_size")
    assert config.model_fields_set == {"model", "scenes", "districts", "out"}


def test_defaults_in_help_are_the_configs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["tile", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in ("gsd", "patch", "purity", "max_nodata"):
        flag = "--" + name.replace("_", "-")
        assert flag in text
        assert f"(default: {default_of(TileConfig, name)})" in text


def test_booleans_have_both_forms_and_renamed_flags_reach_their_field() -> None:
    args = parse([*MAP, "--no-cells", "--no-progress"])
    config = config_from_args(MapConfig, args, {"cells_layer": "cells"})
    assert (config.cells_layer, config.progress) == (False, False)
    train = parse(["train", "--patches", "p", "--out", "o", "--nproc", "2", "--threads", "1"])
    config = config_from_args(TrainConfig, train, {"num_processes": "nproc"})
    assert (config.num_processes, config.num_threads) == (2, 1)


def test_nested_mapping_options_of_remap() -> None:
    argv = ["remap", "--out", "o", "--scenes", "s", "--districts", "d.gpkg", "--model", "m",
            "--stride", "64", "--district-names", "Wuchang District,Hanyang", "--no-cells"]  # fmt: skip
    config = config_from_args(RemapConfig, parse(argv), {"scenes_dir": "scenes"})
    assert config.scenes_dir == Path("s")
    assert config.mapping.stride == 64 and config.mapping.cells_layer is False
    assert config.district_names == ["Wuchang District", "Hanyang"]
    assert config.mapping.batch_size == default_of(MapConfig, "batch_size")


def test_invalid_values_are_one_line_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["train", "--patches", str(tmp_path), "--out", str(tmp_path / "o"),
                   "--threads", "0", "--epochs", "0"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert "--epochs: Input should be greater than or equal to 1" in err
    assert "lcz-map train: error:" in err


def test_shared_fields_and_option_groups_keep_one_default() -> None:
    assert default_of(RemapConfig, "crs") == default_of(MapConfig, "crs")
    assert default_of(RemapConfig, "district_field") == default_of(MapConfig, "district_field")
    options = options_model(MapConfig, exclude=("model", "scenes", "districts", "out"), name="O")
    assert options().stride == default_of(MapConfig, "stride")
    with pytest.raises(ValueError, match="has no default"):
        options_model(MapConfig, exclude=("model",), name="O")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("lcz-map ")


HEAVY = ("torch", "timm", "prefect", "geopandas", "rasterio", "dask", "sklearn", "zarr")


def test_help_of_every_command_imports_nothing_heavy() -> None:
    """`--help` answers at once: building any command's parser imports none of the heavy
    libraries (the import time itself is measured in `make bench`, not asserted here)."""
    from sunet.cli import COMMANDS

    code = (
        "import sys\n"
        "from sunet.cli import build_parser\n"
        f"for name in {list(COMMANDS)!r}:\n"
        "    build_parser(name)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_flow_parameters_mirror_their_config_fields() -> None:
    from flows.lcz_map import lcz_map
    from sunet.options import mirrors

    doc = lcz_map.fn.__doc__ or ""
    assert "{" + "crs}" not in doc
    assert (RemapConfig.model_fields["settle_seconds"].description or "") in doc

    def disagreeing(crs: str = "EPSG:4326") -> None:
        """Args:
        crs: {crs}
        """

    with pytest.raises(ValueError, match="differs from RemapConfig.crs"):
        mirrors(crs=(RemapConfig, "crs"))(disagreeing)
