from __future__ import annotations

import random

import phonenumbers
import pytest

from retention.domain.normalize import is_canonical_e164, normalize_email, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "seeker@example.com",
        "  Seeker@Example.COM ",
        "\u3000SEEKER@example.com\t",
        "\uff53\uff45\uff45\uff4b\uff45\uff52@example.com",
    ],
    ids=["plain", "trim-case", "ideographic-space", "fullwidth"],
)
def test_email_variants_are_one_subject(raw: str) -> None:
    assert normalize_email(raw) == "seeker@example.com"


@pytest.mark.parametrize("raw", ["", "   ", "\u00a0"], ids=["empty", "spaces", "nbsp"])
def test_blank_email_is_no_subject(raw: str) -> None:
    assert normalize_email(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        "+33 6 11 22 33 44",
        "06 11 22 33 44",
        "0033611223344",
        "+33 (0)6 11 22 33 44",
        "06.11.22.33.44",
    ],
)
def test_french_phone_variants_are_one_subject(raw: str) -> None:
    assert normalize_phone(raw, "FR") == "+33611223344"


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0151 23456789", "DE", "+4915123456789"),
        ("0470 12 34 56", "BE", "+32470123456"),
        ("0664 1234567", "AT", "+436641234567"),
        ("+33 6 11 22 33 44", "DE", "+33611223344"),
    ],
    ids=["DE", "BE", "AT", "international-beats-region"],
)
def test_portal_country_is_the_default_region(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


def test_unparseable_numbers_fall_back_to_their_digits() -> None:
    assert normalize_phone("12-3", "FR") == "123"
    assert normalize_phone("06 11", None) == "0611"


@pytest.mark.parametrize("raw", ["", "   ", "n/a"], ids=["empty", "spaces", "no-digits"])
def test_phone_without_digits_is_no_subject(raw: str) -> None:
    assert normalize_phone(raw, "FR") is None


def _library_e164(value: str, region: str | None) -> str | None:
    """What phonenumbers itself makes of `value`: E.164 when possible, else None."""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    e164: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164


@pytest.mark.parametrize("region", ["FR", "DE", "BE", "AT"])
def test_canonical_e164_fast_path_agrees_with_phonenumbers(region: str) -> None:
    # 25,000 generated numbers per country: mostly of a length possible there, some of any
    # length from 1 to 17 digits, with or without a leading 0; parsed with any default region.
    rng = random.Random(f"e164-{region}")
    country_code = str(phonenumbers.country_code_for_region(region))
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert metadata is not None and metadata.general_desc is not None
    possible = list(metadata.general_desc.possible_length)
    fast = 0
    for _ in range(25_000):
        if rng.random() < 0.7:
            length, first = rng.choice(possible), rng.choice("123456789")
        else:
            length, first = rng.randint(1, 17), rng.choice("0123456789")
        national = first + "".join(rng.choices("0123456789", k=length - 1))
        value = f"+{country_code}{national}"
        default_region = rng.choice(["FR", "DE", "BE", "AT", None])
        if is_canonical_e164(value):
            fast += 1
            assert _library_e164(value, default_region) == value, value
            assert normalize_phone(value, default_region) == value
    assert 15_000 < fast < 25_000  # both paths were exercised


@pytest.mark.parametrize(
    "value",
    ["+33 611223344", " +33611223344", "+330611223344", "+3361122334", "+336112233445",
     "+33611223344\u00a0", "+\uff13\uff13611223344", "+41611223344", "+493012345678901234"],
    ids=["space", "leading-space", "national-prefix", "short", "long", "nbsp", "fullwidth",
         "other-country", "too-long-for-de"],
)  # fmt: skip
def test_not_canonical_e164_takes_the_library_path(value: str) -> None:
    assert not is_canonical_e164(value)
