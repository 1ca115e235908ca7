"""Option groups: a stage's config without the fields an orchestrator fills in itself.

A remap or a flow sets a stage's inputs and outputs (scene folder, model, output folder) from its
own parameters; what is left of the stage's config (stride, batch size, epochs ...) is the
user's to choose. :func:`options_model` derives that remainder as a pydantic model from the stage's
config, so field types, defaults and descriptions stay those of the stage (and the Prefect UI
renders them as a form) without being copied by hand.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, create_model

__all__ = ["options_model"]


def options_model(config: type[BaseModel], exclude: tuple[str, ...], name: str) -> Any:
    """A model with every field of ``config`` except ``exclude`` (all must then have defaults).

    The stage's own validators are not copied; they run when the full config is built from the
    options (``Config(**options.model_dump(), **inputs)``), so invalid options are still caught.

    Raises:
        ValueError: if a field kept has no default (the options could not stand alone).
    """
    fields: dict[str, Any] = {}
    for key, info in config.model_fields.items():
        if key in exclude:
            continue
        if info.is_required():
            raise ValueError(f"{config.__name__}.{key} has no default; exclude it from {name}")
        fields[key] = (info.annotation, info)
    unknown = set(exclude) - set(config.model_fields)
    if unknown:
        raise ValueError(f"{config.__name__} has no field(s) {sorted(unknown)}")
    return create_model(  # type: ignore[call-overload]
        name,
        __config__=ConfigDict(extra="forbid"),
        __doc__=f"Options of {config.__name__} (its inputs and outputs are set by the caller).",
        **fields,
    )
