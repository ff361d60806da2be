from __future__ import annotations

import dataclasses
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from retention.config import Settings
from retention.domain.normalize import normalize_email
from retention.domain.subjects import subject_hash
from retention.errors import InputError
from retention.services.demo import example_files
from retention.services.importing import ImportResult, import_leads
from retention.services.lead_sources import read_records
from retention.storage.schema import lead_subjects, leads
from tests.conftest import TEST_KEY
from tests.factories import (
    NOW,
    NOW_TS,
    dump_text,
    make_lead,
    run_concurrently,
    snapshot,
    with_contact,
    write_jsonl,
)


def _import(
    settings: Settings, engine: Engine, paths: list[Path | str], **options: Any
) -> ImportResult:
    records = read_records([str(p) for p in paths], io.BytesIO(b""))
    return import_leads(settings, engine, records, now=NOW, **options)


def _small_batches(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, imports=dataclasses.replace(settings.imports, batch_size=2)
    )


def _lead_row(engine: Engine, lead_id: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(leads).where(leads.c.lead_id == lead_id)).one()


def test_upstream_examples_import_cleanly(settings: Settings, engine: Engine) -> None:
    result = _import(settings, engine, [Path(p) for p in example_files()])
    assert (result.imported, result.updated, result.rejected) == (5, 0, 0)
    row = _lead_row(engine, "00000000-0000-4000-8000-000000000002")
    assert (row.category, row.portal, row.first_name, row.gender) == (
        "AGENCY", "MAG-FRA", "Luc", "MALE"
    )  # fmt: skip
    assert row.is_owner is True
    assert int(row.ttl.timestamp()) == 1830868200
    assert row.ttl.tzinfo is not None
    assert [p["number"] for p in row.phone_numbers] == ["+33600000002", "+33100000002"]
    assert row.payload["contactRequest"]["message"].startswith("Bonjour")
    erased_upstream = _lead_row(engine, "00000000-0000-4000-8000-000000000013")
    assert erased_upstream.first_name is None and erased_upstream.phone_numbers == []


def test_subject_index_holds_keyed_hashes_only(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    lead = with_contact(
        make_lead(1), email="Seeker.One@Example.com", phoneNumbers=[{"number": "06 11 22 33 44"}]
    )
    _import(settings, engine, [write_jsonl(tmp_path / "a.jsonl", [lead])])
    with engine.connect() as conn:
        rows = set(conn.execute(select(lead_subjects.c.kind, lead_subjects.c.subject_hash)))
    key = TEST_KEY.encode()
    email = normalize_email("Seeker.One@Example.com")
    assert email is not None
    assert rows == {
        ("email", subject_hash(key, "email", email)),
        ("phone", subject_hash(key, "phone", "+33611223344")),
    }


def test_upsert_by_lead_id_rewrites_lead_and_its_subjects(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", [make_lead(1), make_lead(2)])
    _import(settings, engine, [first])
    imported_at = _lead_row(engine, "lead-000001").imported_at
    changed = with_contact(make_lead(1), email="other.address@example.com", phoneNumbers=[])
    second = write_jsonl(tmp_path / "second.jsonl", [changed, make_lead(3)])
    later = NOW + timedelta(hours=1)
    result = import_leads(settings, engine, read_records([str(second)], io.BytesIO()), now=later)
    assert (result.imported, result.updated) == (1, 1)
    row = _lead_row(engine, "lead-000001")
    assert row.email == "other.address@example.com"
    assert row.imported_at == imported_at and row.updated_at == later
    with engine.connect() as conn:
        kinds = list(
            conn.scalars(
                select(lead_subjects.c.kind).where(lead_subjects.c.lead_id == "lead-000001")
            )
        )
        total = len(list(conn.scalars(select(leads.c.lead_id))))
    assert kinds == ["email"]
    assert total == 3


def test_same_lead_twice_in_one_import_keeps_the_last(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    older = make_lead(1)
    newer = with_contact(make_lead(1), firstName="Dernier")
    result = _import(
        settings, engine, [write_jsonl(tmp_path / "d.jsonl", [older, make_lead(2), newer])]
    )
    assert (result.imported, result.updated) == (2, 1)
    assert _lead_row(engine, "lead-000001").first_name == "Dernier"


def test_lead_again_in_a_later_batch_of_the_same_import_is_rewritten(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    # Batches [1, 2] and [3, 1']: the second holds a lead the first wrote, so it is upserted.
    newer = with_contact(make_lead(1), email="later.address@example.com", phoneNumbers=[])
    path = write_jsonl(tmp_path / "again.jsonl", [make_lead(1), make_lead(2), make_lead(3), newer])
    result = _import(_small_batches(settings), engine, [path])
    assert (result.imported, result.updated) == (3, 1)
    assert _lead_row(engine, "lead-000001").email == "later.address@example.com"
    with engine.connect() as conn:
        subjects = conn.execute(
            select(lead_subjects.c.lead_id, lead_subjects.c.kind).order_by(
                lead_subjects.c.lead_id, lead_subjects.c.kind
            )
        ).all()
    expected = {("lead-000001", "email")}
    expected |= {(f"lead-00000{n}", kind) for n in (2, 3) for kind in ("email", "phone")}
    assert set(map(tuple, subjects)) == expected and len(subjects) == len(expected)


def test_an_erased_lead_is_not_rewritten_with_contact_data(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [make_lead(1)])
    _import(settings, engine, [path])
    with engine.begin() as conn:
        conn.execute(
            update(leads).values(first_name=None, last_name=None, email=None, erased_at=NOW)
        )
    with engine.begin() as conn:
        conn.execute(lead_subjects.delete())
    result = _import(settings, engine, [path])
    assert (result.imported, result.updated, result.erased_on_import) == (0, 0, 1)
    row = _lead_row(engine, "lead-000001")
    assert row.first_name is None and row.email is None and row.erased_at is not None
    assert snapshot(engine)["lead_subjects"] == [], "an erased lead must not become findable"


@pytest.mark.parametrize(
    ("offset", "stored"),
    [(-1, False), (0, False), (1, True)],
    ids=["ttl-1s-ago", "ttl-exactly-now", "ttl-in-1s"],
)
def test_lead_past_its_ttl_is_not_stored(
    settings: Settings, engine: Engine, tmp_path: Path, offset: int, stored: bool
) -> None:
    lead = make_lead(1, TTL=NOW_TS + offset, ingestionDate=NOW_TS - 100)
    result = _import(settings, engine, [write_jsonl(tmp_path / "a.jsonl", [lead])])
    assert result.expired_on_arrival == (0 if stored else 1)
    assert result.imported == (1 if stored else 0)
    assert (len(snapshot(engine)["leads"]) == 1) is stored


def _mixed(tmp_path: Path) -> Path:
    bad = with_contact(make_lead(3), gender="UNKNOWN")
    leads_ = [make_lead(1), make_lead(2), bad, make_lead(4), make_lead(5), make_lead(6)]
    return write_jsonl(tmp_path / "mixed.jsonl", leads_)


def test_one_invalid_record_writes_nothing(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    before = snapshot(engine)
    result = _import(_small_batches(settings), engine, [_mixed(tmp_path)])
    assert (result.imported, result.updated, result.rejected, result.written) == (0, 0, 1, False)
    assert snapshot(engine) == before
    (error,) = result.errors
    assert (error.position, error.lead_id, error.field) == (
        "line 3",
        "lead-000003",
        "contactRequest.gender",
    )


def test_skip_invalid_writes_the_valid_ones(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    result = _import(_small_batches(settings), engine, [_mixed(tmp_path)], skip_invalid=True)
    assert (result.imported, result.rejected, result.written) == (5, 1, True)
    assert len(snapshot(engine)["leads"]) == 5


def test_dry_run_counts_and_changes_nothing(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    _import(settings, engine, [write_jsonl(tmp_path / "a.jsonl", [make_lead(1)])])
    before = snapshot(engine)
    path = write_jsonl(tmp_path / "b.jsonl", [make_lead(1), make_lead(2)])
    result = _import(settings, engine, [path], dry_run=True)
    assert (result.imported, result.updated, result.dry_run, result.written) == (1, 1, True, False)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "tail",
    [b'{"a": "caf\xe9"}\n', b"{\n"],
    ids=["not-utf8", "not-json"],
)
def test_unreadable_input_after_written_batches_leaves_the_store_unchanged(
    settings: Settings, engine: Engine, tmp_path: Path, tail: bytes
) -> None:
    before = snapshot(engine)
    path = tmp_path / "late.jsonl"
    good = b"".join(json.dumps(make_lead(n)).encode() + b"\n" for n in range(1, 8))
    path.write_bytes(good + tail)
    if tail == b"{\n":
        result = _import(_small_batches(settings), engine, [path])  # one bad line: a bad record
        assert result.rejected == 1 and not result.written
    else:
        with pytest.raises(InputError, match="line 8: not UTF-8"):
            _import(_small_batches(settings), engine, [path], skip_invalid=True)
    assert snapshot(engine) == before


def test_broken_array_leaves_the_store_unchanged(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    before = snapshot(engine)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps([make_lead(n) for n in range(1, 6)])[:-40])
    with pytest.raises(InputError, match="not valid JSON"):
        _import(_small_batches(settings), engine, [path], skip_invalid=True)
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    "content",
    ["hello\x00world", "\ud83d"],
    ids=["nul", "lone-surrogate"],
)
def test_text_postgresql_cannot_store_is_rejected_on_both_backends(
    settings: Settings, engine: Engine, tmp_path: Path, content: str
) -> None:
    before = snapshot(engine)
    path = tmp_path / "nul.jsonl"
    bad = with_contact(make_lead(2), message=content)
    path.write_text(json.dumps(make_lead(1)) + "\n" + json.dumps(bad) + "\n")
    result = _import(settings, engine, [path])
    assert result.rejected == 1 and result.errors[0].field == "contactRequest.message"
    assert snapshot(engine) == before
    kept = _import(settings, engine, [path], skip_invalid=True)
    assert (kept.imported, kept.rejected) == (1, 1)


def test_rejected_records_leave_no_personal_data_anywhere(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    bad = with_contact(make_lead(9), firstName="Zephyrine" * 12, email="zephyrine@example.com")
    result = _import(
        settings, engine, [write_jsonl(tmp_path / "a.jsonl", [bad])], skip_invalid=True
    )
    message = " ".join(str(e) for e in result.errors)
    assert "lead-000009" in message and "contactRequest.firstName" in message
    assert "Zephyrine" not in message and "zephyrine@example.com" not in message
    assert "Zephyrine" not in dump_text(engine)


def test_many_leads_across_batches(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "many.jsonl", (make_lead(n) for n in range(1, 1201)))
    small = dataclasses.replace(
        settings, imports=dataclasses.replace(settings.imports, batch_size=500)
    )
    assert _import(small, engine, [path]).imported == 1200
    again = _import(small, engine, [path])
    assert (again.imported, again.updated) == (0, 1200)
    with engine.connect() as conn:
        assert len(list(conn.scalars(select(lead_subjects.c.lead_id)))) == 2400


def test_concurrent_imports_of_the_same_new_leads_both_succeed(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    # A first import records the key fingerprint, so the two below do not queue behind it.
    _import(settings, engine, [write_jsonl(tmp_path / "first.jsonl", [make_lead(999)])])
    path = write_jsonl(tmp_path / "same.jsonl", (make_lead(n) for n in range(1, 801)))
    small = dataclasses.replace(
        settings, imports=dataclasses.replace(settings.imports, batch_size=100)
    )
    results = run_concurrently(lambda: _import(small, engine, [path]), 2)
    # Each import saw every lead once; which one counted them as new depends on timing.
    assert [r.imported + r.updated for r in results] == [800, 800]
    dump = snapshot(engine)
    assert len(dump["leads"]) == 801 and len(dump["lead_subjects"]) == 1602
