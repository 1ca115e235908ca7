"""Options from configs: the one definition of every option a user can set.

A stage's pydantic config is the only place where an option's name, type, default, help text and
validation live. From it, this module derives

* the command line: :func:`add_options` turns fields into argparse options (``--gsd``,
  ``--bands 3 2 1``, ``--cells/--no-cells`` ...) and :func:`config_from_args` builds the config
  from what the user typed. Options the user did not type are left unset, so the config's own
  default (or its preset) applies: a default is never copied into the parser.
* option groups: :func:`options_model` is the part of a config that a caller (a remap, a Prefect
  flow) leaves to its user once it has set inputs and outputs itself; the Prefect UI renders it as
  a form with the stage's own types, defaults and descriptions.
* defaults for a flow's flat parameters: :func:`default_of`.

One list syntax for every list option: values separated by spaces (``--bands 3 2 1``); numbers
and names may also be separated by commas (``--bands 3,2,1``). The option may be repeated to add
more values.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

__all__ = [
    "OptionError",
    "add_options",
    "config_from_args",
    "default_of",
    "flag_of",
    "mirrors",
    "options_model",
    "same_field",
]

F = TypeVar("F", bound=Callable[..., Any])
_SCALARS: dict[Any, Callable[[str], Any]] = {int: int, float: float, str: str, Path: Path}
_METAVARS = {int: "N", float: "X", Path: "PATH", str: "TEXT"}


class OptionError(ValueError):
    """Options that do not validate, in one line naming the flags as the user typed them."""


def default_of(config: type[BaseModel], name: str) -> Any:
    """The default of ``config``'s field ``name`` (for a flow parameter that mirrors it)."""
    info = config.model_fields[name]
    if info.is_required():
        raise ValueError(f"{config.__name__}.{name} has no default")
    return info.get_default(call_default_factory=True)


def mirrors(**fields: tuple[type[BaseModel], str]) -> Callable[[F], F]:
    """Decorator for a function (a Prefect flow) whose parameters mirror config fields:
    ``{name}`` in its docstring becomes the description of the field parameter ``name`` mirrors,
    and each such parameter's default must be that field's default (checked on import).

    ``@mirrors(crs=(RemapConfig, "crs"))`` over ``def f(crs: str = default_of(RemapConfig, "crs"))``
    documented as ``crs: {crs}``: the text and the value are the config's, written once.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        doc = fn.__doc__ or ""
        for param, (config, name) in fields.items():
            info = config.model_fields[name]
            default = signature.parameters[param].default
            if default != info.get_default(call_default_factory=True):
                raise ValueError(
                    f"{fn.__name__}({param}={default!r}) differs from {config.__name__}.{name}"
                )
            if "{" + param + "}" not in doc:
                raise ValueError(f"{fn.__name__}: its docstring does not document {{{param}}}")
            doc = doc.replace("{" + param + "}", info.description or "")
        fn.__doc__ = doc
        return fn

    return decorate


def same_field(config: type[BaseModel], name: str) -> Any:
    """A field declared like ``config``'s field ``name`` (type aside): its default, description
    and constraints, for a config that takes the same option on to another stage."""
    return copy.copy(config.model_fields[name])


def flag_of(name: str, flags: dict[str, str] | None = None) -> str:
    """The command-line flag of field ``name``: ``--name-with-dashes`` or its renamed flag."""
    return "--" + (flags or {}).get(name, name).replace("_", "-")


def _optional(annotation: Any) -> Any:
    """``X | None`` -> ``X``, ``Annotated[X, ...]`` -> ``X``; anything else unchanged."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return _optional(inner[0])
    if get_origin(annotation) is typing.Annotated:
        return get_args(annotation)[0]  # the validators run when the config is built
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _scalar(annotation: Any, flag: str) -> tuple[Callable[[str], Any], list[str] | None]:
    """Converter and choices of one value of type ``annotation``."""
    if get_origin(annotation) is Literal:
        values = get_args(annotation)
        by_text = {str(v): v for v in values}

        def choice(text: str) -> Any:
            if text not in by_text:
                raise argparse.ArgumentTypeError(
                    f"invalid choice {text!r} (choose from {', '.join(by_text)})"
                )
            return by_text[text]

        return choice, list(by_text)
    if annotation in _SCALARS:
        return _SCALARS[annotation], None
    raise TypeError(f"{flag}: no command-line form for {annotation!r}")


class _ListAction(argparse.Action):
    """Collects values over repeats; splits numbers and names on commas too."""

    def __init__(self, *args: Any, convert: Callable[[str], Any], split: bool, **kw: Any):
        self.convert, self.split = convert, split
        super().__init__(*args, **kw)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        for value in values or []:
            parts = [p for p in str(value).split(",") if p.strip()] if self.split else [value]
            for part in parts:
                try:
                    items.append(self.convert(part.strip() if self.split else part))
                except (ValueError, argparse.ArgumentTypeError) as e:
                    parser.error(f"argument {option_string}: {e}")
        setattr(namespace, self.dest, items)


def _help(info: FieldInfo, required: bool) -> str:
    text = (info.description or "").rstrip(".")
    if required:
        return text + " (required)"
    default = info.get_default(call_default_factory=True)
    if default is None or default == []:
        return text
    if isinstance(default, bool):
        return text
    if isinstance(default, list | tuple):
        default = " ".join(str(d) for d in default)
    return f"{text} (default: {default})".replace("%", "%%")


def add_options(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config: type[BaseModel],
    *,
    skip: Sequence[str] = (),
    flags: dict[str, str] | None = None,
    required: Sequence[str] = (),
    prefix: str = "",
) -> None:
    """Add one option per field of ``config`` (nested configs: one per field of theirs).

    Args:
        skip: fields without an option (set by the command itself, or not for the command line).
        flags: field -> flag name where the flag differs (``{"num_processes": "nproc"}``).
        required: optional fields that the command line requires all the same.
        prefix: dotted path of a nested config (internal).

    Options default to "not given" (``argparse.SUPPRESS``), so :func:`config_from_args` passes
    only what the user typed and the config decides every default.
    """
    for name, info in config.model_fields.items():
        if name in skip:
            continue
        annotation = _optional(info.annotation)
        dest = prefix + name
        if _is_model(annotation):
            add_options(parser, annotation, skip=skip, flags=flags, prefix=dest + ".")
            continue
        flag = flag_of(name, flags)
        needed = info.is_required() or name in required
        common: dict[str, Any] = {
            "dest": dest,
            "default": argparse.SUPPRESS,
            "help": _help(info, needed),
        }
        if needed:
            common["required"] = True
        if annotation is bool:
            on = info.get_default(call_default_factory=True)
            common["help"] += f" (default: {flag if on else '--no-' + flag[2:]})"
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
            continue
        origin = get_origin(annotation)
        item = get_args(annotation)[0] if origin in (list, tuple) else annotation
        metavar = _METAVARS.get(item) or flag[2:].upper().replace("-", "_")
        if origin is list:
            convert, choices = _scalar(item, flag)
            if choices and len(",".join(choices)) <= 30:
                metavar = "{" + ",".join(choices) + "}"
            elif choices:
                common["help"] += f" (from: {' '.join(choices)})"
            parser.add_argument(
                flag,
                nargs="+",
                action=_ListAction,
                convert=convert,
                split=item is not Path,
                metavar=metavar,
                **common,
            )
        elif origin is tuple:
            items = get_args(annotation)
            convert, _ = _scalar(items[0], flag)
            parser.add_argument(
                flag,
                nargs=len(items),
                type=convert,
                metavar=("LOW", "HIGH") if len(items) == 2 else metavar,
                **common,
            )
        else:
            convert, choices = _scalar(annotation, flag)
            if choices:  # shown, not passed: the converter checks them (and yields non-strings)
                metavar = "{" + ",".join(choices) + "}"
            parser.add_argument(flag, type=convert, metavar=metavar, **common)


def config_from_args(
    config: type[BaseModel],
    args: argparse.Namespace,
    flags: dict[str, str] | None = None,
    **fixed: Any,
) -> Any:
    """``config`` built from the options the user typed (plus ``fixed`` values).

    Raises:
        OptionError: one line naming each offending flag and its problem.
    """
    values: dict[str, Any] = {}
    for dest, value in vars(args).items():
        head, *rest = dest.split(".")
        if head not in config.model_fields:
            continue
        if rest:
            values.setdefault(head, {})[rest[0]] = value
        else:
            values[head] = value
    values.update(fixed)
    try:
        return config.model_validate(values)
    except ValidationError as e:
        raise OptionError(option_errors(e, flags)) from None


def option_errors(error: ValidationError, flags: dict[str, str] | None = None) -> str:
    """One line for all problems of a config: ``--min-labelled: Input should be ...; ...``."""
    problems = []
    for err in error.errors():
        names = [str(x) for x in err["loc"] if not isinstance(x, int)]
        where = flag_of(names[-1], flags) if names else "options"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


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
