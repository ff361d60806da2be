"""The domain stays pure, and nothing below cli/ writes to stdout or exits."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "retention"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0] if node.level == 0 else node.module)
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "domain").glob("*.py")), ids=lambda p: p.name)
def test_domain_imports_no_database_or_cli(path: Path) -> None:
    assert not _imports(path) & {"sqlalchemy", "click", "alembic", "psycopg"}


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.parts and p.name != "__main__.py"),
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_only_the_cli_prints_or_exits(path: Path) -> None:
    tree = ast.parse(path.read_text())
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not calls & {"print", "sys.exit", "exit"}
    assert "click" not in _imports(path)
