"""Normalization of subject identifiers: the same seeker must always give the same string."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from types import ModuleType

__all__ = [
    "PORTAL_REGIONS",
    "is_canonical_e164",
    "is_international",
    "normalize_email",
    "normalize_phone",
    "parse_region",
    "region_for_country",
]

# Portal country (ISO alpha-3, the suffix of the portal code) -> default phone region.
PORTAL_REGIONS = {"FRA": "FR", "DEU": "DE", "BEL": "BE", "AUT": "AT"}
_DIGITS = frozenset("0123456789")


@cache
def _phonenumbers() -> ModuleType:
    """The phonenumbers library, imported on first use: a command that never meets a phone
    number (`retention erase --email`) starts without loading it."""
    import phonenumbers

    return phonenumbers


def _national_lengths() -> dict[str, frozenset[int]]:
    """Country calling code -> the national number lengths phonenumbers deems possible, for
    the portals' countries (each code of a single region)."""
    phonenumbers = _phonenumbers()
    lengths = {}
    for region in PORTAL_REGIONS.values():
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert metadata is not None and metadata.country_code is not None
        general = metadata.general_desc
        assert general is not None
        if phonenumbers.region_codes_for_country_code(metadata.country_code) == (region,):
            lengths[str(metadata.country_code)] = frozenset(general.possible_length)
    return lengths


@cache
def _canonical_e164() -> tuple[dict[str, frozenset[int]], re.Pattern[str]]:
    """The national lengths, and `+`, a portal country's calling code and a national number
    without a leading 0, in ASCII."""
    lengths = _national_lengths()
    pattern = re.compile(r"\+(" + "|".join(sorted(lengths)) + r")([1-9][0-9]*)", re.ASCII)
    return lengths, pattern


def region_for_country(country: str) -> str | None:
    return PORTAL_REGIONS.get(country)


def parse_region(text: str) -> str:
    """The phone region a person typed: an ISO 3166-1 alpha-2 code phonenumbers knows (`FR`,
    any case), or a portal country's alpha-3 code (`FRA` -> `FR`), as the portal codes write
    it. Anything else raises ValueError: an unknown region would leave a national number
    unparsed, so the seeker would silently never be found."""
    code = text.strip().upper()
    if code in PORTAL_REGIONS:
        return PORTAL_REGIONS[code]
    if len(code) == 2 and code in _phonenumbers().SUPPORTED_REGIONS:
        return code
    portals = ", ".join(PORTAL_REGIONS.values())
    alpha3 = ", ".join(PORTAL_REGIONS)
    raise ValueError(
        f"{text.strip()!r} is not a country code: use {portals} (or {alpha3}, as in the portal "
        "codes), or another ISO 3166-1 alpha-2 code"
    )


def normalize_email(value: str) -> str | None:
    """Trim, Unicode NFKC, lower-case. Blank gives None: it can never identify anyone."""
    text = unicodedata.normalize("NFKC", value).strip().lower()
    return text or None


def normalize_phone(value: str, region: str | None) -> str | None:
    """E.164 (`+33611223344`) with `region` as the default country; raw digits when the
    number cannot be parsed as a possible number; None when there is no digit at all."""
    if is_canonical_e164(value):
        return value  # what phonenumbers gives for it, much faster (tests/test_normalize.py)
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return None
    phonenumbers = _phonenumbers()
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        e164: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return e164
    digits = "".join(ch for ch in text if ch in _DIGITS)
    return digits or None


def is_canonical_e164(value: str) -> bool:
    """Whether `value` is already the E.164 form normalize_phone gives for it, whatever the
    region: a portal country's number, of a length possible there, with no national prefix.
    phonenumbers then keeps the calling code and the national number as they are."""
    lengths, pattern = _canonical_e164()
    match = pattern.fullmatch(value)
    return match is not None and len(match[2]) in lengths[match[1]]


def is_international(value: str) -> bool:
    """Whether a phone number carries its country code (+33..., 0033...)."""
    text = unicodedata.normalize("NFKC", value).strip()
    return text.startswith("+") or text.startswith("00")
