"""Turning an identifier a person typed (email, phone, lead id) into a subject of the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict, Unpack

from sqlalchemy import Connection

from retention.config import Settings
from retention.domain.normalize import (
    is_international,
    normalize_email,
    normalize_phone,
    parse_region,
)
from retention.domain.subjects import subject_hash
from retention.domain.validation import lead_id_problem
from retention.errors import InputError
from retention.services.subject_key import subject_key_for_store

__all__ = [
    "RequestSubject",
    "Subject",
    "SubjectArgs",
    "checked_region",
    "normalized_identifier",
    "request_subject_of",
    "subject_of",
]


@dataclass(frozen=True, slots=True)
class Subject:
    kind: str  # email, phone or lead_id
    lead_id: str | None = None
    hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class RequestSubject:
    """The subject of an erasure request: its normalized identifier (kept only while the
    request is open) and the keyed hash that stays."""

    kind: str  # email, phone or lead_id
    value: str = field(repr=False)
    hash: bytes = field(repr=False)


def checked_region(region: str | None) -> str | None:
    """`--region` as a phone region (FR, or the portal code's FRA), or None when not given;
    an unknown one is refused (exit 2), never guessed."""
    if region is None:
        return None
    try:
        return parse_region(region)
    except ValueError as exc:
        raise InputError(f"--region: {exc}") from None


def normalized_identifier(kind: str, value: str, region: str | None, *, option: str) -> str:
    """The normalized form of an email, phone number or lead id; blank, digit-less or
    ambiguous identifiers are refused with an error naming `option`, never the value.
    `region` is a checked phone region (checked_region)."""
    if kind == "lead_id":
        lead_id = value.strip()
        problem = lead_id_problem(lead_id)
        if problem is not None:
            raise InputError(f"{option}: {problem}")
        return lead_id
    if kind == "email":
        email = normalize_email(value)
        if email is None:
            raise InputError(f"{option}: must not be blank")
        return email
    if not value.strip():
        raise InputError(f"{option}: must not be blank")
    if not is_international(value) and region is None:
        raise InputError(
            f"{option}: give the number with its country code (+33...) or name --region "
            "(FR, DE, BE, AT, ...)"
        )
    text = value.strip()
    if region is None and text.startswith("00"):
        text = "+" + text[2:]  # 00 is the international prefix in every country served
    number = normalize_phone(text, region)
    if number is None:
        raise InputError(f"{option}: must contain digits")
    return number


class SubjectArgs(TypedDict, total=False):
    """A subject as a person gives it: exactly one of email, phone or lead id, and the
    region of a national phone number (the `--email`, `--phone`, `--lead-id` and `--region`
    options of erase, requests add and hold place)."""

    email: str | None
    phone: str | None
    lead_id: str | None
    region: str | None


def _normalized(given: SubjectArgs) -> tuple[str, str]:
    """(kind, normalized identifier) of exactly one of email, phone or lead id; blank or
    ambiguous identifiers are refused."""
    typed = {"email": given.get("email"), "phone": given.get("phone"),
             "lead_id": given.get("lead_id")}  # fmt: skip
    named = [(kind, value) for kind, value in typed.items() if value is not None]
    if len(named) != 1:
        raise InputError("give exactly one of --email, --phone or --lead-id")
    kind, value = named[0]
    region = checked_region(given.get("region"))
    return kind, normalized_identifier(kind, value, region, option=_OPTIONS[kind])


def subject_of(settings: Settings, conn: Connection, **given: Unpack[SubjectArgs]) -> Subject:
    """The subject of a hold: a lead id as it is, an email or phone by its keyed hash."""
    kind, normalized = _normalized(given)
    if kind == "lead_id":
        return Subject("lead_id", lead_id=normalized)
    key = subject_key_for_store(settings, conn)
    return Subject(kind, hash=subject_hash(key, kind, normalized))


def request_subject_of(
    settings: Settings, conn: Connection, **given: Unpack[SubjectArgs]
) -> RequestSubject:
    """The subject of an erasure request given on the command line."""
    kind, normalized = _normalized(given)
    key = subject_key_for_store(settings, conn)
    return RequestSubject(kind, normalized, subject_hash(key, kind, normalized))


_OPTIONS = {"email": "--email", "phone": "--phone", "lead_id": "--lead-id"}
