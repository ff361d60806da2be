from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from retention.domain.validation import LeadFieldError, validate_lead
from tests.factories import make_lead, with_contact

EXAMPLES = Path(__file__).parents[1] / "retention" / "examples"


def _examples() -> list[dict[str, Any]]:
    page = json.loads((EXAMPLES / "example-page.json").read_text())
    single = [
        json.loads((EXAMPLES / name).read_text())
        for name in ("example-agency-lead.json", "example-classified-lead.json")
    ]
    return [*page["items"], *single]


@pytest.mark.parametrize("record", _examples(), ids=lambda r: r["metadata"]["leadId"][-2:])
def test_the_upstream_examples_are_valid(record: dict[str, Any]) -> None:
    lead = validate_lead(record)
    assert lead.lead_id == record["metadata"]["leadId"]
    assert int(lead.ttl.timestamp()) == record["metadata"]["TTL"]
    assert lead.payload == record


def test_upstream_erased_lead_is_valid() -> None:
    erased = with_contact(
        make_lead(1, "AGENCY"),
        firstName=None, lastName=None, gender=None, language=None, message=None, phoneNumbers=[],
    )  # fmt: skip
    lead = validate_lead(erased)
    assert lead.first_name is None and lead.message is None and lead.phone_numbers == ()


def test_additional_properties_are_kept_in_the_payload() -> None:
    record = make_lead(1)
    record["vendorExtension"] = {"score": 3}
    record["contactRequest"]["preferredContactTime"] = "evening"
    assert validate_lead(record).payload["vendorExtension"] == {"score": 3}


def _metadata(**changes: Any) -> dict[str, Any]:
    record = make_lead(1)
    for key, value in changes.items():
        if value is ...:
            del record["metadata"][key]
        else:
            record["metadata"][key] = value
    return record


INVALID = [
    ("not-object", [1, 2], "(record)", "JSON object"),
    ("no-metadata", {"contactRequest": {"message": None}}, "metadata", "required"),
    ("no-lead-id", _metadata(leadId=...), "metadata.leadId", "required"),
    ("blank-lead-id", _metadata(leadId="  "), "metadata.leadId", "blank"),
    ("lead-id-object", _metadata(leadId={"a": 1}), "metadata.leadId", "string"),
    ("bad-portal", _metadata(portal="XXX-FRA"), "metadata.portal", "'XXX-FRA'"),
    ("bad-category", _metadata(leadCategory="RENTAL"), "metadata.leadCategory", "'RENTAL'"),
    ("no-ttl", _metadata(TTL=...), "metadata.TTL", "required"),
    ("ttl-string", _metadata(TTL="1830762900"), "metadata.TTL", "not a string"),
    ("ttl-float", _metadata(TTL=1830762900.5), "metadata.TTL", "integer"),
    ("ttl-bool", _metadata(TTL=True), "metadata.TTL", "integer"),
    ("ttl-negative", _metadata(TTL=-5), "metadata.TTL", "negative"),
    ("ttl-millis", _metadata(TTL=1830762900000), "metadata.TTL", "milliseconds"),
    ("ttl-far", _metadata(TTL=20_000_000_000), "metadata.TTL", "2286"),
    ("ingestion-millis", _metadata(ingestionDate=1736154900000), "metadata.ingestionDate",
     "milliseconds"),
    ("ttl-before-ingestion", _metadata(TTL=1000, ingestionDate=2000), "metadata.TTL", "before"),
    ("no-contact", {k: v for k, v in make_lead(1).items() if k != "contactRequest"},
     "contactRequest", "required"),
    ("first-name-long", with_contact(make_lead(1), firstName="x" * 101),
     "contactRequest.firstName", "100"),
    ("last-name-number", with_contact(make_lead(1), lastName=12), "contactRequest.lastName",
     "string"),
    ("gender", with_contact(make_lead(1), gender="M"), "contactRequest.gender", "not one of"),
    ("language", with_contact(make_lead(1), language="fr"), "contactRequest.language",
     "not one of"),
    ("email", with_contact(make_lead(1), email="not an address"), "contactRequest.email",
     "email"),
    ("phones-not-list", with_contact(make_lead(1), phoneNumbers="0611"),
     "contactRequest.phoneNumbers", "list"),
    ("phone-type", with_contact(make_lead(1), phoneNumbers=[{"type": "FAX", "number": "1"}]),
     "contactRequest.phoneNumbers[0].type", "not one of"),
    ("phone-item", with_contact(make_lead(1), phoneNumbers=["0611223344"]),
     "contactRequest.phoneNumbers[0]", "object"),
    ("owner", with_contact(make_lead(1), isOwner="yes"), "contactRequest.isOwner", "true"),
    ("no-message", {**make_lead(1), "contactRequest": {"firstName": "A"}},
     "contactRequest.message", "required"),
    ("classified-no-property", {k: v for k, v in make_lead(1).items() if k != "property"},
     "property", "required"),
    ("search-no-distribution",
     {k: v for k, v in make_lead(1, "PROPERTY_SEARCH").items() if k != "distributionType"},
     "distributionType", "required"),
    ("search-bad-distribution", {**make_lead(1, "PROPERTY_SEARCH"), "distributionType": ["OWNER"]},
     "distributionType[0]", "'OWNER'"),
    ("nul", with_contact(make_lead(1), message="hello\x00world"), "contactRequest.message",
     "NUL"),
    ("surrogate", with_contact(make_lead(1), lastName="\ud800"), "contactRequest.lastName",
     "surrogate"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("record", "field", "problem"),
    [pytest.param(r, f, p, id=i) for i, r, f, p in INVALID],
)
def test_invalid_leads_name_the_field(record: Any, field: str, problem: str) -> None:
    with pytest.raises(LeadFieldError) as caught:
        validate_lead(copy.deepcopy(record))
    assert caught.value.field == field
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    "contact",
    [
        {"gender": "SECRETGENDER"},
        {"language": "SECRETLANG"},
        {"email": "secret value@example.com"},
        {"firstName": "SecretName" * 20},
    ],
    ids=["gender", "language", "email", "name"],
)
def test_errors_never_echo_contact_data(contact: dict[str, str]) -> None:
    with pytest.raises(LeadFieldError) as caught:
        validate_lead(with_contact(make_lead(1), **contact))
    value = next(iter(contact.values()))
    assert value not in str(caught.value)
    assert "Secret" not in str(caught.value) and "SECRET" not in str(caught.value)
