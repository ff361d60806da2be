"""The secret key of the subject hashes: where it comes from, and that it is the store's key."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from sqlalchemy import Connection

from retention.config import MIN_KEY_LENGTH, Settings
from retention.domain.subjects import key_fingerprint
from retention.errors import SubjectKeyError
from retention.storage.engine import sqlite_path
from retention.storage.meta import get_meta, set_meta_once

__all__ = ["default_key_file", "subject_key_for_store"]

logger = logging.getLogger(__name__)

FINGERPRINT_KEY = "subject_key_fingerprint"


def default_key_file(settings: Settings) -> Path | None:
    """`<database file>.key` for a SQLite store; None for PostgreSQL or in-memory SQLite."""
    path = sqlite_path(settings.database.url)
    return path.with_name(path.name + ".key") if path is not None else None


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SubjectKeyError(f"subject key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SubjectKeyError(f"cannot read subject key file {path}: {exc}") from None
    if len(text) < MIN_KEY_LENGTH:
        raise SubjectKeyError(
            f"subject key file {path}: the key must be at least {MIN_KEY_LENGTH} characters"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("subject key file %s is readable by other users: chmod 600 it", path)
    return text.encode("utf-8")


def _generate_key_file(path: Path) -> bytes:
    """Create the key file (mode 0600) unless another process just did; return its key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    except OSError as exc:
        raise SubjectKeyError(f"cannot create subject key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    logger.info("generated subject key file %s (mode 0600): back it up with the database", path)
    return _read_key_file(path)


def subject_key_for_store(settings: Settings, conn: Connection) -> bytes:
    """The subject key, checked against the fingerprint the store recorded on first use.

    Source, first found: RETENTION_SUBJECT_KEY, subject.key_file, `<database>.key` beside a
    SQLite store (generated when the store has never had a key). The first use records the
    key's fingerprint in the store (inside the caller's transaction).
    """
    recorded = get_meta(conn, FINGERPRINT_KEY)
    if settings.subject.key is not None:
        key, origin = settings.subject.key.encode("utf-8"), "RETENTION_SUBJECT_KEY"
    elif settings.subject.key_file is not None:
        key, origin = _read_key_file(settings.subject.key_file), str(settings.subject.key_file)
    else:
        default = default_key_file(settings)
        if default is None:
            raise SubjectKeyError(
                "no subject key: set RETENTION_SUBJECT_KEY or subject.key_file "
                "(a PostgreSQL store needs an explicit key)"
            )
        if recorded is None:
            key = _generate_key_file(default)
        else:
            key = _read_key_file(default)
        origin = str(default)
    fingerprint = key_fingerprint(key)
    if recorded is None:
        recorded = set_meta_once(conn, FINGERPRINT_KEY, fingerprint)
    if recorded != fingerprint:
        raise SubjectKeyError(
            f"the subject key from {origin} is not the key this store was built with "
            f"(fingerprint {fingerprint[:8]}, store expects {recorded[:8]}): "
            "use the original key, or no seeker can be found"
        )
    return key
