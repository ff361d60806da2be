"""The lead as the upstream Seeker Leads API delivers it, after validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "CATEGORIES",
    "CONTACT_FIELDS",
    "DISTRIBUTION_TYPES",
    "GENDERS",
    "LANGUAGES",
    "PHONE_TYPES",
    "PORTALS",
    "Lead",
    "PhoneNumber",
]

CATEGORIES = ("CLASSIFIED", "AGENCY", "PROPERTY_SEARCH")
PORTALS = (
    "BDS-FRA", "IMN-DEU", "IWB-BEL", "IWT-DEU", "IWT-AUT", "LCI-FRA", "LIM-FRA", "LIC-FRA",
    "LIN-FRA", "LUX-FRA", "MAG-FRA", "SLG-FRA", "BCM-FRA", "SLC-FRA", "SLN-FRA", "YSQ-DEU",
    "SIG-DEU", "SIG-FRA",
)  # fmt: skip
GENDERS = ("MALE", "FEMALE", "OTHER", "PREFER_NOT_TO_DISCLOSE")
LANGUAGES = ("DE", "EN", "ES", "FR", "HE", "IT", "NL", "PT", "RU")
PHONE_TYPES = ("MOBILE", "LANDLINE")
DISTRIBUTION_TYPES = ("BUYER", "SELLER", "LANDLORD", "TENANT")

# contactRequest keys that hold the seeker's data, as upstream names them.
CONTACT_FIELDS = (
    "firstName", "lastName", "name", "gender", "email", "language", "phoneNumbers", "message",
    "isOwner",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    type: str | None
    number: str | None
    verified: bool | None


@dataclass(frozen=True, slots=True)
class Lead:
    """One valid lead. `payload` is the complete upstream object as received."""

    lead_id: str
    category: str
    portal: str
    ingestion_date: datetime
    ttl: datetime
    first_name: str | None
    last_name: str | None
    name: str | None
    gender: str | None
    email: str | None
    language: str | None
    message: str | None
    is_owner: bool | None
    phone_numbers: tuple[PhoneNumber, ...]
    payload: Mapping[str, Any]

    @property
    def country(self) -> str:
        """The portal's ISO 3166-1 alpha-3 country, e.g. FRA for SLG-FRA."""
        return self.portal.rsplit("-", 1)[-1]
