"""Erasure: which values of a lead are erased, and what an upstream-erased lead looks like.

A seeker's erasure nulls the policy's contactRequest fields and empties `phoneNumbers`, in the
columns and in the stored upstream JSON alike. Lead metadata and the property or project
parts stay until the TTL purge. The policy's fields are an `ErasedFields`: the default one
here, which `erasure.fields` in the config may override (checked by `check_erased_fields`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_ERASED_FIELDS",
    "ERASABLE_FIELDS",
    "FIELD_COLUMNS",
    "UPSTREAM_ERASED_FIELDS",
    "ErasedFields",
    "check_erased_fields",
    "looks_erased_upstream",
    "verified_fields",
]

# contactRequest field -> the leads column that holds a copy of it. These are the fields an
# erasure may null (upstream-api section 3.7, plus `name`, which the upstream's GDPR note
# names); phoneNumbers always becomes [].
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
ERASABLE_FIELDS = tuple(FIELD_COLUMNS)
# The upstream API's GDPR erasure nulls these and empties phoneNumbers (seeker-leads-api.md
# section 3.7); email and isOwner may survive it.
UPSTREAM_ERASED_FIELDS = ("firstName", "lastName", "name", "gender", "language", "message")
# What an erasure nulls unless the config (erasure.fields) says otherwise: every
# contactRequest field, those the upstream erases first.
DEFAULT_ERASED_FIELDS = (*UPSTREAM_ERASED_FIELDS, "email", "isOwner")


@dataclass(frozen=True, slots=True)
class ErasedFields:
    """The contactRequest fields an erasure nulls (phoneNumbers, always emptied, aside)."""

    names: tuple[str, ...]

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """(field, leads column) of the fields with a column; a field that lives only in the
        stored JSON (an additional contactRequest property, named by settings built in code:
        the config accepts the contract's fields only) has none."""
        return tuple((name, FIELD_COLUMNS[name]) for name in self.names if name in FIELD_COLUMNS)

    def verified(self) -> ErasedFields:
        """The fields the read-back after an erasure checks: these, and always those the
        upstream contract erases, whatever the policy names."""
        return ErasedFields(verified_fields(self.names))


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


def looks_erased_upstream(contact: Mapping[str, Any]) -> bool:
    """Whether a contactRequest is what the upstream delivers for a seeker it erased: the
    documented fields null (or absent) and `phoneNumbers` an empty list."""
    return contact.get("phoneNumbers") == [] and all(
        contact.get(name) is None for name in UPSTREAM_ERASED_FIELDS
    )
