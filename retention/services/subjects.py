"""Turning an identifier a person typed (email, phone, lead id) into a subject of the store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from retention.config import Settings
from retention.domain.normalize import is_international, normalize_email, normalize_phone
from retention.domain.subjects import subject_hash
from retention.errors import InputError
from retention.services.subject_key import subject_key_for_store

__all__ = ["Subject", "subject_of"]


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # email, phone or lead_id
    lead_id: str | None = None
    hash: bytes | None = None


def subject_of(
    settings: Settings,
    conn: Connection,
    *,
    email: str | None = None,
    phone: str | None = None,
    lead_id: str | None = None,
    region: str | None = None,
) -> Subject:
    """Exactly one of email, phone or lead id; blank or ambiguous identifiers are refused."""
    given = [
        name
        for name, value in (("email", email), ("phone", phone), ("lead_id", lead_id))
        if value is not None
    ]
    if len(given) != 1:
        raise InputError("give exactly one of --email, --phone or --lead-id")
    if lead_id is not None:
        if not lead_id.strip():
            raise InputError("--lead-id: must not be blank")
        return Subject("lead_id", lead_id=lead_id.strip())
    key = subject_key_for_store(settings, conn)
    if email is not None:
        normalized = normalize_email(email)
        if normalized is None:
            raise InputError("--email: must not be blank")
        return Subject("email", hash=subject_hash(key, "email", normalized))
    assert phone is not None
    if not is_international(phone) and region is None:
        raise InputError(
            "--phone: give the number with its country code (+33...) or name --region "
            "(FR, DE, BE, AT, ...)"
        )
    number = normalize_phone(phone, region.upper() if region else None)
    if number is None:
        raise InputError("--phone: must contain digits")
    return Subject("phone", hash=subject_hash(key, "phone", number))
