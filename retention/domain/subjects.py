"""Keyed hashes of subjects: the only form in which the store indexes and remembers seekers."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from retention.domain.lead import Lead
from retention.domain.normalize import normalize_email, normalize_phone, region_for_country

__all__ = ["SUBJECT_KINDS", "key_fingerprint", "lead_subject_hashes", "subject_hash"]

SUBJECT_KINDS = ("email", "phone")


def subject_hash(key: bytes, kind: str, normalized: str) -> bytes:
    """HMAC-SHA256 of `kind:normalized` under `key` (32 bytes)."""
    keyed = _keyed_hmac(key).copy()  # the key's padding is hashed once, not per subject
    keyed.update(f"{kind}:{normalized}".encode())
    return keyed.digest()


@lru_cache(maxsize=8)
def _keyed_hmac(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


def key_fingerprint(key: bytes) -> str:
    """A short public fingerprint of the key, to detect a store opened with the wrong key."""
    return hmac.new(key, b"lead-retention/key-fingerprint/v1", hashlib.sha256).hexdigest()[:32]


def lead_subject_hashes(key: bytes, lead: Lead) -> set[tuple[str, bytes]]:
    """(kind, hash) of every identifier the lead carries: its email and each phone number."""
    found: set[tuple[str, bytes]] = set()
    if lead.email is not None:
        email = normalize_email(lead.email)
        if email is not None:
            found.add(("email", subject_hash(key, "email", email)))
    region = region_for_country(lead.country)
    for phone in lead.phone_numbers:
        if phone.number is not None:
            number = normalize_phone(phone.number, region)
            if number is not None:
                found.add(("phone", subject_hash(key, "phone", number)))
    return found
