"""Erasure: which values of a lead are erased, the request's deadline, upstream-erased leads.

A seeker's erasure nulls the policy's contactRequest fields and empties `phoneNumbers`, in the
columns and in the stored upstream JSON alike. Lead metadata and the property or project
parts stay until the TTL purge.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from retention.domain.audit_chain import canonical_details

__all__ = [
    "ERASABLE_FIELDS",
    "FIELD_COLUMNS",
    "REASONS",
    "REQUEST_KINDS",
    "REQUEST_SOURCES",
    "REQUEST_STATUSES",
    "UPSTREAM_ERASED_FIELDS",
    "check_erased_fields",
    "due_date",
    "erased_details",
    "looks_erased_upstream",
    "verified_fields",
]

# contactRequest field -> the leads column that holds a copy of it. Other fields the policy
# names live only in the payload.
FIELD_COLUMNS: Mapping[str, str] = {
    "firstName": "first_name",
    "lastName": "last_name",
    "name": "name",
    "gender": "gender",
    "email": "email",
    "language": "language",
    "message": "message",
    "isOwner": "is_owner",
}
# Why a lead was erased: a seeker's request, a later import of an erased seeker's lead, or the
# upstream API delivering the lead erased.
REASONS = ("request", "suppression", "upstream")
REQUEST_KINDS = ("email", "phone", "lead_id")
REQUEST_STATUSES = ("pending", "deferred", "completed", "failed")
REQUEST_SOURCES = ("cli", "file", "upstream", "import")
# The upstream API's GDPR erasure nulls these and empties phoneNumbers (seeker-leads-api.md
# section 3.7); email and isOwner may survive it.
UPSTREAM_ERASED_FIELDS = ("firstName", "lastName", "name", "gender", "language", "message")
# The contactRequest fields an erasure may null (upstream-api section 3.7, plus `name`, which the
# upstream's GDPR note names); phoneNumbers always becomes [].
ERASABLE_FIELDS = tuple(FIELD_COLUMNS)


def check_erased_fields(names: Sequence[str]) -> tuple[str, ...]:
    """The erased-field list of a policy, in order, without repeats (`phoneNumbers`, always
    emptied, is dropped). Raises ValueError naming the first field that is not a contactRequest
    field, or the upstream-erased fields the list leaves out: an erasure that keeps a name or
    the message is no erasure, whatever a config says."""
    chosen: list[str] = []
    for name in names:
        if name == "phoneNumbers" or name in chosen:
            continue
        if name not in ERASABLE_FIELDS:
            near = [f for f in ERASABLE_FIELDS if f.lower() == name.lower()]
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(
                f"{name!r} is not a contactRequest field{hint}; the fields are "
                f"{', '.join(ERASABLE_FIELDS)} (phoneNumbers always becomes [])"
            )
        chosen.append(name)
    missing = [name for name in UPSTREAM_ERASED_FIELDS if name not in chosen]
    if missing:
        raise ValueError(
            f"must include {', '.join(missing)}: the upstream API's own erasure nulls "
            f"{', '.join(UPSTREAM_ERASED_FIELDS)}, so an erasure here must too"
        )
    return tuple(chosen)


def verified_fields(fields: Sequence[str]) -> tuple[str, ...]:
    """The fields the read-back after an erasure checks: the policy's, and always those the
    upstream contract erases, whatever the policy names (phoneNumbers is checked too)."""
    return tuple(dict.fromkeys((*fields, *UPSTREAM_ERASED_FIELDS)))


def due_date(received: datetime) -> datetime:
    """One calendar month after `received`, clamped to the last day of that month (a request
    received on 31 January is due on 28 or 29 February), at the same time of day."""
    year, month = (
        (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    )
    day = min(received.day, calendar.monthrange(year, month)[1])
    return received.replace(year=year, month=month, day=day)


def looks_erased_upstream(contact: Mapping[str, Any]) -> bool:
    """Whether a contactRequest is what the upstream delivers for a seeker it erased: the
    documented fields null (or absent) and `phoneNumbers` an empty list."""
    return contact.get("phoneNumbers") == [] and all(
        contact.get(name) is None for name in UPSTREAM_ERASED_FIELDS
    )


@cache
def erased_details(*, category: str, portal: str, fields: Sequence[str], reason: str) -> str:
    """The `lead.erased` event's details: field names, never values. Cached: a run meets
    few distinct combinations (`fields` must be hashable, a tuple)."""
    return canonical_details(
        {
            "category": category,
            "fields": [*fields, "phoneNumbers"],
            "portal": portal,
            "reason": reason,
        }
    )
