from __future__ import annotations

import json

import pytest

from retention.domain.lead import PhoneNumber
from retention.storage.lead_writer import phone_numbers_json


@pytest.mark.parametrize(
    "phones",
    [
        (),
        (PhoneNumber("MOBILE", "+33611223344", True),),
        (PhoneNumber("LANDLINE", "01 23 45 67 89", False), PhoneNumber(None, None, None)),
        (PhoneNumber("MOBILE", 'quote " backslash \\ tab \t nl \n', None),),
        (PhoneNumber("MOBILE", "\u00e9\u00fc \u2028 \U0001f4de \x7f \x1f", True),),
    ],
    ids=["none", "one", "nulls", "escapes", "unicode-controls"],
)
def test_phone_numbers_json_is_what_json_dumps_writes(phones: tuple[PhoneNumber, ...]) -> None:
    expected = json.dumps(
        [{"type": p.type, "number": p.number, "verified": p.verified} for p in phones],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert phone_numbers_json(phones) == expected
