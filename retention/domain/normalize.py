"""Normalization of subject identifiers: the same seeker must always give the same string."""

from __future__ import annotations

import unicodedata

import phonenumbers

__all__ = [
    "PORTAL_REGIONS",
    "is_international",
    "normalize_email",
    "normalize_phone",
    "region_for_country",
]

# Portal country (ISO alpha-3, the suffix of the portal code) -> default phone region.
PORTAL_REGIONS = {"FRA": "FR", "DEU": "DE", "BEL": "BE", "AUT": "AT"}
_DIGITS = frozenset("0123456789")


def region_for_country(country: str) -> str | None:
    return PORTAL_REGIONS.get(country)


def normalize_email(value: str) -> str | None:
    """Trim, Unicode NFKC, lower-case. Blank gives None: it can never identify anyone."""
    text = unicodedata.normalize("NFKC", value).strip().lower()
    return text or None


def normalize_phone(value: str, region: str | None) -> str | None:
    """E.164 (`+33611223344`) with `region` as the default country; raw digits when the
    number cannot be parsed as a possible number; None when there is no digit at all."""
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        e164: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return e164
    digits = "".join(ch for ch in text if ch in _DIGITS)
    return digits or None


def is_international(value: str) -> bool:
    """Whether a phone number carries its country code (+33..., 0033...)."""
    text = unicodedata.normalize("NFKC", value).strip()
    return text.startswith("+") or text.startswith("00")
