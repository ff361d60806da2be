from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from retention.errors import InputError
from retention.services.lead_sources import check_readable, read_records
from tests.factories import make_lead

NO_STDIN = io.BytesIO(b"")


def _read(path: Path) -> list[Any]:
    return list(read_records([str(path)], NO_STDIN))


def _ids(records: list[Any]) -> list[str]:
    return [r.value["metadata"]["leadId"] for r in records]


def test_page_array_object_and_json_lines_are_detected(tmp_path: Path) -> None:
    leads = [make_lead(n) for n in range(1, 4)]
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"metadata": {}, "links": {}, "items": leads}, indent=2))
    array = tmp_path / "array.json"
    array.write_text(json.dumps(leads, indent=1))
    single = tmp_path / "one.json"
    single.write_text(json.dumps(leads[0], indent=2))
    compact_single = tmp_path / "compact.json"
    compact_single.write_text(json.dumps(leads[0]))
    lines = tmp_path / "leads.jsonl"
    lines.write_text("\n".join(json.dumps(lead) for lead in leads) + "\n")
    expected = ["lead-000001", "lead-000002", "lead-000003"]
    assert _ids(_read(page)) == expected
    assert [r.position for r in _read(page)] == ["item 1", "item 2", "item 3"]
    assert _ids(_read(array)) == expected
    assert _ids(_read(single)) == ["lead-000001"]
    assert _ids(_read(compact_single)) == ["lead-000001"]
    assert _ids(_read(lines)) == expected
    assert [r.position for r in _read(lines)] == ["line 1", "line 2", "line 3"]


def test_page_with_items_before_metadata_and_one_line_pages(tmp_path: Path) -> None:
    leads = [make_lead(n) for n in range(1, 3)]
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"items": leads, "metadata": {"next": 2}}, indent=2))
    assert _ids(_read(page)) == ["lead-000001", "lead-000002"]
    pages = tmp_path / "pages.jsonl"
    pages.write_text(
        json.dumps({"items": leads[:1], "links": {}}) + "\n"
        + json.dumps({"items": leads[1:], "links": {}}) + "\n"
    )  # fmt: skip
    records = _read(pages)
    assert _ids(records) == ["lead-000001", "lead-000002"]
    assert [r.position for r in records] == ["line 1 item 1", "line 2 item 1"]


def test_bom_blank_lines_and_stdin(tmp_path: Path) -> None:
    lines = tmp_path / "bom.jsonl"
    lines.write_bytes(b"\xef\xbb\xbf\n\n" + json.dumps(make_lead(7)).encode() + b"\n\n")
    records = _read(lines)
    assert _ids(records) == ["lead-000007"]
    assert records[0].position == "line 3"
    stdin = io.BytesIO(json.dumps([make_lead(8)]).encode())
    from_stdin = list(read_records(["-"], stdin))
    assert _ids(from_stdin) == ["lead-000008"]
    assert from_stdin[0].source == "<stdin>"


def test_a_broken_json_line_is_one_bad_record(tmp_path: Path) -> None:
    lines = tmp_path / "leads.jsonl"
    lines.write_text(json.dumps(make_lead(1)) + "\n{not json\n" + json.dumps(make_lead(2)) + "\n")
    records = _read(lines)
    assert [r.error is None for r in records] == [True, False, True]
    assert records[1].position == "line 2"
    assert "not valid JSON" in (records[1].error or "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"[" + json.dumps(make_lead(1)).encode() + b", {oops", "not valid JSON",
                     id="broken-array"),
        pytest.param(b'{\n "items": [\n' + json.dumps(make_lead(1)).encode() + b",\n",
                     "not valid JSON", id="truncated-page"),
        pytest.param(b"leadId,email\n1,x@example.com\n", "not JSON", id="csv"),
        pytest.param(b"\x00\x01\x02", "not JSON", id="binary"),
        pytest.param(b'[{"metadata": {"leadId": "caf\xe9"}}]', "not UTF-8", id="latin1-array"),
        pytest.param(json.dumps(make_lead(1)).encode() + b'\n{"a": "caf\xe9"}\n',
                     "line 2: not UTF-8", id="latin1-lines"),
    ],
)  # fmt: skip
def test_unreadable_input_is_an_input_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "input.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        _read(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "content", [b"", b"  \n", b"\xef\xbb\xbf\n"], ids=["empty", "blank", "bom"]
)
def test_an_empty_input_is_an_error_not_zero_leads(tmp_path: Path, content: bytes) -> None:
    """A failed download piped in (`curl ... | retention import -`) must not look like an
    import of no leads."""
    empty = tmp_path / "empty.json"
    empty.write_bytes(content)
    with pytest.raises(InputError, match="empty input") as caught:
        _read(empty)
    assert str(empty) in str(caught.value)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param({"metadata": {}, "links": {}}, id="no-items"),
        pytest.param({"metadata": {}, "links": {}, "items": None}, id="items-null"),
    ],
)
@pytest.mark.parametrize("form", ["document", "json-lines"])
def test_a_page_without_items_says_so(tmp_path: Path, document: object, form: str) -> None:
    path = tmp_path / "page.json"
    text = json.dumps(document, indent=None if form == "json-lines" else 2)
    path.write_text(text + ("\n" if form == "json-lines" else ""))
    (record,) = _read(path)
    assert record.error is not None and "page without `items`" in record.error


def test_missing_files_are_reported_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        check_readable([str(tmp_path / "missing.json")])
    with pytest.raises(InputError, match="is a directory"):
        check_readable([str(tmp_path)])
    check_readable(["-"])


@pytest.mark.parametrize("escape", ["\\u0000", "\\uD83D", "\\udfff"], ids=["nul", "high", "low"])
@pytest.mark.parametrize("form", ["array", "page", "lines"])
def test_nul_and_lone_surrogates_are_bad_records_in_every_form(
    tmp_path: Path, escape: str, form: str
) -> None:
    """Every form is read by the same decoder: the escape reaches validation, which names
    the field; the records around it are untouched and need no search."""
    from retention.domain.validation import LeadFieldError, validate_lead

    bad = make_lead(2)
    bad["contactRequest"]["message"] = "@@ESCAPE@@"
    items = [make_lead(1), bad, make_lead(3)]
    if form == "lines":
        text = "\n".join(json.dumps(item) for item in items)
    else:
        text = json.dumps(items if form == "array" else {"metadata": {}, "items": items}, indent=1)
    path = tmp_path / f"{form}.json"
    path.write_text(text.replace("@@ESCAPE@@", escape))
    records = _read(path)
    assert [r.plain_text for r in records] == [True, False, True]
    assert [validate_lead(r.value).lead_id for r in (records[0], records[2])] == [
        "lead-000001", "lead-000003",
    ]  # fmt: skip
    with pytest.raises(LeadFieldError, match=r"NUL|surrogate") as caught:
        validate_lead(records[1].value, plain_text=records[1].plain_text)
    assert caught.value.field == "contactRequest.message"


def test_array_items_keep_their_text_and_values_longer_than_a_read(tmp_path: Path) -> None:
    big = make_lead(1)
    big["contactRequest"]["message"] = "long " * 60_000  # 300 KB: several reads
    items = [big, make_lead(2), 12345678901234567890]
    path = tmp_path / "array.json"
    path.write_text("[ " + " ,\n".join(json.dumps(i) for i in items) + " ]")
    records = _read(path)
    assert [r.value for r in records] == items
    assert [json.loads(r.text or "") for r in records] == items
    assert records[0].text == json.dumps(big)


def test_json_lines_keep_each_line_as_received(tmp_path: Path) -> None:
    lines = tmp_path / "raw.jsonl"
    raw = '{"metadata": {"leadId": "a"},   "contactRequest": {"message": "caf\\u00e9"}}'
    lines.write_text(raw + "\n")
    (record,) = _read(lines)
    assert record.text == raw and record.plain_text


@pytest.mark.parametrize("form", ["array", "page"])
def test_escapes_cut_by_a_read_boundary_are_read_whole(tmp_path: Path, form: str) -> None:
    """Whatever the offset, an escape, a number or a literal split across two reads parses."""
    lead = make_lead(1)
    lead["contactRequest"]["message"] = "caf\u00e9 \U0001f3e0 " * 4_000  # \\u escapes throughout
    lead["extra"] = {"n": 12345.678, "t": True, "z": None}
    items = [lead, make_lead(2)]
    text = json.dumps(items if form == "array" else {"items": items, "links": {}}, indent=1)
    for shift in range(0, 24):
        path = tmp_path / f"{form}-{shift}.json"
        path.write_text(" " * shift + text)
        assert [r.value for r in _read(path)] == items
