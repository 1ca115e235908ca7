"""A city configured once, in its data folder: ``data/<city>/lcz-map.yaml``.

The file holds the ``lcz-map`` flow's parameters for that city, under the flow's own parameter
names, and is validated by the flow's own signature (the same types and defaults as a run's
``-p``). Every run of the city's deployments reads it, manual or started by the schedule or an
event, so a restart, a redeploy or an upgrade of the code never loses what the city needs::

    # data/mycity/lcz-map.yaml
    crs: EPSG:32650
    district_names: [Jiang'an, Jianghan]
    labels: labels_2024.gpkg          # relative paths are relative to this file's folder
    model: models/mycity.safetensors
    mapping: {stride: 128}
    automatic_training: false         # what automation may do (the default)
    deployment:                       # not flow parameters: how the city is deployed
      schedule: "0 3 * * 1"
      timezone: Asia/Shanghai

Values not in the file follow the folder's layout: ``scenes/``, ``labels.gpkg``,
``districts.gpkg``, ``inbox/`` beside the file, the map under ``$LCZ_RUNS_ROOT/<city>``. A value
given explicitly on a run (``-p name=value``, different from the flow's default) wins over the
file.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CITY_CONFIG",
    "DeploymentSettings",
    "CityFile",
    "city_parameters",
    "data_root",
    "flow_defaults",
    "read_city_file",
    "runs_root",
]

CITY_CONFIG = "lcz-map.yaml"


def data_root() -> Path:
    """``$LCZ_DATA_ROOT``, default ``./data``, made absolute (workers may run elsewhere)."""
    return Path(os.environ.get("LCZ_DATA_ROOT") or "data").absolute()


def runs_root() -> Path:
    """``$LCZ_RUNS_ROOT``, default ``./runs``, made absolute."""
    return Path(os.environ.get("LCZ_RUNS_ROOT") or "runs").absolute()


class DeploymentSettings(BaseModel):
    """How a city's deployments run (the ``deployment:`` section of its file)."""

    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(
        default="0 3 * * 1", description="Cron of the regular remap (None: no schedule)."
    )
    timezone: str = Field(default="UTC", description="Time zone of the cron schedules.")
    watch_inbox: str | None = Field(
        default="*/10 * * * *",
        description="Cron of the inbox check that sends lcz.imagery.arrived (None: no check).",
    )


class CityFile(BaseModel):
    """A city file once read: the flow parameters it sets (validated, paths absolute) and the
    deployment settings."""

    path: Path
    parameters: dict[str, Any]
    deployment: DeploymentSettings


def _one_line(path: Path, error: Exception, section: str | None = None) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join([*([section] if section else []), *(str(p) for p in first["loc"])])
        return f"{path}: {where}: {first['msg']}"
    text = " ".join(str(error).split())
    return f"{path}: {text}"


def _absolute(value: Any, folder: Path) -> Any:
    """``value`` with relative paths (also inside option models) made relative to ``folder``."""
    if isinstance(value, Path):
        return value if value.is_absolute() else (folder / value).resolve()
    if isinstance(value, BaseModel):
        updates = {
            k: _absolute(getattr(value, k), folder)
            for k in type(value).model_fields
            if isinstance(getattr(value, k), Path | BaseModel)
        }
        return value.model_copy(update=updates) if updates else value
    return value


def read_city_file(path: str | os.PathLike[str], flow_fn: Callable[..., Any]) -> CityFile:
    """Read and validate a city file against ``flow_fn``'s parameters.

    Raises:
        FileNotFoundError / ValueError: one line naming the file and the problem (unreadable
            YAML, not a mapping, an unknown parameter, a value of the wrong type).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such city file")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ValueError(_one_line(path, e)) from None
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise ValueError(
            f"{path}: expected a mapping of lcz-map parameters, got {type(doc).__name__}"
        )
    names = list(inspect.signature(getattr(flow_fn, "fn", flow_fn)).parameters)
    settings = doc.pop("deployment", None) or {}
    unknown = sorted(str(k) for k in doc if k not in names)
    if unknown:
        raise ValueError(
            f"{path}: unknown parameter(s) {', '.join(unknown)} (lcz-map parameters: "
            f"{', '.join(n for n in names if n != 'config_file')}; and deployment)"
        )
    if "config_file" in doc:
        raise ValueError(f"{path}: config_file cannot be set inside a city file")
    try:
        deployment = DeploymentSettings.model_validate(settings)
    except ValidationError as e:
        raise ValueError(_one_line(path, e, "deployment")) from None
    try:
        validated = flow_fn.validate_parameters(doc) if doc else {}  # type: ignore[attr-defined]
    except Exception as e:  # prefect's ParameterTypeError wraps pydantic's ValidationError
        cause = e.__cause__ if isinstance(e.__cause__, ValidationError) else e
        raise ValueError(_one_line(path, cause)) from None
    folder = path.parent.resolve()
    parameters = {k: _absolute(validated[k], folder) for k in doc}
    return CityFile(path=path, parameters=parameters, deployment=deployment)


def layout_defaults(folder: Path, city: str) -> dict[str, Any]:
    """Where a city folder's data is by convention (only what exists, plus the map root)."""
    defaults: dict[str, Any] = {"out": runs_root() / city}
    for name, rel in (("scenes_dir", "scenes"), ("districts", "districts.gpkg"),
                      ("labels", "labels.gpkg"), ("inbox", "inbox")):  # fmt: skip
        if name != "labels" or (folder / rel).exists():  # labels are optional beside a model
            defaults[name] = folder / rel
    return defaults


def city_parameters(
    passed: Mapping[str, Any], flow_fn: Callable[..., Any], config_file: Path
) -> dict[str, Any]:
    """The parameters of a run of a configured city: the flow's defaults, overridden by the
    folder's layout, by the city file, and by any value passed that differs from its default."""
    city_file = read_city_file(config_file, flow_fn)
    defaults = flow_defaults(flow_fn)
    merged = dict(passed)
    layout = layout_defaults(city_file.path.parent.resolve(), str(passed["city"]))
    if city_file.parameters.get("synthetic") is not None:
        # A synthetic city supplies what its folder lacks (scenes, labels, districts).
        layout = {k: v for k, v in layout.items() if k == "out" or Path(v).exists()}
    base = {**layout, **city_file.parameters}
    for name, value in base.items():
        if _same(passed.get(name), defaults.get(name)):
            merged[name] = value
    return merged


def flow_defaults(flow_fn: Callable[..., Any]) -> dict[str, Any]:
    """A flow's parameters with their default values."""
    signature = inspect.signature(getattr(flow_fn, "fn", flow_fn))
    return {k: p.default for k, p in signature.parameters.items()}


def _plain(v: Any) -> Any:
    return v.model_dump(mode="json") if isinstance(v, BaseModel) else v


def _same(a: Any, b: Any) -> bool:
    return bool(_plain(a) == _plain(b))
