from __future__ import annotations

from retention.domain.subjects import key_fingerprint, lead_subject_hashes, subject_hash
from retention.domain.validation import validate_lead
from tests.factories import make_lead, with_contact

KEY = b"k" * 32


def test_hash_depends_on_key_kind_and_value() -> None:
    base = subject_hash(KEY, "email", "a@example.com")
    assert len(base) == 32
    assert subject_hash(b"x" * 32, "email", "a@example.com") != base
    assert subject_hash(KEY, "phone", "a@example.com") != base
    assert subject_hash(KEY, "email", "b@example.com") != base
    assert key_fingerprint(KEY) != key_fingerprint(b"x" * 32)


def test_a_lead_is_found_by_its_email_and_each_phone_in_any_written_form() -> None:
    lead = validate_lead(
        with_contact(
            make_lead(1),
            email=" Seeker.One@Example.com",
            phoneNumbers=[{"number": "06 11 22 33 44"}, {"number": "+33 1 00 00 00 02"}],
        )
    )
    hashes = lead_subject_hashes(KEY, lead)
    assert hashes == {
        ("email", subject_hash(KEY, "email", "seeker.one@example.com")),
        ("phone", subject_hash(KEY, "phone", "+33611223344")),
        ("phone", subject_hash(KEY, "phone", "+33100000002")),
    }


def test_an_erased_lead_has_no_subject() -> None:
    lead = validate_lead(with_contact(make_lead(1), email=None, phoneNumbers=[]))
    assert lead_subject_hashes(KEY, lead) == set()
    blank = validate_lead(with_contact(make_lead(1), email=None, phoneNumbers=[{"number": " "}]))
    assert lead_subject_hashes(KEY, blank) == set()
