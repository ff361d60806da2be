"""Erasures an import carries out, in the import's own transaction.

- Suppression: a lead imported for a subject that asked for erasure (same email or phone, any
  lead id) is stored erased (`lead.erased`, reason `suppression`, the request's id).
- Upstream erasure: a lead that arrives erased by the upstream API (contact fields null,
  phoneNumbers []) while we hold it with data erases our copy (reason `upstream`), recorded as
  a completed request of source `upstream`.

A held lead is neither: it keeps our copy (an upstream-erased version is not written over it)
and gets a `lead.hold_skipped` event. Events are collected and appended once, when the import
commits, so the audit chain's head is locked only at the end of the import.

The suppression entries (the email and phone requests' hashes) are read once per import into
memory when there are at most IN_MEMORY_ENTRIES of them, so a batch is checked without a
query; requests recorded while the import runs are checked in the database as well. Larger
lists are joined in the database, batch by batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from retention.domain.audit_chain import EventDraft, canonical_details
from retention.domain.erasure import due_date, erased_details
from retention.domain.subjects import subject_hash
from retention.services.erasure import erase_leads, received_event
from retention.storage.audit import append_events
from retention.storage.erasure import ErasedLead, held_lead_ids
from retention.storage.holds import active_holds_exist
from retention.storage.leads import existing_lead_ids
from retention.storage.requests import (
    insert_request,
    newest_request_id,
    subject_requests,
    suppressing_requests,
)

__all__ = ["IN_MEMORY_ENTRIES", "ImportErasures"]

IN_MEMORY_ENTRIES = 200_000


class ImportErasures:
    def __init__(self, fields: Sequence[str], key: bytes, now: datetime) -> None:
        self._fields = fields
        self._key = key
        self._now = now
        self._events: list[EventDraft] = []
        self.erased = 0
        self.hold_skipped = 0
        self._holds: bool | None = None
        # Suppression entries: None until read; (kind, hash) -> oldest request id.
        self._entries: dict[tuple[str, bytes], int] | None = None
        self._in_memory = False
        self._newest_request = 0

    def _held(self, conn: Connection, lead_ids: Collection[str]) -> set[str]:
        if not lead_ids:
            return set()
        if self._holds is None:
            self._holds = active_holds_exist(conn, self._now)
        return held_lead_ids(conn, lead_ids, self._now) if self._holds else set()

    def _skip(self, lead_ids: Collection[str], request_ids: dict[str, int] | None = None) -> None:
        for lead_id in sorted(lead_ids):
            self._events.append(
                EventDraft(
                    self._now,
                    "lead.hold_skipped",
                    canonical_details({"job": "import"}),
                    lead_id=lead_id,
                    request_id=(request_ids or {}).get(lead_id),
                )
            )
        self.hold_skipped += len(lead_ids)

    def upstream_candidates(
        self, conn: Connection, upstream_erased: Collection[str]
    ) -> tuple[list[str], set[str]]:
        """Before the batch is written: of the leads arriving erased upstream, those we hold
        with data (to erase after the write) and those of them under a hold (not to write)."""
        if not upstream_erased:
            return [], set()
        stored = existing_lead_ids(conn, upstream_erased)
        candidates = sorted(i for i in upstream_erased if i in stored and not stored[i])
        held = self._held(conn, candidates)
        self._skip(held)
        return [i for i in candidates if i not in held], held

    def _suppressed(
        self,
        conn: Connection,
        written: Sequence[str],
        subjects: Mapping[str, Sequence[tuple[str, bytes]]],
    ) -> dict[str, int]:
        """Those of `written` whose email or phone asked for erasure, with the request."""
        if self._entries is None:
            self._newest_request = newest_request_id(conn)
            entries = subject_requests(conn, limit=IN_MEMORY_ENTRIES)
            self._in_memory = entries is not None
            self._entries = entries or {}
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
        if newest_request_id(conn) > self._newest_request:  # recorded since the import began
            for lead_id, request_id in suppressing_requests(
                conn, written, after_id=self._newest_request
            ).items():
                found[lead_id] = min(request_id, found.get(lead_id, request_id))
        return found

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
        held = self._held(conn, list(suppressed))
        self._skip(held, suppressed)
        targets = [*upstream, *sorted(i for i in suppressed if i not in held)]
        if not targets:
            return
        erased = {
            lead.lead_id: lead for lead in erase_leads(conn, targets, self._fields, now=self._now)
        }
        for lead_id in upstream:
            if lead_id in erased:
                self._upstream_request(conn, erased[lead_id])
        for lead_id, request_id in sorted(suppressed.items()):
            if lead_id in erased:
                self._erased(erased[lead_id], "suppression", request_id)
        self.erased += len(erased)

    def _erased(self, lead: ErasedLead, reason: str, request_id: int) -> None:
        self._events.append(
            EventDraft(
                self._now,
                "lead.erased",
                erased_details(
                    category=lead.category, portal=lead.portal, fields=self._fields, reason=reason
                ),
                lead_id=lead.lead_id,
                request_id=request_id,
            )
        )

    def _upstream_request(self, conn: Connection, lead: ErasedLead) -> None:
        due = due_date(self._now)
        request_id = insert_request(
            conn, kind="lead_id", subject_hash=subject_hash(self._key, "lead_id", lead.lead_id),
            subject=None, received_at=self._now, due_at=due, source="upstream", reference=None,
            status="completed", completed_at=self._now, leads_erased=1,
        )  # fmt: skip
        self._events.append(received_event(request_id, "lead_id", "upstream", due, self._now))
        self._erased(lead, "upstream", request_id)
        details = canonical_details({"held": 0, "leads_erased": 1})
        self._events.append(
            EventDraft(self._now, "request.completed", details, request_id=request_id)
        )

    def commit_events(self, conn: Connection) -> None:
        """Append the collected events; call last before the import commits."""
        if self._events:
            append_events(conn, self._events)
            self._events = []
