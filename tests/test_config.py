from __future__ import annotations

import functools
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from retention.config import Settings, load_settings, mask_url, render_default_toml
from retention.config.schema import Key, declared_keys, toml_value
from retention.errors import ConfigError

KEY = "k" * 40


def test_defaults_come_from_config_default_toml() -> None:
    settings = load_settings(environ={})
    assert settings.database.url == "sqlite:///retention.db"
    assert settings.imports.batch_size == 2000
    assert settings.logging.format == "text"
    assert settings.subject.key is None and settings.subject.key_file is None


def test_packaged_defaults_are_the_repository_file() -> None:
    packaged = Path(__file__).parents[1] / "retention" / "default.toml"
    shipped = Path(__file__).parents[1] / "config" / "default.toml"
    assert packaged.read_text() == shipped.read_text()


def test_precedence_cli_over_env_over_file(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[import]\nbatch_size = 10\n[logging]\nformat = "json"\n')
    assert load_settings(config, environ={}).imports.batch_size == 10
    env = {"RETENTION_IMPORT_BATCH_SIZE": "20"}
    assert load_settings(config, environ=env).imports.batch_size == 20
    settings = load_settings(config, environ=env, overrides={"logging.format": "text"})
    assert settings.logging.format == "text"


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text("[import]\nbatch_size = 7\n")
    settings = load_settings(environ={"RETENTION_CONFIG": str(config)})
    assert settings.imports.batch_size == 7
    assert settings.config_file == config


@pytest.mark.parametrize(
    ("document", "key"),
    [
        pytest.param("[import]\nbatch_size = 0\n", "import.batch_size", id="zero"),
        pytest.param('[import]\nbatch_size = "many"\n', "import.batch_size", id="string"),
        pytest.param("[import]\nbatch_sise = 5\n", "import.batch_sise", id="typo"),
        pytest.param('[logging]\nformat = "xml"\n', "logging.format", id="enum"),
        pytest.param('[database]\nurl = "mysql://x/y"\n', "database.url", id="backend"),
        pytest.param(
            '[database]\nurl = "postgresql+psycopg2://h/db"\n', "database.url", id="driver"
        ),
        pytest.param("import = 3\n", "import", id="not-a-table"),
        pytest.param("[erasure]\nfields = []\n", "erasure.fields", id="no-fields"),
        pytest.param('[erasure]\nfields = ["first name"]\n', "erasure.fields", id="bad-field"),
        pytest.param('[erasure]\nfields = "email"\n', "erasure.fields", id="not-a-list"),
        pytest.param("[erasure]\nworkers = 9\n", "erasure.workers", id="too-many-workers"),
    ],
)
def test_invalid_value_names_the_key(tmp_path: Path, document: str, key: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(document)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert caught.value.key == key
    assert key in str(caught.value)
    assert "\n" not in str(caught.value)


def test_invalid_environment_value_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"import\.batch_size"):
        load_settings(environ={"RETENTION_IMPORT_BATCH_SIZE": "-3"})


def test_missing_and_broken_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[import\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(broken, environ={})


def test_subject_key_from_environment_must_be_long_enough() -> None:
    assert load_settings(environ={"RETENTION_SUBJECT_KEY": KEY}).subject.key == KEY
    with pytest.raises(ConfigError, match="RETENTION_SUBJECT_KEY"):
        load_settings(environ={"RETENTION_SUBJECT_KEY": "short"})


def test_subject_key_is_never_in_the_settings_repr() -> None:
    settings = load_settings(environ={"RETENTION_SUBJECT_KEY": KEY})
    assert KEY not in repr(settings)


def test_key_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "site.toml"
    config.write_text('[subject]\nkey_file = "secret.key"\n')
    settings = load_settings(config, environ={})
    assert settings.subject.key_file == (tmp_path / "etc" / "secret.key").resolve()


def test_database_urls_are_shown_masked() -> None:
    url = "postgresql+psycopg://app:s3cret@db.internal:5432/leads"
    settings = load_settings(environ={"RETENTION_DATABASE_URL": url})
    assert settings.database.masked_url == "postgresql+psycopg://app:***@db.internal:5432/leads"
    assert "s3cret" not in repr(settings.database.masked_url)
    assert mask_url("not a url") == "<unparseable database URL>"


UPSTREAM_SIX = '"firstName", "lastName", "name", "gender", "language", "message"'


def test_erased_fields_come_from_config_and_environment(tmp_path: Path) -> None:
    assert load_settings(environ={}).erasure.fields == (
        "firstName", "lastName", "name", "gender", "language", "message", "email", "isOwner",
    )  # fmt: skip
    config = tmp_path / "policy.toml"
    config.write_text(f'[erasure]\nfields = ["phoneNumbers", {UPSTREAM_SIX}, "firstName"]\n')
    assert load_settings(config, environ={}).erasure.fields == (
        "firstName", "lastName", "name", "gender", "language", "message",
    )  # fmt: skip
    from_env = load_settings(environ={"RETENTION_ERASURE_FIELDS": f'["email", {UPSTREAM_SIX}]'})
    assert from_env.erasure.fields[0] == "email"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param('["shoeSize"]', "'shoeSize' is not a contactRequest field", id="unknown"),
        pytest.param(
            '["firstname"]', "'firstname' is not a contactRequest field (did you mean "
            "'firstName'?)", id="wrong-case",
        ),
        pytest.param(
            '["email", "firstName"]', "must include lastName, name, gender, language, message",
            id="leaves-out-upstream-fields",
        ),
    ],
)  # fmt: skip
def test_erased_fields_must_be_contact_request_fields_and_cover_the_upstream_erasure(
    fields: str, message: str
) -> None:
    """A field list that is not the contract's would mark leads erased while their data stays
    (and drop the hashes that find the seeker): a config error naming the key and the field."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"RETENTION_ERASURE_FIELDS": fields})
    assert caught.value.key == "erasure.fields"
    assert message in str(caught.value)


def test_an_environment_variable_naming_no_setting_is_refused_like_a_file_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"RETENTION_PURGE_BATCHSIZE": "5"})
    assert caught.value.key == "RETENTION_PURGE_BATCHSIZE"
    assert str(caught.value) == (
        "config: RETENTION_PURGE_BATCHSIZE: unknown setting "
        "(did you mean RETENTION_PURGE_BATCH_SIZE?)"
    )


def test_variables_that_are_not_settings_stay_allowed() -> None:
    settings = load_settings(
        environ={
            "RETENTION_SUBJECT_KEY": KEY,
            "RETENTION_TEST_POSTGRES_URL": "postgresql+psycopg://x@y/z",
            "RETENTION_BENCH_WORKDIR": "/tmp/bench",
            "RETENTION_PURGE_BATCH_SIZE": "5",
            "OTHER_RETENTION_THING": "1",
        }
    )
    assert settings.purge.batch_size == 5


def test_the_clock_skew_is_configurable() -> None:
    assert load_settings(environ={}).retention.max_clock_skew_seconds == 300
    env = {"RETENTION_RETENTION_MAX_CLOCK_SKEW_SECONDS": "0"}
    assert load_settings(environ=env).retention.max_clock_skew_seconds == 0
    with pytest.raises(ConfigError, match=r"retention\.max_clock_skew_seconds"):
        load_settings(environ={"RETENTION_RETENTION_MAX_CLOCK_SKEW_SECONDS": "-1"})


ROOT = Path(__file__).parents[1]
FILE_KEYS = [key for key in declared_keys(Settings) if key.in_files]


def test_config_default_toml_is_the_rendering_of_the_declarations() -> None:
    committed = (ROOT / "config" / "default.toml").read_text()
    assert committed == render_default_toml(), (
        "config/default.toml differs from the declarations in retention/config/: "
        "run `python -m retention.config > config/default.toml`"
    )


def test_python_m_retention_config_writes_default_toml() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "retention.config"], capture_output=True, text=True, check=True
    )
    assert done.stdout == render_default_toml()


def test_the_rendered_defaults_read_back_as_the_declared_defaults(tmp_path: Path) -> None:
    document = tomllib.loads(render_default_toml())
    assert {
        key.path: functools.reduce(lambda table, name: table[name], key.path, document)
        for key in FILE_KEYS
    } == {key.path: key.default for key in FILE_KEYS}
    config = tmp_path / "defaults.toml"
    config.write_text(render_default_toml())
    from_file = load_settings(config, environ={})
    assert from_file == load_settings(config, environ={"RETENTION_CONFIG": "ignored"})
    assert from_file.config_file == config
    # Paths named in the file are relative to it; the defaults, to the working directory.
    as_default = repr(from_file).replace(repr(config), "None").replace(f"{config.parent}/", "")
    assert as_default == repr(load_settings(environ={}))


@pytest.mark.parametrize("key", FILE_KEYS, ids=[key.name for key in FILE_KEYS])
def test_every_setting_has_its_variable_and_reads_its_default_from_it(key: Key) -> None:
    assert key.env == "RETENTION_" + key.name.replace(".", "_").upper()
    raw = key.default if key.literal_env else toml_value(key.default)
    assert load_settings(environ={key.env: raw}) == load_settings(environ={})


def test_the_subject_key_is_not_a_file_setting() -> None:
    (key,) = [key for key in declared_keys(Settings) if not key.in_files]
    assert (key.name, key.path) == ("RETENTION_SUBJECT_KEY", ("subject", "key"))
    assert tomllib.loads(render_default_toml())["subject"] == {"key_file": ""}


@pytest.mark.parametrize(
    "document",
    [
        pytest.param('[subject]\nkey = "' + KEY + '"\n', id="subject-key"),
        pytest.param("[jobs.cleanup]\n", id="empty-table"),
        pytest.param("[import.batch]\nsize = 5\n", id="sub-table"),
    ],
)
def test_keys_that_are_no_file_setting_are_unknown(tmp_path: Path, document: str) -> None:
    config = tmp_path / "site.toml"
    config.write_text(document)
    with pytest.raises(ConfigError, match=r"unknown key$"):
        load_settings(config, environ={})


def test_anchor_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    config = tmp_path / "etc" / "site.toml"
    config.write_text('[audit]\nanchor_file = "../anchors.txt"\n')
    settings = load_settings(config, environ={"RETENTION_SUBJECT_KEY_FILE": "k.key"})
    assert settings.audit.anchor_file == (tmp_path / "anchors.txt").resolve()
    assert settings.subject.key_file == Path("k.key")


SHARE = "must be a share between 0 (excluded) and 1, e.g. 0.2 for 20%"
CHECKS = [
    ("at-least", "IMPORT_BATCH_SIZE", "0", "must be at least 1"),
    ("whole", "IMPORT_BATCH_SIZE", "1.5", "must be a whole number"),
    ("bool-is-no-int", "IMPORT_BATCH_SIZE", "true", "must be a whole number"),
    ("at-most", "ERASURE_WORKERS", "9", "must be at most 8"),
    ("at-most-ok", "ERASURE_WORKERS", "8", None),
    ("workers-0", "ERASURE_WORKERS", "0", "must be at least 1"),
    ("automatic", "PURGE_BATCH_SIZE", "-1", "must be 0 (automatic) or more"),
    ("automatic-ok", "PURGE_BATCH_SIZE", "0", None),
    ("seconds", "RETENTION_MAX_CLOCK_SKEW_SECONDS", "1.5", "must be a whole number of seconds"),
    ("seconds-0", "RETENTION_MAX_CLOCK_SKEW_SECONDS", "-1", "must be 0 or more"),
    ("positive", "DATABASE_BUSY_TIMEOUT_SECONDS", "0", "must be greater than 0"),
    ("number", "DATABASE_BUSY_TIMEOUT_SECONDS", "soon", "must be a number"),
    ("int-is-a-number", "DATABASE_BUSY_TIMEOUT_SECONDS", "1", None),
    ("share", "RETENTION_GUARD_MAX_SHARE", "1.5", SHARE),
    ("share-0", "RETENTION_GUARD_MAX_SHARE", "0", SHARE),
    ("share-1", "RETENTION_GUARD_MAX_SHARE", "1", None),
    ("bool-is-no-float", "RETENTION_GUARD_MAX_SHARE", "false", "must be a number"),
    ("boolean", "PURGE_VACUUM", "yes", "must be true or false"),
    ("one-of", "LOGGING_LEVEL", "loud", "must be one of debug, info, warning, error"),
    ("any-case", "LOGGING_LEVEL", "WARNING", None),
    ("string", "LOGGING_FORMAT", "3", "must be a string"),
    ("list", "ERASURE_FIELDS", '"email"', "must be a list of field names"),
    ("memory", "DATABASE_URL", "sqlite://", "is an in-memory SQLite database"),
    ("url", "DATABASE_URL", "nope", "is not a database URL"),
    ("no-anchor", "AUDIT_ANCHOR_FILE", "", None),
    ("short-key", "SUBJECT_KEY", "  short  ", "must be at least 32 characters"),
    ("empty-key", "SUBJECT_KEY", "", None),
]


@pytest.mark.parametrize(
    ("variable", "value", "message"), [case[1:] for case in CHECKS], ids=[c[0] for c in CHECKS]
)
def test_each_check_says_what_is_wrong(variable: str, value: str, message: str | None) -> None:
    """The folded checks keep every message; the key named is the variable's setting."""
    environ = {f"RETENTION_{variable}": value}
    if message is None:
        load_settings(environ=environ)
        return
    (key,) = [key for key in declared_keys(Settings) if key.env == f"RETENTION_{variable}"]
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert str(caught.value).startswith(f"config: {key.name}: {message}")
