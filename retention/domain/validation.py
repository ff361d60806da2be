"""Validation of one upstream lead object into a Lead.

Errors name the field and the problem. They echo a value only for metadata fields (ids, enums,
timestamps), never for the seeker's contact data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from retention.domain.lead import (
    CATEGORIES,
    DISTRIBUTION_TYPES,
    GENDERS,
    LANGUAGES,
    PHONE_TYPES,
    PORTALS,
    Lead,
    PhoneNumber,
)

__all__ = ["LeadFieldError", "lead_id_of", "lead_id_problem", "validate_lead"]

_SPACE = re.compile(r"\s")
NAME_MAX = 100
LEAD_ID_MAX = 200
EMAIL_MAX = 320
# Unix seconds: 10**10 is the year 2286; a value of 13 digits is milliseconds.
SECONDS_LIMIT = 10**10
MILLISECONDS_FROM = 10**11


class LeadFieldError(ValueError):
    """One field of one lead is invalid."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def lead_id_of(record: Any) -> str | None:
    """The record's leadId when it has a usable one, for error messages."""
    if isinstance(record, dict):
        metadata = record.get("metadata")
        if isinstance(metadata, dict):
            value = metadata.get("leadId")
            if isinstance(value, str) and 0 < len(value) <= LEAD_ID_MAX and value.isprintable():
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return str(value)
    return None


def _unstorable_text(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield (path, problem) for strings PostgreSQL and SQLite cannot store faithfully."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path, "contains a NUL character, which cannot be stored"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                yield path, "contains an invalid Unicode escape (lone surrogate)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _unstorable_text(key, f"{path}.<key>" if path else "<key>")
            yield from _unstorable_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unstorable_text(item, f"{path}[{index}]")


def _object(record: Mapping[str, Any], key: str, path: str, *, required: bool) -> dict[str, Any]:
    value = record.get(key)
    if value is None:
        if required:
            raise LeadFieldError(path, "is required")
        return {}
    if not isinstance(value, dict):
        raise LeadFieldError(path, "must be an object")
    return value


def _timestamp(metadata: Mapping[str, Any], key: str) -> datetime:
    path = f"metadata.{key}"
    value = metadata.get(key)
    if value is None:
        raise LeadFieldError(path, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str):
            raise LeadFieldError(path, "must be an integer of Unix seconds, not a string")
        raise LeadFieldError(path, f"must be an integer of Unix seconds, got {value!r}")
    if value < 0:
        raise LeadFieldError(path, f"must not be negative, got {value}")
    if value >= MILLISECONDS_FROM:
        raise LeadFieldError(path, f"looks like milliseconds ({value}); expected Unix seconds")
    if value >= SECONDS_LIMIT:
        raise LeadFieldError(path, f"is after the year 2286 ({value}); expected Unix seconds")
    return datetime.fromtimestamp(value, UTC)


def _enum(value: Any, path: str, allowed: tuple[str, ...], *, echo: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        shown = f" {value!r}" if echo and isinstance(value, str | int) else ""
        raise LeadFieldError(path, f"value{shown} is not one of {', '.join(allowed)}")
    return value


def _text(value: Any, path: str, *, max_length: int | None = None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise LeadFieldError(path, "must be a string or null")
    if max_length is not None and len(value) > max_length:
        raise LeadFieldError(path, f"is longer than {max_length} characters")
    return value


def _boolean(value: Any, path: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise LeadFieldError(path, "must be true, false or null")
    return value


def _email(value: Any, path: str) -> str | None:
    text = _text(value, path, max_length=EMAIL_MAX)
    if text is None:
        return None
    local, at, domain = text.strip().rpartition("@")
    if not at or not local or not domain or _SPACE.search(text.strip()):
        raise LeadFieldError(path, "is not an email address")
    return text


def lead_id_problem(value: str) -> str | None:
    """Why `value` cannot be a lead id (blank, too long, spaces or control characters at its
    ends or inside), or None. A lead id travels into the audit chain, whose fields are joined
    by a control character, so none may hold one."""
    if not value.strip():
        return "must not be blank"
    if len(value) > LEAD_ID_MAX:
        return f"is longer than {LEAD_ID_MAX} characters"
    if not value.isprintable() or value != value.strip():
        return "contains spaces or control characters"
    return None


def _lead_id(metadata: Mapping[str, Any]) -> str:
    value = metadata.get("leadId")
    if value is None:
        raise LeadFieldError("metadata.leadId", "is required")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise LeadFieldError("metadata.leadId", "must be a string")
    problem = lead_id_problem(value)
    if problem is not None:
        raise LeadFieldError("metadata.leadId", problem)
    return value


def _phone_numbers(value: Any) -> tuple[PhoneNumber, ...]:
    path = "contactRequest.phoneNumbers"
    if value is None:
        return ()
    if not isinstance(value, list):
        raise LeadFieldError(path, "must be a list")
    phones = []
    for index, item in enumerate(value):
        if type(item) is dict:  # the common case, valid, checked without building paths
            kind, number, verified = item.get("type"), item.get("number"), item.get("verified")
            if (
                (kind is None or (type(kind) is str and kind in PHONE_TYPES))
                and (number is None or type(number) is str)
                and (verified is None or type(verified) is bool)
            ):
                phones.append(PhoneNumber(type=kind, number=number, verified=verified))
                continue
        item_path = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise LeadFieldError(item_path, "must be an object")
        phones.append(
            PhoneNumber(
                type=_enum(item.get("type"), f"{item_path}.type", PHONE_TYPES, echo=True),
                number=_text(item.get("number"), f"{item_path}.number"),
                verified=_boolean(item.get("verified"), f"{item_path}.verified"),
            )
        )
    return tuple(phones)


def _category_parts(record: Mapping[str, Any], category: str) -> None:
    if category == "CLASSIFIED":
        _object(record, "property", "property", required=True)
    elif category == "PROPERTY_SEARCH":
        _object(record, "property", "property", required=False)
        _object(record, "project", "project", required=False)
        kinds = record.get("distributionType")
        if kinds is None:
            raise LeadFieldError("distributionType", "is required for PROPERTY_SEARCH leads")
        if not isinstance(kinds, list) or not kinds:
            raise LeadFieldError("distributionType", "must be a non-empty list")
        for index, kind in enumerate(kinds):
            _enum(kind, f"distributionType[{index}]", DISTRIBUTION_TYPES, echo=True)


def validate_lead(record: Any, *, plain_text: bool = False) -> Lead:
    """Check one upstream lead object and return it as a Lead, or raise LeadFieldError.

    `plain_text`: the reader proved the record's strings hold no NUL character and no lone
    surrogate (see lead_sources.SourceRecord), so they are not searched for.
    """
    if not isinstance(record, dict):
        raise LeadFieldError("(record)", "must be a JSON object")
    if not plain_text:
        for path, problem in _unstorable_text(record, ""):
            raise LeadFieldError(path, problem)
    metadata = _object(record, "metadata", "metadata", required=True)
    lead_id = _lead_id(metadata)
    category = _enum(metadata.get("leadCategory"), "metadata.leadCategory", CATEGORIES, echo=True)
    if category is None:
        raise LeadFieldError("metadata.leadCategory", "is required")
    portal = _enum(metadata.get("portal"), "metadata.portal", PORTALS, echo=True)
    if portal is None:
        raise LeadFieldError("metadata.portal", "is required")
    ingestion_date = _timestamp(metadata, "ingestionDate")
    ttl = _timestamp(metadata, "TTL")
    if ttl < ingestion_date:
        raise LeadFieldError("metadata.TTL", "is before metadata.ingestionDate")
    _category_parts(record, category)

    contact = _object(record, "contactRequest", "contactRequest", required=True)
    if "message" not in contact:
        raise LeadFieldError("contactRequest.message", "is required (null when erased)")
    return Lead(
        lead_id=lead_id,
        category=category,
        portal=portal,
        ingestion_date=ingestion_date,
        ttl=ttl,
        first_name=_text(contact.get("firstName"), "contactRequest.firstName", max_length=NAME_MAX),
        last_name=_text(contact.get("lastName"), "contactRequest.lastName", max_length=NAME_MAX),
        name=_text(contact.get("name"), "contactRequest.name"),
        gender=_enum(contact.get("gender"), "contactRequest.gender", GENDERS, echo=False),
        email=_email(contact.get("email"), "contactRequest.email"),
        language=_enum(contact.get("language"), "contactRequest.language", LANGUAGES, echo=False),
        message=_text(contact.get("message"), "contactRequest.message"),
        is_owner=_boolean(contact.get("isOwner"), "contactRequest.isOwner"),
        phone_numbers=_phone_numbers(contact.get("phoneNumbers")),
        payload=record,
    )
