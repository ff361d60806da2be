from __future__ import annotations

import pytest

from retention.domain.normalize import normalize_email, normalize_phone


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
