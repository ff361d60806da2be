"""The README stays true: every command is documented, the quick start is what CI runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from retention.cli import cli
from retention.config import Settings
from retention.config.schema import declared_keys, toml_value

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _commands(command, f"{path} ")
        else:
            yield path, command


COMMANDS = list(_commands(cli))


def test_every_command_is_listed() -> None:
    assert {"erase", "requests add", "requests import", "requests list", "run"} <= {
        path for path, _ in COMMANDS
    }


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_and_is_in_the_readme(path: str, command: click.Command) -> None:
    assert command.help and len(command.help) > 20
    assert f"retention {path}" in README


def _quick_start_blocks() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.*?)```", section, flags=re.DOTALL)


def test_quick_start_is_two_commands_that_ci_runs() -> None:
    (block,) = _quick_start_blocks()
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        assert command in ci


def _configuration_table() -> dict[str, str]:
    """key -> default cell of the README's configuration table."""
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \| .+ \|$", section, flags=re.MULTILINE)
    return dict(rows)


def _readme_default(value: object) -> str:
    if value == "":
        return "(empty)"
    return f"`{value if isinstance(value, str) else toml_value(value)}`"


def test_every_setting_is_in_the_readme_configuration_table_with_its_default() -> None:
    keys = [key for key in declared_keys(Settings) if key.in_files]
    declared = {key.name: _readme_default(key.default) for key in keys}
    assert _configuration_table() == declared


def test_every_metric_is_documented() -> None:
    from jobs.metrics import METRICS

    section = README.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    for name, meaning in METRICS.items():
        assert f"| `{name}` | {meaning}" in section, name
