"""The district analysis page in a real browser: headless Chromium renders it, loads every
figure and reports no console message (skipped where no Chromium is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from analysis_maps import write_district_map, write_earlier_map
from PIL import Image

from sunet.analysis.config import AnalyseConfig
from sunet.analysis.report import analyse
from sunet.lcz import by_code

# Appended to a copy of the page (the page itself carries no script): once every resource has
# loaded, the body records how many images there are and how many were decoded.
_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var shown = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-images", images.length + " " + shown.length);
});
</script>
"""


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(browser: str, page: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless=new", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", *options,
         page.as_uri()],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def _console(stderr: str) -> list[str]:
    """Messages the page wrote to the console (Chromium logs them as ``CONSOLE``)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
def test_chromium_renders_the_page_with_every_figure(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on this machine")
    root = tmp_path / "city"
    write_earlier_map(root / "versions" / "v0001")
    write_district_map(root / "versions" / "v0002")
    out = analyse(AnalyseConfig(map=root / "versions" / "v0002")).out
    page = out / "index.html"

    shot = tmp_path / "page.png"
    done = _run(browser, page, f"--screenshot={shot}", "--window-size=1280,2000")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _console(done.stderr) == []
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    colours = {tuple(int(x) for x in c) for c in np.unique(pixels, axis=0)}
    assert len(colours) > 100  # text, tables and figures, not a blank page
    # The composition figure is drawn: LCZ 6 and LCZ A fill its bars in their own colours.
    assert by_code(6).rgb in colours and by_code(11).rgb in colours

    checked = out / "check.html"  # beside the page, so its relative links resolve the same
    checked.write_text(page.read_text().replace("</body>", _CHECK + "</body>"))
    done = _run(browser, checked, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _console(done.stderr) == []
    found = re.search(r'data-images="(\d+) (\d+)"', done.stdout)
    assert found is not None, done.stdout[:2000]
    total, shown = int(found.group(1)), int(found.group(2))
    assert total == 8 and shown == total  # 3 compositions, 4 parameter maps, 1 change map
