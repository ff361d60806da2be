from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from click.testing import CliRunner, Result

from retention.cli import cli


def run(args: list[str], env: Mapping[str, str], stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=dict(env), input=stdin, catch_exceptions=False)


def json_out(result: Result) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(result.stdout)
    return document
