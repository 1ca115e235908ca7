"""A map interrupted part-way resumes from the batches it finished (``resume_dir``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from mapping_fixtures import LEFT, TOP, ColourPredictor, lcz_rgb, split_scene, write_districts

from sunet.mapping import MapConfig, map_districts


class Crashing(ColourPredictor):
    """Fails on model call number ``crash_at`` (a killed worker, a full disk ...)."""

    def __init__(self, crash_at: int | None = None) -> None:
        super().__init__({2: lcz_rgb(2), 17: lcz_rgb(17)})
        self.crash_at = crash_at

    def predict_abundances(self, images: np.ndarray) -> np.ndarray:
        if self.calls + 1 == self.crash_at:
            raise OSError("worker lost")
        return super().predict_abundances(images)


def _config(tmp_path: Path, out: str, **kw: object) -> MapConfig:
    return MapConfig(
        scenes=[tmp_path / "scene.tif"],
        districts=tmp_path / "districts.gpkg",
        out=tmp_path / out,
        batch_size=8,
        progress=False,
        novelty_windows=0,
        **kw,  # type: ignore[arg-type]
    )


def test_rerun_after_a_crash_reuses_finished_batches(tmp_path: Path) -> None:
    split_scene(tmp_path / "scene.tif", left_code=2, right_code=17)
    write_districts(
        tmp_path / "districts.gpkg", {"Centre": (LEFT + 32, TOP - 480, LEFT + 480, TOP - 32)}
    )
    whole = ColourPredictor({2: lcz_rgb(2), 17: lcz_rgb(17)})
    full = map_districts(_config(tmp_path, "full"), whole)
    batches = whole.calls
    assert batches > 6

    resume = tmp_path / "resume"
    with pytest.raises(OSError, match="worker lost"):
        map_districts(_config(tmp_path, "out", resume_dir=resume), Crashing(crash_at=6))
    assert len(list(resume.glob("*.npz"))) == 5  # the batches finished before the crash

    again = Crashing()  # the same model, this time without a crash
    report = map_districts(_config(tmp_path, "out", resume_dir=resume), again)
    assert again.calls == batches - 5 and report.batches_reused == 5
    assert report.windows_run == full.windows_run
    for name in ("lcz_abundance.tif", "lcz_dominant.tif"):
        with rasterio.open(tmp_path / "full" / "centre" / name) as a:
            with rasterio.open(tmp_path / "out" / "centre" / name) as b:
                assert np.array_equal(a.read(), b.read(), equal_nan=True)

    # Other inputs (here a coarser stride) empty the folder instead of reusing its batches.
    other = Crashing()
    report = map_districts(_config(tmp_path, "other", resume_dir=resume, stride=8), other)
    assert report.batches_reused == 0 and other.calls > 0
