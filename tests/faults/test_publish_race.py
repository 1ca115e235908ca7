"""Publishing from several processes at once: `latest` never moves backwards, and its two forms
(latest.json and the link) always agree."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from sunet.operations.versions import latest_version, list_versions

_PUBLISHER = """
import sys, tempfile
from pathlib import Path
from sunet.operations.versions import latest_version, publish_version
root, n = Path(sys.argv[1]), int(sys.argv[2])
backwards = 0
for i in range(n):
    built = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root / "versions"))
    (built / "x.txt").write_text(str(i))
    mine = publish_version(root, built)
    now = latest_version(root)
    backwards += now.number < mine.number
print(backwards)
"""


def test_concurrent_publishers_never_move_latest_backwards(tmp_path: Path) -> None:
    (tmp_path / "versions").mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, str(tmp_path), "150"],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    # Right after publishing, no publisher ever saw `latest` on an older version than its own.
    assert sum(int(o.strip()) for o in outputs) == 0
    versions = list_versions(tmp_path)
    assert [v.number for v in versions] == list(range(1, 301))
    latest = latest_version(tmp_path)
    assert latest is not None and latest.number == 300
    link = os.readlink(tmp_path / "latest")
    assert link == json.loads((tmp_path / "latest.json").read_text())["path"]
    # Published versions are readable by others, like any folder the user makes.
    assert stat.S_IMODE(latest.path.stat().st_mode) & 0o055 == 0o055 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
