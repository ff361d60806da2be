"""The declaration machinery on a tree of its own: nested tables, variables, errors, rendering."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from retention.config.checks import boolean, optional_path, text, whole_number
from retention.config.loader import read_settings
from retention.config.schema import declared_keys, render_toml, secret, setting, table
from retention.errors import ConfigError


@dataclass(frozen=True, slots=True)
class JobSettings:
    schedule: str = setting("0 3 * * *", text, "When the job runs (cron syntax).")
    enabled: bool = setting(True, boolean, "")


@dataclass(frozen=True, slots=True)
class JobsSettings:
    timezone: str = setting("UTC", text, "Time zone of the schedules.")
    purge: JobSettings = table()
    erasure: JobSettings = table()


@dataclass(frozen=True, slots=True)
class StoreSettings:
    folder: Path | None = setting(
        "",
        optional_path,
        """
        Where files go
          (relative to the config file).
        """,
        path=True,
        env="RETENTION_STORE_DIRECTORY",
    )
    size: int = setting(10, whole_number(1, 99), "How many.", env="TREE_STORE_SIZE")
    token: str | None = secret(lambda value: value or None)


@dataclass(frozen=True, slots=True)
class Tree:
    jobs: JobsSettings = table()
    store: StoreSettings = table("file_store")


def _read(
    tmp_path: Path,
    document: str | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Tree:
    config_file = None
    if document is not None:
        config_file = tmp_path / "etc" / "tree.toml"
        config_file.parent.mkdir(exist_ok=True)
        config_file.write_text(document)
    return read_settings(Tree, config_file, environ=environ or {}, overrides=overrides or {})


def test_keys_of_nested_tables_have_dotted_names_and_variables() -> None:
    assert [(key.name, key.env) for key in declared_keys(Tree)] == [
        ("jobs.timezone", "RETENTION_JOBS_TIMEZONE"),
        ("jobs.purge.schedule", "RETENTION_JOBS_PURGE_SCHEDULE"),
        ("jobs.purge.enabled", "RETENTION_JOBS_PURGE_ENABLED"),
        ("jobs.erasure.schedule", "RETENTION_JOBS_ERASURE_SCHEDULE"),
        ("jobs.erasure.enabled", "RETENTION_JOBS_ERASURE_ENABLED"),
        ("file_store.folder", "RETENTION_STORE_DIRECTORY"),
        ("file_store.size", "TREE_STORE_SIZE"),
        ("RETENTION_FILE_STORE_TOKEN", "RETENTION_FILE_STORE_TOKEN"),
    ]


def test_defaults_come_from_the_declarations(tmp_path: Path) -> None:
    tree = _read(tmp_path)
    assert tree.jobs.purge == JobSettings("0 3 * * *", True)
    assert tree.jobs.erasure == tree.jobs.purge and tree.jobs.timezone == "UTC"
    assert tree.store == StoreSettings(folder=None, size=10, token=None)


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    document = '[jobs]\ntimezone = "CET"\n[jobs.purge]\nschedule = "@daily"\nenabled = false\n'
    tree = _read(tmp_path, document)
    assert (tree.jobs.timezone, tree.jobs.purge) == ("CET", JobSettings("@daily", False))
    assert tree.jobs.erasure.enabled is True
    environ = {
        "RETENTION_JOBS_PURGE_SCHEDULE": '"@hourly"',
        "RETENTION_JOBS_ERASURE_ENABLED": "false",
    }
    tree = _read(tmp_path, document, environ)
    assert tree.jobs.purge == JobSettings("@hourly", False) and tree.jobs.erasure.enabled is False
    tree = _read(tmp_path, document, environ, {"jobs.purge.schedule": "@weekly"})
    assert tree.jobs.purge.schedule == "@weekly"


def test_an_inline_nested_table_is_read_like_a_header(tmp_path: Path) -> None:
    tree = _read(tmp_path, "[jobs]\npurge = { enabled = false }\n")
    assert tree.jobs.purge == JobSettings("0 3 * * *", False)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param(
            '[jobs.purge]\nschedul = "@daily"\n', "jobs.purge.schedul: unknown key", id="key"
        ),
        pytest.param("[jobs.purge.later]\n", "jobs.purge.later: unknown key", id="table"),
        pytest.param("[jobs]\npurge = 3\n", "jobs.purge: expected a [section] table", id="value"),
        pytest.param(
            '[jobs.erasure]\nenabled = "yes"\n',
            "jobs.erasure.enabled: must be true or false",
            id="bad-value",
        ),
        pytest.param(
            "[file_store]\nsize = 100\n", "file_store.size: must be at most 99", id="range"
        ),
        pytest.param('[file_store]\ntoken = "x"\n', "file_store.token: unknown key", id="secret"),
    ],
)
def test_file_errors_name_the_full_dotted_key(tmp_path: Path, document: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _read(tmp_path, document)
    assert str(caught.value) == f"config: {message}"
    assert caught.value.key == message.split(":")[0]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        pytest.param(
            "RETENTION_JOBS_PURGE_ENABLED",
            "maybe",
            "jobs.purge.enabled: must be true or false",
            id="bad-value",
        ),
        pytest.param(
            "RETENTION_JOBS_PURGE_SCHEDUL",
            "@daily",
            "RETENTION_JOBS_PURGE_SCHEDUL: unknown setting "
            "(did you mean RETENTION_JOBS_PURGE_SCHEDULE?)",
            id="typo",
        ),
        pytest.param(
            "RETENTION_STORE_FOLDER",
            "/srv",
            "RETENTION_STORE_FOLDER: unknown setting (did you mean RETENTION_STORE_DIRECTORY?)",
            id="declared-name-wins",
        ),
    ],
)
def test_environment_errors_name_the_key_or_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _read(tmp_path, environ={variable: value})
    assert str(caught.value) == f"config: {message}"


def test_a_declared_variable_replaces_the_derived_one(tmp_path: Path) -> None:
    assert _read(tmp_path, environ={"TREE_STORE_SIZE": "12"}).store.size == 12
    with pytest.raises(ConfigError, match="RETENTION_FILE_STORE_SIZE: unknown setting"):
        _read(tmp_path, environ={"RETENTION_FILE_STORE_SIZE": "12"})


def test_path_keys_of_nested_tables_are_relative_to_the_config_file(tmp_path: Path) -> None:
    tree = _read(tmp_path, '[file_store]\nfolder = "data"\n')
    assert tree.store.folder == (tmp_path / "etc" / "data").resolve()
    from_env = _read(tmp_path, environ={"RETENTION_STORE_DIRECTORY": "data"})
    assert from_env.store.folder == Path("data")


def test_a_secret_comes_from_its_variable_only_and_is_never_shown(tmp_path: Path) -> None:
    tree = _read(tmp_path, environ={"RETENTION_FILE_STORE_TOKEN": "t0ken-42"})
    assert tree.store.token == "t0ken-42"
    assert "t0ken" not in repr(tree)
    assert "token" not in render_toml(Tree, "")


def test_nested_tables_render_after_their_parent_keys(tmp_path: Path) -> None:
    rendered = render_toml(Tree, "\nA tree.\n\n  Indented.\n")
    assert rendered == (
        "# A tree.\n"
        "#\n"
        "#   Indented.\n"
        "\n"
        "[jobs]\n"
        "# Time zone of the schedules.\n"
        'timezone = "UTC"\n'
        "\n"
        "[jobs.purge]\n"
        "# When the job runs (cron syntax).\n"
        'schedule = "0 3 * * *"\n'
        "enabled = true\n"
        "\n"
        "[jobs.erasure]\n"
        "# When the job runs (cron syntax).\n"
        'schedule = "0 3 * * *"\n'
        "enabled = true\n"
        "\n"
        "[file_store]\n"
        "# Where files go\n"
        "#   (relative to the config file).\n"
        'folder = ""\n'
        "\n"
        "# How many.\n"
        "size = 10\n"
    )
    config_file = tmp_path / "rendered.toml"
    config_file.write_text(rendered)
    assert tomllib.loads(rendered)["jobs"]["purge"] == {"schedule": "0 3 * * *", "enabled": True}
    assert read_settings(Tree, config_file, environ={}, overrides={}) == _read(tmp_path)


@dataclass(frozen=True, slots=True)
class ClashingInner:
    c: int = setting(1, whole_number(1), "")


@dataclass(frozen=True, slots=True)
class ClashingOuter:
    b_c: int = setting(1, whole_number(1), "")


@dataclass(frozen=True, slots=True)
class Clash:
    a: ClashingOuter = table()
    a_b: ClashingInner = table()


def test_two_keys_sharing_a_variable_are_refused() -> None:
    with pytest.raises(TypeError, match=r"a\.b_c and a_b\.c both use RETENTION_A_B_C"):
        declared_keys(Clash)


def test_an_override_of_no_setting_is_a_mistake(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match=r"jobs\.purge\.schedul"):
        _read(tmp_path, overrides={"jobs.purge.schedul": None})
