"""STAC validation without a network: stac-validator with every schema it needs read from disk.

stac-validator fetches the JSON schemas a document names (the core STAC schemas and one per
extension in ``stac_extensions``) from their URLs, and follows the ``$ref``s inside them. Its
``schema_map`` option maps any such URL to a local file, so the same validation runs offline:

* the core STAC 1.1.0 schemas and the GeoJSON schemas they reference ship inside pystac
  (``pystac/validation/jsonschemas``, the files pystac's own validator uses);
* the extension schemas are vendored in ``tests/stac_schemas/`` (see its README): projection
  v2.0.0, raster v1.1.0 and classification v2.0.0, byte-for-byte the files published at the URLs
  in their ``$id``.

:func:`validate_offline` also blocks sockets while it runs, so a schema missing from the map fails
the test instead of being fetched quietly on a machine that happens to have a network.
"""

from __future__ import annotations

import importlib.resources
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).parent / "stac_schemas"
_STAC = "https://schemas.stacspec.org/v1.1.0"


def schema_map() -> dict[str, str]:
    """Schema URL -> local file, for every schema the map catalogs need."""
    bundled = Path(str(importlib.resources.files("pystac.validation.jsonschemas")))
    mapping: dict[str, str] = {}
    for f in (bundled / "stac-spec" / "v1.1.0").glob("*.json"):
        spec = {"catalog": "catalog-spec", "collection": "collection-spec"}.get(f.stem, "item-spec")
        mapping[f"{_STAC}/{spec}/json-schema/{f.name}"] = str(f)
    for f in (bundled / "geojson").glob("*.json"):
        mapping[f"https://geojson.org/schema/{f.name}"] = str(f)
    for f in SCHEMAS.glob("*.json"):
        name, version = f.stem.rsplit("-v", 1)  # projection-v2.0.0.json
        mapping[f"https://stac-extensions.github.io/{name}/v{version}/schema.json"] = str(f)
    return mapping


@contextmanager
def _no_network() -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network access during validation: a schema is missing from schema_map()")

    connect = socket.socket.connect
    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = connect  # type: ignore[method-assign]


def validate_offline(path: Path) -> list[dict[str, Any]]:
    """Validate the STAC document at ``path`` and everything it links to (children, items),
    core and extension schemas; returns stac-validator's message per document."""
    with warnings.catch_warnings():
        # The import module keeps its old name and warns about the distribution's new one.
        warnings.simplefilter("ignore", DeprecationWarning)
        from stac_validator.validate import StacValidate

    with _no_network():
        validator = StacValidate(str(path), recursive=True, schema_map=schema_map())
        validator.run()
    return list(validator.message)
