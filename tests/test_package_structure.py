"""The layering the design relies on, checked on the source: the method never depends on the
synthetic city or on Prefect, and the synthetic city uses no stage of the method."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sunet"
SYNTH = PACKAGE / "synth"


def imports_of(path: Path) -> set[str]:
    """Modules ``path`` imports (absolute names; relative imports resolved in ``sunet``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_method_never_imports_the_synthetic_city() -> None:
    # The CLI names `lcz-map synth`, as a command, without importing it.
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in imports_of(p) if m.startswith("sunet.synth"))
        for p in modules(PACKAGE)
        if SYNTH not in p.parents
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_synthetic_city_uses_only_shared_primitives_of_the_library() -> None:
    # The LCZ registry, colour maths, atomic writes, option/lazy-export helpers: never a stage.
    allowed = ("sunet.synth", "sunet.lcz", "sunet.colour", "sunet.atomic", "sunet.options",
               "sunet.lazy")  # fmt: skip
    used = {
        str(p.relative_to(ROOT)): sorted(
            m for m in imports_of(p) if m.startswith("sunet.") and not m.startswith(allowed)
        )
        for p in modules(SYNTH)
    }
    assert {k: v for k, v in used.items() if v} == {}


def test_the_library_knows_nothing_of_prefect_or_the_flows() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            m for m in imports_of(p) if m.split(".")[0] in ("prefect", "prefect_dask", "flows")
        )
        for p in modules(PACKAGE)
    }
    assert {k: v for k, v in offenders.items() if v} == {}
