"""Erasures an import carries out, in the import's own transaction.

- Suppression: a lead imported for a subject that asked for erasure (same email or phone, any
  lead id) is stored erased (`lead.erased`, reason `suppression`, the request's id; the
  request's `leads_erased` counts it).
- Upstream erasure: a lead that arrives erased by the upstream API (contact fields null,
  phoneNumbers []) is stored erased, and a copy we hold with data is erased (reason
  `upstream`), recorded as a completed request of source `upstream`.

A held lead is neither: it keeps our copy (an upstream-erased version is not written over it),
gets a `lead.hold_skipped` event and a `deferred` request for that lead (source `upstream` or
`import`), which the erasure job finishes once the hold is released. Events are collected and
appended once, when the import commits, so the audit chain's head is locked only then.

The suppression entries (the email and phone requests' hashes) are read into memory when the
import writes its first batch if there are at most IN_MEMORY_ENTRIES of them; otherwise each
batch is joined with them in the database. Requests recorded while the import runs are
checked at the end, under the suppression lock (storage/locks.py, SUPPRESSION), so no
erasure can miss a lead this import commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from retention.domain.audit_chain import EventDraft
from retention.domain.erasure import ErasedFields
from retention.domain.events import LeadHoldSkipped, RequestCompleted, RequestDeferred
from retention.domain.requests import RequestStatus
from retention.domain.subjects import subject_hash
from retention.services.erasure_batch import erase_leads, erased_events
from retention.services.request_intake import NewRequest, take_in
from retention.storage.audit import ChainHead, append_events
from retention.storage.erasure import ErasedLead, held_lead_ids, subject_lead_ids
from retention.storage.holds import active_holds_exist
from retention.storage.leads import existing_lead_ids
from retention.storage.locks import TransactionLock, take_transaction_lock
from retention.storage.suppression import (
    add_leads_erased,
    recent_subject_requests,
    subject_request_count,
    subject_requests,
    suppressing_requests,
)

__all__ = ["IN_MEMORY_ENTRIES", "ImportErasures"]

IN_MEMORY_ENTRIES = 200_000
# Requests are numbered when inserted but may commit out of that order: the final check looks
# this far below the newest id it had seen.
_ID_WINDOW = 10_000


class ImportErasures:
    def __init__(self, fields: ErasedFields, key: bytes, now: datetime) -> None:
        self._fields = fields
        self._key = key
        self._now = now
        self._events: list[EventDraft] = []
        self.erased = 0
        self.hold_skipped = 0
        self._holds: bool | None = None
        # Suppression entries seen when the import began: (kind, hash) -> oldest request id
        # (in memory), their count, and the ids of the newest ones.
        self._entries: dict[tuple[str, bytes], int] | None = None
        self._in_memory = False
        self._entry_count = 0
        self._recent_ids: set[int] = set()
        self._low_id = 0
        self._suppressed_by: Counter[int] = Counter()
        self._skipped: set[str] = set()
        self.head: ChainHead | None = None  # after finish(), when it appended events

    # --- holds ---------------------------------------------------------------------------

    def _held(self, conn: Connection, lead_ids: Collection[str]) -> set[str]:
        if not lead_ids:
            return set()
        if self._holds is None:  # looked up once per import
            self._holds = active_holds_exist(conn, self._now)
        return held_lead_ids(conn, lead_ids, self._now) if self._holds else set()

    def _skip(self, conn: Connection, lead_ids: Collection[str], source: str) -> None:
        """Held leads: a `lead.hold_skipped` event and a deferred request for each (or its
        open one), so the erasure job erases the lead once the hold is released."""
        for lead_id in sorted(set(lead_ids) - self._skipped):
            self._skipped.add(lead_id)
            wanted = NewRequest(
                "lead_id", subject_hash(self._key, "lead_id", lead_id), source, self._now,
                subject=lead_id, status=RequestStatus.DEFERRED,
            )  # fmt: skip
            (taken,) = take_in(conn, [wanted], now=self._now, events=self._events,
                               serialize=False)  # fmt: skip
            if taken.recorded:
                deferred = RequestDeferred(held=1, leads_erased=0)
                self._events.append(deferred.draft(self._now, request_id=taken.request_id))
            skipped = LeadHoldSkipped("import")
            self._events.append(
                skipped.draft(self._now, lead_id=lead_id, request_id=taken.request_id)
            )
            self.hold_skipped += 1

    # --- upstream erasure ----------------------------------------------------------------

    def upstream_candidates(
        self, conn: Connection, upstream_erased: Collection[str]
    ) -> tuple[list[str], set[str]]:
        """Before the batch is written: of the leads arriving erased upstream, those to erase
        after the write (new ones, and ours with data) and those to leave unwritten (ours,
        held). A lead already erased in the store is left to the writer (it stays erased)."""
        if not upstream_erased:
            return [], set()
        stored = existing_lead_ids(conn, upstream_erased)
        ours = [i for i in upstream_erased if i in stored and not stored[i]]
        held = self._held(conn, ours)
        self._skip(conn, held, "upstream")
        new = [i for i in upstream_erased if i not in stored]
        return sorted({*ours, *new} - held), held

    def _upstream_request(self, conn: Connection, lead: ErasedLead) -> int:
        wanted = NewRequest(
            "lead_id", subject_hash(self._key, "lead_id", lead.lead_id), "upstream", self._now,
            status=RequestStatus.COMPLETED, completed_at=self._now, leads_erased=1,
        )  # fmt: skip
        (taken,) = take_in(conn, [wanted], now=self._now, reuse=None, events=self._events)
        self._erased_event(lead, "upstream", taken.request_id)
        completed = RequestCompleted(held=0, leads_erased=1)
        self._events.append(completed.draft(self._now, request_id=taken.request_id))
        return taken.request_id

    # --- suppression ---------------------------------------------------------------------

    def _snapshot(self, conn: Connection) -> None:
        self._entry_count = subject_request_count(conn)
        recent = recent_subject_requests(conn, after_id=0, newest=_ID_WINDOW)
        self._recent_ids = {request_id for request_id, _, _ in recent}
        self._low_id = max(0, max(self._recent_ids, default=0) - _ID_WINDOW)
        entries = subject_requests(conn, limit=IN_MEMORY_ENTRIES)
        self._in_memory = entries is not None
        self._entries = entries or {}

    def _suppressed(
        self,
        conn: Connection,
        written: Sequence[str],
        subjects: Mapping[str, Sequence[tuple[str, bytes]]],
    ) -> dict[str, int]:
        """Those of `written` whose email or phone asked for erasure, with the request."""
        if self._entries is None:
            self._snapshot(conn)
        assert self._entries is not None
        if not self._in_memory:
            return suppressing_requests(conn, written)
        found: dict[str, int] = {}
        if self._entries:
            for lead_id in written:
                matches = [
                    self._entries[s] for s in subjects.get(lead_id, ()) if s in self._entries
                ]
                if matches:
                    found[lead_id] = min(matches)
        return found

    # --- per batch, and at the end -------------------------------------------------------

    def after_write(
        self,
        conn: Connection,
        written: Sequence[str],
        upstream: Sequence[str],
        subjects: Mapping[str, Sequence[tuple[str, bytes]]],
    ) -> None:
        """After the batch and its subject hashes (`subjects`, by lead id) are written: erase
        the upstream candidates and the leads of erased subjects."""
        suppressed = self._suppressed(conn, written, subjects)
        for lead_id in upstream:
            suppressed.pop(lead_id, None)
        self._erase(conn, suppressed, upstream)

    def _erase(self, conn: Connection, suppressed: dict[str, int], upstream: Sequence[str]) -> None:
        held = self._held(conn, [*suppressed, *upstream])
        self._skip(conn, [i for i in upstream if i in held], "upstream")
        self._skip(conn, [i for i in suppressed if i in held], "import")
        targets = [i for i in (*upstream, *sorted(suppressed)) if i not in held]
        if not targets:
            return
        erasure = erase_leads(conn, targets, self._fields, now=self._now)
        erased = {lead.lead_id: lead for lead in erasure.erased}
        for lead_id in upstream:
            if lead_id in erased:
                self._upstream_request(conn, erased[lead_id])
        for lead_id, request_id in sorted(suppressed.items()):
            if lead_id in erased:
                self._erased_event(erased[lead_id], "suppression", request_id)
                self._suppressed_by[request_id] += 1
        self.erased += len(erased)

    def _erased_event(self, lead: ErasedLead, reason: str, request_id: int) -> None:
        self._events += erased_events(
            [lead], self._fields, reason=reason, now=self._now, run_id=None,
            request_id=request_id,
        )  # fmt: skip

    def finish(self, conn: Connection) -> None:
        """Last, before the import commits: under the suppression lock, erase the leads of
        subjects whose requests were recorded while the import ran, then append the events
        and count the suppressed leads in their requests."""
        take_transaction_lock(conn, TransactionLock.SUPPRESSION)
        if self._entries is not None and subject_request_count(conn) != self._entry_count:
            # Requests are never deleted: a different count means new requests.
            new = [
                (kind, digest, request_id)
                for request_id, kind, digest in recent_subject_requests(conn, after_id=self._low_id)
                if request_id not in self._recent_ids
            ]
            suppressed: dict[str, int] = {}
            for lead_id, request_id in subject_lead_ids(conn, new).items():
                suppressed[lead_id] = min(request_id, suppressed.get(lead_id, request_id))
            self._erase(conn, suppressed, [])
        add_leads_erased(conn, self._suppressed_by)
        if self._events:
            self.head = append_events(conn, self._events)
            self._events = []
