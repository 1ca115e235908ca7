"""Map versions: every remap writes ``ROOT/versions/vNNNN/`` and then moves the ``latest`` pointer.

Layout of a map root::

    ROOT/versions/v0001/ ...        one complete map each, never modified once published
    ROOT/versions/v0002/ ...
    ROOT/latest.json                {"version": "v0002", "path": "versions/v0002", ...}
    ROOT/latest -> versions/v0002   symlink, for people and tools that open files by path
    ROOT/catalog.json               STAC catalog: every version a child, `latest-version` link

A version is built in a hidden temporary folder beside the others and renamed to ``vNNNN`` only
when complete; the pointer is then switched with ``os.replace`` (``latest.json`` written to a
temporary name and renamed, the symlink created under a temporary name and renamed over the old
one), so a reader sees either the old map or the new one, never a mixture. ``latest.json`` is the
authority (it works on every file system); the symlink is skipped where links cannot be made. The
root's STAC catalog (:func:`sunet.mapping.stac.write_versions_catalog`) is rewritten, under the
same lock, whenever the pointer moves or versions are pruned.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sunet.atomic import scratch_dir, write_text_atomic
from sunet.locks import hold

__all__ = [
    "LATEST_JSON",
    "LATEST_LINK",
    "MapVersion",
    "VERSION_JSON",
    "build_version",
    "latest_version",
    "list_versions",
    "previous_version",
    "prune_versions",
    "publish_version",
]

LATEST_JSON = "latest.json"
LATEST_LINK = "latest"
VERSION_JSON = "version.json"
_NAME = re.compile(r"^v(\d{4,})$")


@dataclass(frozen=True)
class MapVersion:
    """One published map version: ``number`` 1, 2, ... stored at ``ROOT/versions/vNNNN``."""

    root: Path
    number: int

    @property
    def name(self) -> str:
        return f"v{self.number:04d}"

    @property
    def path(self) -> Path:
        return self.root / "versions" / self.name

    def info(self) -> dict[str, Any]:
        """The version's ``version.json`` (empty if it has none)."""
        f = self.path / VERSION_JSON
        return json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}


def list_versions(root: str | os.PathLike[str]) -> list[MapVersion]:
    """Published versions under ``root``, oldest first (temporary folders are ignored)."""
    root = Path(root)
    folder = root / "versions"
    if not folder.is_dir():
        return []
    numbers = sorted(
        int(m.group(1)) for p in folder.iterdir() if p.is_dir() and (m := _NAME.match(p.name))
    )
    return [MapVersion(root, n) for n in numbers]


def latest_version(root: str | os.PathLike[str]) -> MapVersion | None:
    """The version ``ROOT/latest.json`` points to, or ``None`` before the first publish.

    Raises:
        ValueError: if ``latest.json`` is unreadable or names a version that does not exist.
    """
    root = Path(root)
    pointer = root / LATEST_JSON
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text(encoding="utf-8"))["version"]
        m = _NAME.match(name)
        if m is None:
            raise KeyError(name)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{pointer}: not a map version pointer ({e})") from e
    version = MapVersion(root, int(m.group(1)))
    if not version.path.is_dir():
        raise ValueError(f"{pointer}: points to {version.name}, which does not exist")
    return version


def previous_version(folder: str | os.PathLike[str]) -> MapVersion | None:
    """The version published before the one at ``folder`` (``ROOT/versions/vNNNN``, or a link to
    one such as ``ROOT/latest``); None when there is none, or ``folder`` is not a version."""
    resolved = Path(folder).resolve()
    m = _NAME.match(resolved.name)
    if m is None or resolved.parent.name != "versions":
        return None
    earlier = [v for v in list_versions(resolved.parent.parent) if v.number < int(m.group(1))]
    return earlier[-1] if earlier else None


@contextmanager
def build_version(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder to build the next version in.

    On success the folder is published (see :func:`publish_version`); on an exception it is
    removed and the pointer is left where it was.
    """
    root = Path(root)
    (root / "versions").mkdir(parents=True, exist_ok=True)
    tmp = root / "versions" / f".tmp-{uuid.uuid4().hex[:8]}"
    with scratch_dir(tmp):
        yield tmp
    publish_version(root, tmp)


def publish_version(
    root: str | os.PathLike[str],
    built: str | os.PathLike[str],
    finalize: Callable[[Path, MapVersion], None] | None = None,
) -> MapVersion:
    """Rename the complete folder ``built`` to the next free ``vNNNN`` and point ``latest`` at it.

    The number is claimed by the rename itself (a rename onto an existing, non-empty version
    fails), so two publishers can never take the same number. ``finalize(built, version)`` runs
    just before the rename, under the root's lock, once the version's name is known (to record
    final paths and names in the files being published).
    """
    root, built = Path(root), Path(built)
    if not any(built.iterdir()):
        raise ValueError(f"{built}: refusing to publish an empty map version")
    # One publisher at a time: the number, the rename and the pointer move together, so
    # `latest` only ever moves to a newer version and latest.json and the link agree.
    with hold(root / "versions", wait=True):
        return _publish(root, built, finalize)


def _publish(
    root: Path, built: Path, finalize: Callable[[Path, MapVersion], None] | None
) -> MapVersion:
    existing = list_versions(root)
    number = existing[-1].number + 1 if existing else 1
    while True:
        version = MapVersion(root, number)
        if finalize is not None:
            finalize(built, version)
        try:
            # os.rename onto an existing non-empty folder raises; an empty one would be replaced,
            # but published versions are never empty.
            os.rename(built, version.path)
            break
        except OSError:
            if not version.path.exists():
                raise
            number += 1
    # A build folder may be private (tempfile's 0700): give the version the mode its parent was
    # made with (the user's umask), read from disk rather than by changing the process's umask,
    # which other threads would see.
    os.chmod(version.path, stat.S_IMODE(version.path.parent.stat().st_mode))
    _point_latest(root, version)
    return version


def _point_latest(root: Path, version: MapVersion) -> None:
    relative = Path("versions") / version.name
    write_text_atomic(
        root / LATEST_JSON,
        json.dumps(
            {
                "version": version.name,
                "path": relative.as_posix(),
                "published": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            indent=1,
        )
        + "\n",
    )
    link = root / LATEST_LINK
    tmp = root / f".tmp-{uuid.uuid4().hex[:8]}-{LATEST_LINK}"
    try:
        tmp.symlink_to(relative, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        # No symlinks here (some network or Windows file systems): latest.json alone is the pointer.
        tmp.unlink(missing_ok=True)
    _index_versions(root, version.name)


def _index_versions(root: Path, latest: str | None) -> None:
    """Rewrite ``ROOT/catalog.json`` (call it holding the lock of ``ROOT/versions``)."""
    # Imported here: the catalog module brings pystac and GDAL, which readers of the pointer
    # (the inbox sensor) do not need.
    from sunet.mapping.stac import write_versions_catalog

    write_versions_catalog(root, [v.name for v in list_versions(root)], latest)


def prune_versions(root: str | os.PathLike[str], keep: int) -> list[MapVersion]:
    """Delete all but the newest ``keep`` versions (never the one ``latest`` points to).

    Returns the versions deleted.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    root = Path(root)
    trash: list[Path] = []
    with hold(root / "versions", wait=True):  # the publishers' lock: the catalog moves with it
        latest = latest_version(root)
        versions = list_versions(root)
        doomed = [v for v in versions[:-keep] if v != latest]
        for v in doomed:
            # Rename first so a half-deleted folder never looks like a version.
            trash.append(v.path.with_name(f".old-{uuid.uuid4().hex[:8]}-{v.name}"))
            os.replace(v.path, trash[-1])
        if doomed:
            _index_versions(root, latest.name if latest else None)
    for folder in trash:  # after the lock: deleting a large map need not hold up publishing
        shutil.rmtree(folder, ignore_errors=True)
    return doomed
