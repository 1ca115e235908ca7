"""The urban canopy parameter rasters open in QGIS 3.22 (system PyQGIS, headless) with every
style."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from abundance_maps import example_map
from test_mapping_qgis import _has_pyqgis, _system_python

from sunet.analysis.config import ParametersConfig
from sunet.analysis.parameter_rasters import write_parameters
from sunet.analysis.parameters import PARAMETERS

SCRIPT = Path(__file__).parent / "qgis" / "check_parameters.py"


@pytest.mark.slow
@pytest.mark.qgis
@pytest.mark.skipif(not _has_pyqgis(), reason="system python3 cannot import qgis.core")
def test_parameter_rasters_open_in_qgis_with_each_style(tmp_path: Path) -> None:
    root = example_map(tmp_path / "map")
    write_parameters(ParametersConfig(map=root))
    spec = [
        {
            "style": f"lcz_parameters_{p.name}.qml",
            "band": band,
            "minimum": p.legend[0],
            "maximum": p.legend[-1],
            "unit": p.unit,
            "description": p.description,
        }
        for band, p in enumerate(PARAMETERS, start=1)
    ]
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    for area in ("city", "east-side"):
        proc = _system_python(SCRIPT, [str(root / area), str(tmp_path / "spec.json")], tmp_path)
        lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
        assert lines, proc.stderr[-2000:]
        failed = [x for x in lines[:-1] if not x["ok"]]
        assert not failed, failed
        assert lines[0]["qgis"].startswith("3.22")
        assert lines[-1] == {"checked": 4 + len(PARAMETERS), "failed": 0}
        assert proc.returncode == 0
