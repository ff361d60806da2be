"""Every audit action: what its event carries, how it is built, and how it is read back.

An event is an `EventDraft` (audit_chain) whose `details` is the canonical JSON of one of the
classes below. Each class names its action (`ACTION`), holds the details it carries (names of
fields, counts, ids, enum values: never personal data), builds its draft (`draft`) and is read
back from stored details by `parse_details`. `ACTIONS` lists them all.

    draft = LeadPurged(category="AGENCY", portal="SLG-FRA", rule="ttl").draft(
        now, lead_id="L1", run_id=7
    )
    parse_details("lead.purged", draft.details)  # LeadPurged(category='AGENCY', ...)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, TypeVar

from retention.domain.audit_chain import EventDraft, canonical_details

__all__ = [
    "ACTIONS",
    "ERASURE_REASONS",
    "NO_FACETS",
    "EventDetails",
    "Facets",
    "HoldPlaced",
    "HoldReleased",
    "LeadErased",
    "LeadHoldSkipped",
    "LeadPurged",
    "RequestCompleted",
    "RequestDeferred",
    "RequestFailed",
    "RequestReceived",
    "RunFinished",
    "RunStarted",
    "facet_problem",
    "parse_details",
    "purged_details_text",
]


D = TypeVar("D", bound="EventDetails")
# An event's report columns: category, portal, rule, reason (audit_chain.EventDraft).
Facets = tuple[str | None, str | None, str | None, str | None]
NO_FACETS: Facets = (None, None, None, None)


class EventDetails:
    """What every details class shares: its text, its draft, and reading it back."""

    __slots__ = ()
    ACTION: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        """The details as stored (canonical JSON of this mapping): by default every field."""
        values: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]
        return values

    def text(self) -> str:
        return canonical_details(self.as_dict())

    def facets(self) -> Facets:
        """What the event's report columns hold (category, portal, rule, reason): by default
        nothing."""
        return NO_FACETS

    def draft(
        self,
        occurred_at: datetime,
        *,
        lead_id: str | None = None,
        run_id: int | None = None,
        request_id: int | None = None,
    ) -> EventDraft:
        return EventDraft(
            occurred_at, self.ACTION, self.text(), lead_id, run_id, request_id, *self.facets()
        )

    @classmethod
    def from_dict(cls: type[D], values: Mapping[str, Any]) -> D:
        return cls(**values)


# --- leads ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadPurged(EventDetails):
    """A lead hard-deleted by the purge, under `rule` (ttl or ceiling)."""

    ACTION: ClassVar[str] = "lead.purged"
    category: str
    portal: str
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "portal": self.portal, "rule": self.rule}

    def text(self) -> str:
        return purged_details_text(self.category, self.portal, self.rule)

    def facets(self) -> Facets:
        return (self.category, self.portal, self.rule, None)


def purged_details_text(category: str, portal: str, rule: str) -> str:
    """LeadPurged's details, built directly: the purge's hot path writes one per lead. Equal
    to canonical_details of the same mapping (enum values only, no escaping needed; a test
    checks every category, portal and rule)."""
    return f'{{"category":"{category}","portal":"{portal}","rule":"{rule}"}}'


# Why a lead was erased: a seeker's request, a later import of an erased seeker's lead, or the
# upstream API delivering the lead erased.
ERASURE_REASONS = ("request", "suppression", "upstream")


@dataclass(frozen=True, slots=True)
class LeadErased(EventDetails):
    """A lead's contact fields erased (`fields` names them, phoneNumbers last), for `reason`:
    request, suppression or upstream."""

    ACTION: ClassVar[str] = "lead.erased"
    category: str
    portal: str
    fields: tuple[str, ...]  # the policy's fields; phoneNumbers is added in the details
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "fields": [*self.fields, "phoneNumbers"],
            "portal": self.portal,
            "reason": self.reason,
        }

    def text(self) -> str:
        return _erased_text(self.category, self.portal, self.fields, self.reason)

    def facets(self) -> Facets:
        return (self.category, self.portal, None, self.reason)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LeadErased:
        if values["reason"] not in ERASURE_REASONS:
            raise ValueError(f"unknown erasure reason {values['reason']!r}")
        names = [name for name in values["fields"] if name != "phoneNumbers"]
        return cls(values["category"], values["portal"], tuple(names), values["reason"])


@cache
def _erased_text(category: str, portal: str, fields: tuple[str, ...], reason: str) -> str:
    # A run meets few distinct combinations: built once each.
    return canonical_details(LeadErased(category, portal, fields, reason).as_dict())


@dataclass(frozen=True, slots=True)
class LeadHoldSkipped(EventDetails):
    """A held lead left alone. The purge names the lead's category, portal and the rule that
    made it due; the erasure and the import name themselves (`job`)."""

    ACTION: ClassVar[str] = "lead.hold_skipped"
    job: str  # purge, erasure or import
    category: str | None = None  # purge only, like rule and portal
    portal: str | None = None
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.job == "purge":
            return {"category": self.category, "portal": self.portal, "rule": self.rule}
        return {"job": self.job}

    def text(self) -> str:
        if self.job == "purge":
            return purged_details_text(str(self.category), str(self.portal), str(self.rule))
        return canonical_details(self.as_dict())

    def facets(self) -> Facets:
        return (self.category, self.portal, self.rule, self.job)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LeadHoldSkipped:
        if "job" in values:
            return cls(values["job"])
        return cls("purge", values["category"], values["portal"], values["rule"])


# --- requests ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived(EventDetails):
    ACTION: ClassVar[str] = "request.received"
    kind: str  # email, phone or lead_id
    source: str  # cli, file, upstream or import
    due_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"due_at": self.due_at.isoformat(), "kind": self.kind, "source": self.source}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RequestReceived:
        due = datetime.fromisoformat(values["due_at"])
        return cls(values["kind"], values["source"], due.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class _RequestClosed(EventDetails):
    held: int  # leads kept by a legal hold
    leads_erased: int  # by the request so far
    from_request: int | None = None  # a suppression entry derived from a lead-id request

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"held": self.held, "leads_erased": self.leads_erased}
        if self.from_request is not None:
            values["from_request"] = self.from_request
        return values


@dataclass(frozen=True, slots=True)
class RequestCompleted(_RequestClosed):
    ACTION: ClassVar[str] = "request.completed"


@dataclass(frozen=True, slots=True)
class RequestDeferred(_RequestClosed):
    ACTION: ClassVar[str] = "request.deferred"


@dataclass(frozen=True, slots=True)
class RequestFailed(EventDetails):
    ACTION: ClassVar[str] = "request.failed"
    leads: int  # leads that kept a value after the update
    reason: str  # verification


# --- holds ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldPlaced(EventDetails):
    ACTION: ClassVar[str] = "hold.placed"
    hold_id: int
    target: str  # lead_id, email or phone
    until: datetime | None

    def as_dict(self) -> dict[str, Any]:
        until = self.until.isoformat() if self.until else None
        return {"hold_id": self.hold_id, "target": self.target, "until": until}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> HoldPlaced:
        until = values["until"]
        moment = datetime.fromisoformat(until).astimezone(UTC) if until else None
        return cls(values["hold_id"], values["target"], moment)


@dataclass(frozen=True, slots=True)
class HoldReleased(EventDetails):
    ACTION: ClassVar[str] = "hold.released"
    hold_id: int


# --- runs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunStarted(EventDetails):
    ACTION: ClassVar[str] = "run.started"
    job: str


@dataclass(frozen=True, slots=True)
class RunFinished(EventDetails):
    """A run's end: its status and counts. `closed_by_run`: the run was left `running` by a
    dead process, and this later run closed it."""

    ACTION: ClassVar[str] = "run.finished"
    job: str
    status: str
    counts: Mapping[str, Any] = field(default_factory=dict)
    closed_by_run: int | None = None

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {"counts": dict(self.counts), "job": self.job,
                                  "status": self.status}  # fmt: skip
        if self.closed_by_run is not None:
            values["closed_by_run"] = self.closed_by_run
        return values


_CLASSES: Sequence[type[EventDetails]] = (
    LeadPurged, LeadErased, LeadHoldSkipped, RequestReceived, RequestCompleted,
    RequestDeferred, RequestFailed, HoldPlaced, HoldReleased, RunStarted, RunFinished,
)  # fmt: skip
_BY_ACTION = {cls.ACTION: cls for cls in _CLASSES}
ACTIONS = tuple(_BY_ACTION)
# The actions whose events fill the report columns (facets).
_FACETED = frozenset((LeadPurged.ACTION, LeadErased.ACTION, LeadHoldSkipped.ACTION))


def parse_details(action: str, details: str) -> EventDetails:
    """The details of a stored event as the class of its action; ValueError for an action
    this version does not know or details that are not its shape."""
    cls = _BY_ACTION.get(action)
    if cls is None:
        raise ValueError(f"unknown audit action {action!r}")
    try:
        return cls.from_dict(json.loads(details))
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"details of {action} are not its shape: {exc}") from None


def facet_problem(draft: EventDraft) -> str | None:
    """Why the report columns of a stored event disagree with its details, or None: the
    details are hashed, the columns are not, so `audit verify` checks one against the other
    (the report counts the columns)."""
    stored = (draft.category, draft.portal, draft.rule, draft.reason)
    if draft.action == LeadPurged.ACTION and draft.reason is None:
        category, portal, rule = draft.category, draft.portal, draft.rule
        if category and portal and rule:  # the common case, without parsing JSON
            if draft.details == purged_details_text(category, portal, rule):
                return None
    if draft.action in _FACETED:
        try:
            expected = _BY_ACTION[draft.action].from_dict(json.loads(draft.details)).facets()
        except (TypeError, KeyError, ValueError):
            return "its details are not the shape of its action"
    else:
        expected = NO_FACETS
    if expected != stored:
        return (
            "its report columns (category, portal, rule, reason) disagree with its details "
            "(the columns were altered)"
        )
    return None
