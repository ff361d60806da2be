"""The settings, each declared once: its key, check, default, comment and variable. This
module declares the store's and the rules' tables and `Settings`, the whole tree; those of
running the jobs (schedules, scheduler, status, metrics, logs) are in operations.py.

config/default.toml is rendered from these declarations, and a test fails when the committed
file differs. After changing a declaration, regenerate it with

    python -m retention.config > config/default.toml

A key's default is written as in TOML; its comment is its text in default.toml; its variable
is RETENTION_<TABLE>_<KEY> (see `retention.config.schema.setting`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from retention.config.checks import (
    boolean,
    database_url,
    field_names,
    long_secret,
    number,
    optional_path,
    whole_number,
)
from retention.config.operations import (
    JobsSettings,
    LoggingSettings,
    MetricsSettings,
    SchedulerSettings,
    StatusSettings,
)
from retention.config.schema import render_toml, secret, setting, table
from retention.domain.erasure import DEFAULT_ERASED_FIELDS

# The public names are exported by retention.config (its __init__).

MIN_KEY_LENGTH = 32

HEADER = """
lead-retention: default configuration.

This file holds every setting and its default. Do not edit it in place: copy the keys you want
to change into your own file and name it with `--config PATH` (or the RETENTION_CONFIG
environment variable). Precedence, highest first:
  1. command-line options (--database-url, --log-format, -v, -q)
  2. environment variables RETENTION_<SECTION>_<KEY>, e.g. RETENTION_DATABASE_URL,
     RETENTION_IMPORT_BATCH_SIZE, RETENTION_SUBJECT_KEY_FILE
  3. the file named by --config / RETENTION_CONFIG
  4. this file
An unknown key or an invalid value stops every command with a one-line error naming the key
(exit code 2). The same goes for an environment variable RETENTION_* that names no setting,
except RETENTION_CONFIG, RETENTION_SUBJECT_KEY and the RETENTION_TEST_* and RETENTION_BENCH_*
variables of the test suite and the benchmarks.

Secrets never belong in a committed file: put the database password in RETENTION_DATABASE_URL
and the subject key in RETENTION_SUBJECT_KEY (or in a key file, below).

Generated from retention/config/settings.py and operations.py, where each setting is
declared:
  python -m retention.config > config/default.toml
"""


def mask_url(url: str) -> str:
    """Return `url` with any password replaced by ***, for display."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = setting(
        "sqlite:///retention.db",
        database_url,
        """
        SQLAlchemy URL of the lead store.
          SQLite (embedded default, no set-up):  sqlite:///retention.db
              (relative to the working directory; sqlite:////abs/path.db for an absolute path)
          PostgreSQL (production):               postgresql+psycopg://user@host:5432/dbname
        Shown only with the password masked. An in-memory SQLite database (sqlite:// or
        sqlite:///:memory:) is refused: it would lose every lead and audit event at exit.
        A SQLite store, its WAL and its lock files are created readable by their owner only
        (0600).
        """,
        literal_env=True,
    )
    busy_timeout_seconds: float = setting(
        30.0,
        number(0, range_text="greater than 0"),
        """
        SQLite only: how long a writer waits for another process's lock before giving up, in
        seconds.
        """,
    )

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class SubjectSettings:
    key_file: Path | None = setting(
        "",
        optional_path,
        """
        Seekers are looked up and remembered only through HMAC-SHA256 of their normalized email
        or phone number under a secret key (at least 32 characters).
        The key comes from the RETENTION_SUBJECT_KEY environment variable, or else from this file
        path (relative paths are taken from the directory of the config file that names them).
        When neither is set and the store is SQLite, a key file is generated beside the database
        file (<database>.key, mode 0600) the first time the store needs one. PostgreSQL stores
        need an explicit key. Keep the key with your backups: without it no seeker can be found
        again, and the store refuses to run with a different key than the one it was built with.
        """,
        path=True,
    )
    # The secret itself, from RETENTION_SUBJECT_KEY only; never printed.
    key: str | None = secret(long_secret(MIN_KEY_LENGTH))


@dataclass(frozen=True, slots=True)
class ImportSettings:
    batch_size: int = setting(
        2000,
        whole_number(1),
        """
        Leads written per round trip to the database. Larger batches are faster up to a point
        and hold more leads in memory (about 3 KB each).
        """,
    )
    max_errors_listed: int = setting(
        50,
        whole_number(1),
        """
        At most this many invalid records are listed one per line (and in --json "errors"); the
        count of all rejected records is always exact.
        """,
    )


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    ceiling_years: int = setting(
        3,
        whole_number(1),
        """
        A lead is due for deletion when its TTL has passed (rule "ttl"), or, whatever its TTL
        says, when it was ingested this many calendar years ago or more (rule "ceiling"): a
        guard against a wrong upstream TTL. The audit records which rule applied.
        """,
    )
    guard_max_share: float = setting(
        0.2,
        number(0, 1, range_text="a share between 0 (excluded) and 1, e.g. 0.2 for 20%"),
        """
        Blast-radius guard: a run that would delete more than this share of the store AND more
        than guard_max_leads leads stops before deleting anything (exit 1). A wrong clock or a
        bad import looks exactly like that. `retention purge --force` overrides it for one run,
        e.g. the first run on an old store.
        """,
    )
    guard_max_leads: int = setting(1000, whole_number(1), "")
    max_clock_skew_seconds: int = setting(
        300,
        whole_number(0, unit=" of seconds", low_text="0 or more"),
        """
        How far this host's clock and the portals' may disagree, in seconds. An import refuses a
        lead whose ingestionDate is more than this after the import's clock (a lead dated in the
        future). A purge refuses to run when its clock is more than this earlier than the newest
        time this tool recorded itself (its last purge run's start, its newest audit event): the
        clock went back. `retention purge --force` overrides that once.
        """,
    )


@dataclass(frozen=True, slots=True)
class PurgeSettings:
    batch_size: int = setting(
        0,
        whole_number(0, low_text="0 (automatic) or more"),
        """
        Leads deleted per transaction, each with its audit events. Smaller batches hold locks for
        less time; larger ones are a little faster. 0 = automatic: 5000 on PostgreSQL, 800 on
        SQLite, whose commits write every page a batch touched (measured on a million leads:
        about half a second per batch at these sizes).
        """,
    )
    workers: int = setting(
        1,
        whole_number(1),
        """
        PostgreSQL only: how many purge workers may run at the same time (each takes its own
        disjoint batches with FOR UPDATE SKIP LOCKED). 1 = one run at a time. SQLite always runs
        one.
        """,
    )
    vacuum: bool = setting(
        True,
        boolean,
        """
        After a run that deleted something: SQLite checkpoints and truncates its WAL; PostgreSQL
        vacuums the changed tables (true) or only reports the dead rows left (false).
        """,
    )


@dataclass(frozen=True, slots=True)
class ErasureSettings:
    fields: tuple[str, ...] = setting(
        list(DEFAULT_ERASED_FIELDS),
        field_names,
        """
        A seeker's erasure request nulls these contactRequest fields of every lead of theirs, in
        the columns and inside the stored upstream JSON alike; phoneNumbers always becomes [].
        Lead metadata and the property or project parts stay until the TTL purge.
        Allowed: firstName, lastName, name, gender, email, language, message, isOwner (the names
        are case-sensitive). The list must hold at least firstName, lastName, name, gender,
        language and message, which the upstream API's own erasure nulls; the read-back after an
        erasure always checks those, whatever this list says.
        """,
    )
    batch_size: int = setting(
        500,
        whole_number(1),
        """
        Requests handled per transaction by the erasure job (each with its leads and audit
        events).
        """,
    )
    workers: int = setting(
        2,
        # Each worker holds one pooled connection; the engine's pool has 5 (plus 10 overflow).
        whole_number(1, 8),
        """
        PostgreSQL only: batches one erasure run carries out at the same time, each in its own
        transaction on its own connection (requests taken with FOR UPDATE SKIP LOCKED; the audit
        chain stays one chain). A request whose leads the other batch was erasing at that moment
        is taken up again at the end of the run (not when the run is stopped or fails: then the
        next run does it). 1 to 8. SQLite has a single writer and always runs 1.
        """,
    )
    vacuum: bool = setting(
        True,
        boolean,
        """
        After a run that erased something: SQLite checkpoints and truncates its WAL; PostgreSQL
        vacuums leads, lead_subjects and erasure_requests (true) or only reports the dead rows
        (false).
        """,
    )


@dataclass(frozen=True, slots=True)
class AuditSettings:
    anchor_file: Path | None = setting(
        "",
        optional_path,
        """
        Every run publishes the audit chain head (event id and hash) in its log line and --json
        output. When this names a file, each run also appends
        "<time> <job> <run id> <event id>:<hash>" to it: keep it somewhere the database's writers
        cannot rewrite (relative to the config file).
        """,
        path=True,
    )
    journal_file: Path | None = setting(
        "",
        optional_path,
        """
        The audit journal: when this names a file, every audit event (same id, content and
        hash as in audit_events) and every suppression entry (request id, subject kind, keyed
        hash: never a clear identifier) is appended to it as a JSON line, fsynced, at the
        latest at the end of each run or command (one interrupted is caught up by the next).
        After restoring the database from a backup, `retention replay --journal FILE` puts
        back every purge, erasure and suppression entry the backup lost. Keep it on another
        disk than the database, and back it up separately (relative to the config file).
        """,
        path=True,
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Every table of the configuration, by attribute; `config_file` is the file it read."""

    database: DatabaseSettings = table()
    subject: SubjectSettings = table()
    imports: ImportSettings = table("import")
    retention: RetentionSettings = table()
    purge: PurgeSettings = table()
    erasure: ErasureSettings = table()
    audit: AuditSettings = table()
    jobs: JobsSettings = table()
    scheduler: SchedulerSettings = table()
    status: StatusSettings = table()
    metrics: MetricsSettings = table()
    logging: LoggingSettings = table()
    config_file: Path | None = None


def render_default_toml() -> str:
    """The text of config/default.toml: every key with its comment and its default."""
    return render_toml(Settings, HEADER)
