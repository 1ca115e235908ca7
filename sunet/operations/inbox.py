"""New imagery: the inbox where scenes arrive, the scene manifest a map version records, and the
area that new, changed or removed scenes touch.

A map version records the scenes it was made from (:class:`SceneManifest`: size, modification
time, SHA-256 and footprint of every scene file). Comparing that manifest with the scene folder
as it is now tells which scenes are new, changed or gone; their footprints (the new footprint of a
new or changed scene, the recorded one of a changed or removed scene) make up the touched area.
Because the manifest lives in the version it describes, a remap that crashes leaves the previous
manifest in place and the next run sees the same changes again: nothing is lost, nothing is done
twice.

Scenes arrive either straight in the scene folder or in an inbox folder, from which
:func:`ingest_inbox` moves them into the scene folder once they have stopped changing for
``settle_seconds`` (a copy still in progress is left alone). A same-named file replaces the scene
it names (a changed scene); a file that does not open as a georeferenced raster is moved to
``inbox/rejected/`` beside a one-line ``.error.txt``. A scene travels with its companions (the
world file, ``.prj`` and ``.aux.xml`` of a JPEG/PNG, the tiles of a VRT that lie in the inbox:
:func:`sunet.geo.raster.scene_companions`), and a change to any of them is a change of the scene.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from pyproj import CRS
from shapely import from_wkt, unary_union
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from sunet.atomic import atomic_path, write_text_atomic
from sunet.geo.crs import crs_name, same_crs
from sunet.geo.raster import (
    SCENE_FILES,
    inspect_scene,
    scene_companions,
    scene_files_in,
    scene_footprint,
)
from sunet.geo.sidecars import image_sidecars
from sunet.hashing import files_hash

__all__ = [
    "IngestResult",
    "SceneChanges",
    "SceneManifest",
    "SceneRecord",
    "diff_scenes",
    "ingest_inbox",
    "list_scenes",
    "pending_inbox",
    "pending_scenes",
    "scan_scenes",
]


class SceneRecord(BaseModel):
    """One scene file as a map version saw it."""

    model_config = ConfigDict(extra="forbid")

    size: int = Field(description="File size, bytes (with its companions', if it has any).")
    mtime_ns: int = Field(
        description="Modification time, nanoseconds since the epoch (the latest of its files)."
    )
    ctime_ns: int = Field(
        description="Status-change time, ns: unlike mtime it cannot be carried over by a copy "
        "that preserves timestamps, so a replaced file is always noticed."
    )
    sha256: str = Field(
        description="SHA-256 of the file's bytes (hex); of a scene with companions, of their "
        "hashes (sunet.hashing.files_hash)."
    )
    footprint: str = Field(description="WKT polygon around the valid data, in the manifest CRS.")


class SceneManifest(BaseModel):
    """The scenes of a scene folder, keyed by file name; saved as ``scenes.json`` in a version."""

    model_config = ConfigDict(extra="forbid")

    crs: str = Field(description="CRS of the footprints (the map CRS), e.g. 'EPSG:32650'.")
    scenes: dict[str, SceneRecord] = Field(description="File name -> record, sorted by name.")

    def save(self, path: str | os.PathLike[str]) -> Path:
        return write_text_atomic(path, self.model_dump_json(indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SceneManifest:
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: no scene manifest") from None
        except ValueError as e:
            raise ValueError(f"{path}: not a scene manifest ({str(e).splitlines()[0]})") from e

    def footprint(self, name: str) -> BaseGeometry:
        return from_wkt(self.scenes[name].footprint)


@dataclass(frozen=True)
class SceneChanges:
    """Scene file names that differ between two manifests (each tuple sorted)."""

    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def to_json(self) -> dict[str, list[str]]:
        return {
            "added": list(self.added),
            "changed": list(self.changed),
            "removed": list(self.removed),
        }

    def touched_area(self, old: SceneManifest | None, new: SceneManifest) -> BaseGeometry:
        """Union of the footprints the changes touch, in the manifests' CRS (metres).

        A changed scene contributes both its old and its new footprint, a removed one its old
        footprint: the map must be redone wherever the imagery it was made from is different.
        """
        if old is not None and not same_crs(old.crs, new.crs):
            raise ValueError(f"manifests are in different CRSs ({old.crs} vs {new.crs})")
        parts = [new.footprint(n) for n in (*self.added, *self.changed)]
        if old is not None:
            parts += [old.footprint(n) for n in (*self.changed, *self.removed)]
        return unary_union(parts) if parts else Polygon()


def list_scenes(folder: str | os.PathLike[str]) -> list[Path]:
    """Scene files directly in ``folder`` (:func:`sunet.geo.raster.scene_files_in`: the same
    files every stage takes as scenes), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such scene folder")
    return scene_files_in(folder)


def _scene_group(path: Path) -> list[Path]:
    """A scene file and its companions (see the module doc)."""
    return [path, *scene_companions(path)]


def _quick(files: list[Path]) -> tuple[int, int, int]:
    """``(size, mtime_ns, ctime_ns)`` of a scene's files: total size, latest times."""
    stats = [f.stat() for f in files]
    return (
        sum(st.st_size for st in stats),
        max(st.st_mtime_ns for st in stats),
        max(st.st_ctime_ns for st in stats),
    )


def scan_scenes(
    scenes_dir: str | os.PathLike[str],
    crs: CRS | str,
    previous: SceneManifest | None = None,
    scene_crs: str | None = None,
) -> SceneManifest:
    """Describe every scene in ``scenes_dir``, footprints in ``crs`` (``scene_crs``: that of
    scenes whose files give none, see :func:`sunet.geo.raster.inspect_scene`).

    A file whose size, modification and status-change times equal those in ``previous`` keeps its
    recorded hash and footprint, so a scan of an unchanged folder reads no pixel; any other file is hashed and
    inspected (which validates it: see :func:`sunet.geo.raster.inspect_scene`).

    Raises:
        FileNotFoundError: if the folder does not exist.
        ValueError: naming the folder if it holds no scene, or naming a scene that is unreadable.
    """
    crs = CRS.from_user_input(crs)
    paths = list_scenes(scenes_dir)
    if not paths:
        raise ValueError(f"{scenes_dir}: no scene ({SCENE_FILES}) in the scene folder")
    same = previous is not None and same_crs(previous.crs, crs)
    records: dict[str, SceneRecord] = {}
    for path in paths:
        files = _scene_group(path)
        old = previous.scenes.get(path.name) if (previous is not None and same) else None
        size, mtime_ns, ctime_ns = quick = _quick(files)
        if old is not None and (old.size, old.mtime_ns, old.ctime_ns) == quick:
            records[path.name] = old
            continue
        footprint = scene_footprint(inspect_scene(path, scene_crs=scene_crs), crs)
        records[path.name] = SceneRecord(
            size=size,
            mtime_ns=mtime_ns,
            ctime_ns=ctime_ns,
            sha256=files_hash(files),
            footprint=footprint.wkt,
        )
    return SceneManifest(crs=crs_name(crs), scenes=records)


def diff_scenes(old: SceneManifest | None, new: SceneManifest) -> SceneChanges:
    """Which scenes are new, changed (different bytes) or removed between two manifests.

    A file merely touched (new modification time, same bytes) is not a change.
    """
    before = old.scenes if old is not None else {}
    after = new.scenes
    return SceneChanges(
        added=tuple(sorted(set(after) - set(before))),
        changed=tuple(
            sorted(n for n in set(after) & set(before) if after[n].sha256 != before[n].sha256)
        ),
        removed=tuple(sorted(set(before) - set(after))),
    )


def _settled(inbox: Path, settle_seconds: float, now: float | None) -> list[Path]:
    if not inbox.is_dir():
        raise FileNotFoundError(f"{inbox}: no such inbox folder")
    now = time.time() if now is None else now
    return [
        p
        for p in list_scenes(inbox)
        if now - _quick(_scene_group(p))[1] / 1e9 >= settle_seconds  # companions settled too
    ]


def pending_inbox(
    inbox: str | os.PathLike[str], settle_seconds: float, now: float | None = None
) -> list[Path]:
    """Scenes in the inbox that have not changed for ``settle_seconds`` (ready to ingest)."""
    return _settled(Path(inbox), settle_seconds, now)


def pending_scenes(
    scenes_dir: str | os.PathLike[str] | None,
    manifest: SceneManifest | None,
    inbox: str | os.PathLike[str] | None,
    settle_seconds: float,
    now: float | None = None,
) -> list[str]:
    """Names of scenes a remap would pick up now: settled inbox files, and scene-folder files
    that are new, changed (different bytes) or gone since ``manifest``. Cheap: a file is hashed
    only when its size or times differ from the manifest; no pixel is read.
    """
    names = [p.name for p in pending_inbox(inbox, settle_seconds, now)] if inbox else []
    recorded = manifest.scenes if manifest is not None else {}
    present = list_scenes(scenes_dir) if scenes_dir and Path(scenes_dir).is_dir() else []
    for path in present:
        files = _scene_group(path)
        old = recorded.get(path.name)
        if old is not None and (old.size, old.mtime_ns, old.ctime_ns) == _quick(files):
            continue
        if old is None or files_hash(files) != old.sha256:
            names.append(path.name)
    names += sorted(set(recorded) - {p.name for p in present})
    return sorted(set(names))


@dataclass(frozen=True)
class IngestResult:
    """What :func:`ingest_inbox` did: scene paths now in the scene folder, and rejected inbox
    files with the reason."""

    accepted: tuple[Path, ...]
    rejected: tuple[tuple[Path, str], ...]


def _move_scene(path: Path, inbox: Path, dest: Path) -> Path:
    """Move a scene and its companions that lie in ``inbox`` to the same places under ``dest``:
    companions first, the scene last, each under a temporary name renamed into place (so a
    scene never appears without them). Sidecars of a replaced image that the new one lacks are
    removed (a stale ``.prj`` would georeference it)."""
    moved = []
    for companion in scene_companions(path):
        try:
            rel = companion.resolve().relative_to(inbox.resolve())
        except ValueError:
            continue  # a VRT's tile outside the inbox stays where the VRT points
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.move(companion, tmp)
        moved.append(target)
    for stale in set(image_sidecars(dest / path.name)) - set(moved):
        stale.unlink()
    with atomic_path(dest / path.name) as tmp:
        shutil.move(path, tmp)
    return dest / path.name


def ingest_inbox(
    inbox: str | os.PathLike[str],
    scenes_dir: str | os.PathLike[str],
    settle_seconds: float,
    now: float | None = None,
    scene_crs: str | None = None,
) -> IngestResult:
    """Move settled, valid scenes from ``inbox`` into ``scenes_dir`` (replacing same-named ones),
    each with its companions.

    Each move lands under a temporary name in ``scenes_dir`` and is renamed into place, so the
    scene folder never holds a partly copied scene, even across file systems. A file that does
    not open as a georeferenced raster (``scene_crs``: the CRS of scenes whose files give none)
    goes to ``inbox/rejected/`` with its sidecars and ``NAME.error.txt``.
    """
    inbox, scenes_dir = Path(inbox), Path(scenes_dir)
    scenes_dir.mkdir(parents=True, exist_ok=True)
    accepted: list[Path] = []
    rejected: list[tuple[Path, str]] = []
    for path in _settled(inbox, settle_seconds, now):
        try:
            inspect_scene(path, scene_crs=scene_crs)
        except ValueError as e:
            dst = inbox / "rejected" / path.name
            dst.parent.mkdir(exist_ok=True)
            for sidecar in image_sidecars(path):
                os.replace(sidecar, dst.parent / sidecar.name)
            os.replace(path, dst)
            write_text_atomic(dst.with_name(dst.name + ".error.txt"), f"{e}\n")
            rejected.append((dst, str(e)))
            continue
        accepted.append(_move_scene(path, inbox, scenes_dir))
    return IngestResult(tuple(accepted), tuple(rejected))
