"""The import rules of the layers (STYLE.md), read from the source with `ast`, nothing imported.

- ``leadsync.core`` is pure: the standard library and ``leadsync.core`` only.
- connectors and state stores read and write what they are told: they never import the engine,
  the composition modules or the deciding parts of the core (planner, merge), nor each other.
- handlers only wire and call: of leadsync they import the entry points, never the layers below.
- the phases of a cycle (``leadsync.cycle``) sit below the engine that runs them: they never import
  the engine or the composition modules.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "functions"
PACKAGE = ROOT / "leadsync"

DECIDING = ("leadsync.engine", "leadsync.app", "leadsync.wiring", "leadsync.cli", "leadsync.core.planner")
DECIDING += ("leadsync.core.merge", "leadsync.cycle", "leadsync.fanout", "leadsync.webhooks")
HANDLER_ENTRY_POINTS = {
    "leadsync.app",
    "leadsync.fanout",
    "leadsync.webhooks.service",
    "leadsync.wiring",
    "leadsync.engine",
    "leadsync.config",
    "leadsync.observability",
    "leadsync.errors",
}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, anywhere in it (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            # "from leadsync.core import planner" imports leadsync.core.planner
            found.update(f"{target}.{alias.name}" for alias in node.names if target.startswith("leadsync"))
    return found


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


CORE = sources("leadsync/core")
ADAPTERS = sources("leadsync/connectors") + sources("leadsync/state")
PHASES = sources("leadsync/cycle")
HANDLERS = sources("handlers") if (ROOT / "handlers").is_dir() else []


def test_the_rules_see_the_modules() -> None:
    assert len(CORE) >= 5
    assert any(p.name == "planner.py" for p in CORE)
    assert imports(PACKAGE / "core" / "planner.py") >= {"leadsync.core.mapping", "leadsync.core.merge"}
    assert {p.name for p in PHASES} >= {"fetch.py", "confirm.py", "apply.py", "commit.py"}
    assert imports(PACKAGE / "engine.py") >= {f"leadsync.cycle.{phase}" for phase in ("fetch", "apply", "commit")}


def foreign_to_core(names: set[str]) -> list[str]:
    return sorted(
        name
        for name in names
        if not within(name, "leadsync.core")
        and name != "__future__"
        and name.split(".")[0] not in sys.stdlib_module_names
    )


@pytest.mark.parametrize("path", CORE, ids=_ids(CORE))
def test_core_imports_only_the_standard_library_and_itself(path: Path) -> None:
    foreign = foreign_to_core(imports(path))
    assert foreign == [], f"{module_name(path)} imports {foreign}"


@pytest.mark.parametrize("path", ADAPTERS, ids=_ids(ADAPTERS))
def test_connectors_and_state_never_import_what_decides(path: Path) -> None:
    own = "leadsync.connectors" if within(module_name(path), "leadsync.connectors") else "leadsync.state"
    other = "leadsync.state" if own == "leadsync.connectors" else "leadsync.connectors"
    bad = sorted(name for name in imports(path) if any(within(name, d) for d in (*DECIDING, other)))
    assert bad == [], f"{module_name(path)} imports {bad}"


ABOVE_THE_PHASES = ("leadsync.engine", "leadsync.app", "leadsync.fanout", "leadsync.wiring", "leadsync.cli")


@pytest.mark.parametrize("path", PHASES, ids=_ids(PHASES))
def test_phases_never_import_the_engine_that_runs_them(path: Path) -> None:
    bad = sorted(name for name in imports(path) if any(within(name, m) for m in ABOVE_THE_PHASES))
    assert bad == [], f"{module_name(path)} imports {bad}"


def test_handlers_exist_or_are_skipped() -> None:
    if not any(p.name != "__init__.py" for p in HANDLERS):
        pytest.skip("functions/handlers has no handler yet")


@pytest.mark.parametrize("path", HANDLERS, ids=_ids(HANDLERS))
def test_handlers_import_only_leadsync_entry_points(path: Path) -> None:
    ours = {name for name in imports(path) if within(name, "leadsync")}
    # "from leadsync.app import run" also yields "leadsync.app.run": judge the module part
    modules = {name for name in ours if not any(name.startswith(m + ".") for m in HANDLER_ENTRY_POINTS)}
    bad = sorted(modules - HANDLER_ENTRY_POINTS)
    assert bad == [], f"{module_name(path)} reaches below the entry points: {bad}"


def test_rule_checker_catches_a_violation(tmp_path: Path) -> None:
    """The checker itself can fail: imports hidden in a function or made relative are all seen."""
    core = tmp_path / "leadsync" / "core"
    core.mkdir(parents=True)
    bad = core / "bad.py"
    bad.write_text(
        "import json\nfrom . import models\nfrom ..engine import Engine\n\ndef f():\n    import requests\n",
        encoding="utf-8",
    )
    found = imports(bad, root=tmp_path)
    assert {"json", "leadsync.core.models", "leadsync.engine", "requests"} <= found
    assert foreign_to_core(found) == ["leadsync.engine", "leadsync.engine.Engine", "requests"]
