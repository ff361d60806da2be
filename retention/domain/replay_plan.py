"""What replaying a batch of the audit journal's events changes in the store, worked out from
the events and their entries alone (services/replay.py carries it out, storage writes it):

- lead.purged: the lead is deleted (if it is still there);
- lead.erased: the lead's fields named by the event are erased, at the event's time (if it is
  still there and not erased); reason `suppression` also counts the lead in its request;
- request.received: the request's row, from its entry (when missing); request.completed,
  request.deferred, request.failed: the request's status;
- hold.placed: the hold's row, from its entry (when missing); hold.released: its release;
- run.started / run.finished: the run's job_runs row, so no run id is handed out twice.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from retention.domain.events import (
    EventDetails,
    HoldPlaced,
    HoldReleased,
    LeadErased,
    LeadPurged,
    RequestCompleted,
    RequestDeferred,
    RequestFailed,
    RequestReceived,
    RunFinished,
    RunStarted,
    parse_details,
)
from retention.domain.journal_entries import HoldEntry, JournalEvent, RequestEntry

__all__ = ["BatchPlan", "Erasure", "RequestState", "RunEnd", "RunStart", "plan_batch"]


@dataclass(frozen=True, slots=True)
class Erasure:
    """Leads erased together: the same fields at the same time."""

    fields: tuple[str, ...]  # the policy's fields the events name (phoneNumbers aside)
    erased_at: datetime
    lead_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RequestState:
    """A request's status as its last event in a batch left it."""

    request_id: int
    status: str
    leads_erased: int | None  # None: unchanged (a failure does not count leads)
    completed_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class RunStart:
    run_id: int
    job: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class RunEnd:
    run_id: int
    status: str
    finished_at: datetime
    counts: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class BatchPlan:
    erasures: tuple[Erasure, ...]
    purged: tuple[str, ...]  # lead ids
    requests: tuple[RequestEntry, ...]  # rows to put back when missing
    request_states: tuple[RequestState, ...]  # written first,
    leads_erased_added: Mapping[int, int]  # then these added (request id -> leads)
    holds: tuple[HoldEntry, ...]  # rows to put back when missing
    releases: tuple[tuple[int, datetime], ...]  # (hold id, released at)
    runs_started: tuple[RunStart, ...]
    runs_finished: tuple[RunEnd, ...]

    @property
    def largest_ids(self) -> dict[str, int]:
        """Table -> the largest id this plan writes rows with."""
        largest = {
            "erasure_requests": max((e.request_id for e in self.requests), default=0),
            "legal_holds": max((e.hold_id for e in self.holds), default=0),
            "job_runs": max((r.run_id for r in self.runs_started), default=0),
        }
        return {table: top for table, top in largest.items() if top}


@functools.lru_cache(maxsize=256)
def _details(action: str, text: str) -> EventDetails:
    # A run's events share a few texts (the same category, portal and fields): parsed once.
    return parse_details(action, text)


@dataclass
class _Builder:
    skip: Collection[int]
    erasures: dict[tuple[tuple[str, ...], datetime], list[str]] = field(default_factory=dict)
    purged: list[str] = field(default_factory=list)
    requests: list[RequestEntry] = field(default_factory=list)
    states: dict[int, RequestState] = field(default_factory=dict)
    added: Counter[int] = field(default_factory=Counter)
    holds: list[HoldEntry] = field(default_factory=list)
    releases: list[tuple[int, datetime]] = field(default_factory=list)
    started: list[RunStart] = field(default_factory=list)
    finished: list[RunEnd] = field(default_factory=list)

    def add(self, event: JournalEvent, entries: Sequence[RequestEntry | HoldEntry]) -> None:
        draft = event.draft
        action, lead_id, request_id = draft.action, draft.lead_id, draft.request_id
        if action == LeadPurged.ACTION and lead_id is not None:
            self.purged.append(lead_id)
        elif action == LeadErased.ACTION and lead_id is not None:
            erased = _details(action, draft.details)
            assert isinstance(erased, LeadErased)
            self.erasures.setdefault((erased.fields, draft.occurred_at), []).append(lead_id)
            if erased.reason == "suppression" and request_id is not None:
                self.added[request_id] += 1
        elif action == RequestReceived.ACTION:
            self.requests += [e for e in entries if isinstance(e, RequestEntry)]
        elif action in (RequestCompleted.ACTION, RequestDeferred.ACTION) and request_id:
            closed = _details(action, draft.details)
            assert isinstance(closed, RequestCompleted | RequestDeferred)
            done = action == RequestCompleted.ACTION
            self.states[request_id] = RequestState(
                request_id, "completed" if done else "deferred", closed.leads_erased,
                draft.occurred_at if done else None, None,
            )  # fmt: skip
            self.added.pop(request_id, None)  # the count it gives includes those
        elif action == RequestFailed.ACTION and request_id:
            failed = _details(action, draft.details)
            assert isinstance(failed, RequestFailed)
            error = (
                f"erasure {failed.reason} failed: {failed.leads} lead(s) still held erased "
                "fields (restored from the audit journal)"
            )
            self.states[request_id] = RequestState(request_id, "failed", None, None, error)
        elif action == HoldPlaced.ACTION:
            self.holds += [e for e in entries if isinstance(e, HoldEntry)]
        elif action == HoldReleased.ACTION:
            released = _details(action, draft.details)
            assert isinstance(released, HoldReleased)
            self.releases.append((released.hold_id, draft.occurred_at))
        elif action == RunStarted.ACTION and draft.run_id is not None:
            started = _details(action, draft.details)
            assert isinstance(started, RunStarted)
            self.started.append(RunStart(draft.run_id, started.job, draft.occurred_at))
        elif action == RunFinished.ACTION and draft.run_id is not None:
            ended = _details(action, draft.details)
            assert isinstance(ended, RunFinished)
            self.finished.append(
                RunEnd(draft.run_id, ended.status, draft.occurred_at, dict(ended.counts))
            )

    def plan(self) -> BatchPlan:
        skip = self.skip
        return BatchPlan(
            erasures=tuple(
                Erasure(fields, moment, tuple(ids))
                for (fields, moment), ids in self.erasures.items()
            ),
            purged=tuple(self.purged),
            requests=tuple(e for e in self.requests if e.request_id not in skip),
            request_states=tuple(s for i, s in self.states.items() if i not in skip),
            leads_erased_added={i: n for i, n in self.added.items() if n and i not in skip},
            holds=tuple(self.holds),
            releases=tuple(self.releases),
            runs_started=tuple(self.started),
            runs_finished=tuple(self.finished),
        )


def plan_batch(
    events: Sequence[tuple[JournalEvent, Sequence[RequestEntry | HoldEntry]]],
    *,
    skip_requests: Collection[int] = (),
) -> BatchPlan:
    """What replaying `events` (each with its entries), in order, changes. `skip_requests`:
    requests not to put back (their rows could not be carried out, see services/replay.py)."""
    builder = _Builder(skip_requests)
    for event, entries in events:
        builder.add(event, entries)
    return builder.plan()
