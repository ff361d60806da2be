"""Exception hierarchy. Each error carries the exit code the CLI turns it into (SPEC section 6).

Messages are built from keys, record positions, lead ids and field names, never from the
values of personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

__all__ = [
    "ConfigError",
    "DatabaseUnavailableError",
    "GuardError",
    "InputError",
    "JournalError",
    "RetentionError",
    "SchemaNotCurrentError",
    "SchemaTooNewError",
    "SubjectKeyError",
    "VerificationError",
]


class RetentionError(Exception):
    """Base class of every error this tool reports to its user."""

    exit_code: ClassVar[int] = 1


class ConfigError(RetentionError):
    """An invalid configuration value; the message names the key."""

    exit_code: ClassVar[int] = 2

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config: {key}: {problem}")
        self.key = key


class SubjectKeyError(RetentionError):
    """The subject key is missing, too weak, or not the key this store was built with."""

    exit_code: ClassVar[int] = 2


class InputError(RetentionError):
    """Bad input (a file that cannot be read, invalid records, a bad option value)."""

    exit_code: ClassVar[int] = 2


class DatabaseUnavailableError(RetentionError):
    """The database cannot be reached or opened."""

    exit_code: ClassVar[int] = 3


class SchemaNotCurrentError(RetentionError):
    """The database schema is missing or older than this version of the tool."""

    exit_code: ClassVar[int] = 3


class SchemaTooNewError(SchemaNotCurrentError):
    """The database schema is at a revision this version of the tool does not know: a newer
    version of the tool upgraded it. `db upgrade` cannot help; upgrading the tool does."""


class GuardError(RetentionError):
    """A run refused to delete: the blast-radius guard or the clock check said no."""

    exit_code: ClassVar[int] = 1


class JournalError(RetentionError):
    """The audit journal and the store disagree: the store looks restored from a backup (the
    journal holds events past its chain head), or a journal does not continue the store's
    chain (another store's, altered, or with a gap). The message names the event or line."""

    exit_code: ClassVar[int] = 1


class VerificationError(RetentionError):
    """Erased leads, read back, still hold values of the policy's fields. The message names
    the leads by id, never the values."""

    exit_code: ClassVar[int] = 1

    def __init__(self, lead_ids: Sequence[str], sample: int = 10) -> None:
        super().__init__(
            f"erasure verification failed: {len(lead_ids)} lead(s) still hold erased fields "
            f"after the update: {', '.join(sorted(lead_ids)[:sample])}"
        )
        self.lead_ids = tuple(lead_ids)
