"""The layers stay in order, the domain stays pure, and nothing below cli/ writes to stdout or
exits (STYLE.md section 2): domain -> storage -> services -> jobs -> cli, each module importing
only layers to its left (or its own)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "retention"
# The layers, left to right. `errors` and `clock` sit under everything; config (which the
# storage and everything after it are given) after the domain; the migrations beside the
# storage, whose schema they build; `retention/__init__.py` re-exports config and errors.
LAYERS = {
    "retention.errors": 0,
    "retention.clock": 0,
    "retention.logcontext": 0,
    "retention.domain": 1,
    "retention.reports": 1,
    "retention.config": 2,
    "retention": 2,
    "retention.storage": 3,
    "retention.migrations": 3,
    "retention.services": 4,
    "jobs": 5,
    "retention.cli": 6,
    "retention.__main__": 6,
}
MODULES = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "jobs").rglob("*.py")])


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _layer(module: str) -> int | None:
    """The layer of a module of ours (the longest matching prefix), None for others."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return None


def _imported(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imported(path)}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_imports_only_layers_to_its_left(path: Path) -> None:
    own = _layer(_module(path))
    assert own is not None, f"{path} belongs to no layer"
    later = [name for name in _imported(path) if (_layer(name) or 0) > own]
    assert not later, f"{_module(path)} imports {later}, which come after it"


def test_the_layer_check_sees_a_violation() -> None:
    assert (_layer("retention.services.purge"), _layer("retention.storage.leads")) == (4, 3)
    assert (_layer("jobs.runner") or 0) > 4 and (_layer("retention.cli.run") or 0) > 5
    assert _layer("sqlalchemy") is None


@pytest.mark.parametrize("path", sorted((PACKAGE / "domain").glob("*.py")), ids=lambda p: p.name)
def test_domain_imports_no_database_or_cli(path: Path) -> None:
    assert not _imports(path) & {"sqlalchemy", "click", "alembic", "psycopg"}


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if "cli" not in p.parts and p.name != "__main__.py"],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_cli_prints_or_exits(path: Path) -> None:
    tree = ast.parse(path.read_text())
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not calls & {"print", "sys.exit", "exit", "os._exit"}
    assert "click" not in _imports(path)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_scheduler_module_imports_apscheduler(path: Path) -> None:
    if path != ROOT / "jobs" / "scheduler.py":
        assert "apscheduler" not in _imports(path)
