"""The report benchmark's data set: N audit events over the 3 years up to `now`, hash-chained as
the tool chains them, with the job runs, erasure requests and legal holds they speak of.

Each day (the last one ends at `now`), in time order:
- purge runs (up to 24 a day): run.started, the day's share of the lead.purged events (rule,
  portal and category columns set; ~97% ttl, ~3% ceiling), now and then a lead.hold_skipped of
  a held lead, run.finished with the purge's counts (due_at_start: the report's backlog
  history); ~1% fail (no purges, counts {}); a dry run (a job_runs row only) every 60 days;
- erasure requests received (request.received), taken up by the next of the day's erasure runs
  (up to 4): lead.erased (reason request) for each of its 1-3 leads and request.completed; ~4%
  meet a held lead (lead.hold_skipped, request.deferred) and complete 3-45 days later, some
  past their due date; ~0.3% fail verification once (request.failed: the run fails) and
  complete at the next run. Those received after the last run stay pending;
- legal holds placed (hold.placed: on a lead of the store or on a subject, some with an end
  date), most released weeks later (hold.released);
- erasures by imports (lead.erased, reason suppression or upstream, no run);
- the report run at 06:00.
The lead.purged events fill the budget: exactly N events. Every hash is computed here as
retention/domain/audit_chain.py does (SHA-256 of the previous hash and the event's fields
joined by the unit separator), the details written as retention/domain/events.py writes them,
so `retention audit verify` walks the chain without a break. Rows come out as PostgreSQL COPY
text (bench/report_store.py loads them). Deterministic for given (N, now, lead pool).
"""

from __future__ import annotations

import calendar
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from report_store import Chain, Generated, canonical, copy_row, db_time
from synthetic import PORTALS

__all__ = ["DAYS", "generate"]

DAY = 86_400
DAYS = 3 * 365
CATEGORIES = (("CLASSIFIED", 60), ("PROPERTY_SEARCH", 25), ("AGENCY", 15))
RULES = (("ttl", 97), ("ceiling", 3))
# The default erasure.fields, then phoneNumbers (LeadErased's details).
ERASED_FIELDS = "firstName lastName name gender language message email isOwner phoneNumbers"
COMBOS = 4096  # (category, portal, rule) drawn once each, picked per event by its number
PER_SECOND = 2000  # lead.purged events of a run stamped with the same second


def iso(t: int | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


def due_date(received: int) -> int:
    """domain/requests.due_date: the end of the day one calendar month after receipt."""
    at = time.gmtime(received)
    year, month = (at.tm_year + 1, 1) if at.tm_mon == 12 else (at.tm_year, at.tm_mon + 1)
    day = min(at.tm_mday, calendar.monthrange(year, month)[1])
    return calendar.timegm((year, month, day, 23, 59, 59, 0, 0, 0))


def uuid_of(number: int, kind: int) -> str:
    """A UUID-shaped lead id, unique per (number, kind): 1 purged, 2 erased."""
    h = (number * 2654435761 + kind * 97) % 4294967296
    return f"{h:08x}-{kind:04x}-4{h % 4096:03x}-a{number % 4096:03x}-{number:012x}"


def purged_lead(number: int) -> str:
    return uuid_of(number, 1)


@dataclass(slots=True)
class Request:
    id: int
    kind: str
    source: str
    received: int
    leads: list[str]
    status: str = "pending"
    erased: int = 0
    held: str | None = None  # the held lead, while deferred
    release_day: int = 0
    completed: int | None = None
    error: str | None = None


@dataclass(slots=True)
class Hold:
    id: int
    lead: str | None  # None: a hold on a subject (an email)
    created: int
    until: int | None
    released: int | None = None


def _pool(rng: random.Random, choices: Sequence[tuple[str, int]]) -> list[str]:
    names, weights = zip(*choices, strict=True)
    return rng.choices(names, weights, k=COMBOS)


def _finished(job: str, status: str, counts: dict[str, Any]) -> str:
    return canonical({"counts": counts, "job": job, "status": status})


class Generator:
    def __init__(self, events: int, now: int, pool: Sequence[str], sink: Callable[[str], None]):
        self.target, self.now, self.pool = events, now, list(pool) or ["bench-no-lead"]
        self.rng = rng = random.Random(20260101)
        self.chain, self.out = Chain(sink), Generated()
        triples = zip(_pool(rng, CATEGORIES), _pool(rng, PORTALS), _pool(rng, RULES), strict=True)
        self.combos = [
            (f'{{"category":"{c}","portal":"{p}","rule":"{r}"}}', c, p, r) for c, p, r in triples
        ]
        self.first_day = now // DAY - DAYS + 1
        self.quota = self.runs_left = 0  # the day's lead.purged events and purge runs left
        self.run_id = self.request_id = self.hold_id = self.purged_leads = self.erased_leads = 0
        self.pending: list[Request] = []
        self.deferred: list[Request] = []
        self.active: dict[int, Hold] = {}
        self.releases: dict[int, list[Hold]] = {}  # day -> holds released or expiring that day
        # What each day holds, from the budget: purge runs, erasure runs, requests, holds, ...
        self.purge_runs = max(1, min(24, events // (DAYS * 150)))
        self.erasure_slots = max(1, min(4, self.purge_runs // 4))
        self.per_day = {"request": events / 200 / DAYS, "hold": max(3, events // 20_000) / DAYS,
                        "import": events * 0.003 / DAYS}  # fmt: skip
        runs = self.purge_runs + self.erasure_slots + 1
        self.others_per_day = 4.3 * self.per_day["request"] + 1.7 * self.per_day["hold"]
        self.others_per_day += self.per_day["import"] + 2 * runs

    # --- rows of the other tables -----------------------------------------------------------

    def job_run(
        self, job: str, started: int, finished: int, status: str, counts: dict[str, Any],
        *, dry_run: bool = False, error: str | None = None,
    ) -> None:  # fmt: skip
        self.out.job_runs.append(
            copy_row(self.run_id, job, db_time(started), db_time(finished), status, dry_run,
                     canonical(counts), "bench-host", 4000 + self.run_id % 30000, 0, error)
        )  # fmt: skip

    def request_row(self, r: Request) -> None:
        digest = hashlib.sha256(f"bench-request-{r.id}".encode()).digest()
        subject = r.leads[0] if r.kind == "lead_id" and r.status != "completed" else None
        self.out.requests.append(
            copy_row(r.id, r.kind, digest, subject, db_time(r.received),
                     db_time(due_date(r.received)), db_time(r.completed), r.status, r.erased,
                     r.source, None, r.error)
        )  # fmt: skip

    def hold_row(self, h: Hold) -> None:
        digest = None if h.lead else hashlib.sha256(f"bench-hold-{h.id}".encode()).digest()
        self.out.holds.append(
            copy_row(h.id, h.lead, None if h.lead else "email", digest, f"litigation {h.id}",
                     db_time(h.created), db_time(h.until), db_time(h.released))
        )  # fmt: skip

    # --- the days ---------------------------------------------------------------------------

    def run(self) -> Generated:
        for d in range(DAYS):
            self.day(d, (self.first_day + d) * DAY)
        for r in self.pending + self.deferred:
            self.request_row(r)
        for h in self.active.values():
            if h.released is not None and h.released >= self.now - 300:
                h.released = None  # its release lies ahead
            self.hold_row(h)
        self.chain.flush()
        self.out.events, self.out.head_hash = self.chain.next_id - 1, self.chain.prev
        self.out.counts = dict(self.chain.counts)
        return self.out

    def day(self, d: int, start: int) -> None:
        rng, end = self.rng, min(start + DAY, self.now - 300)
        items: list[tuple[int, int, str, Any]] = [(start + 6 * 3600 + 30, 0, "report", None)]
        items += [
            (start + h * DAY // self.purge_runs + rng.randrange(300), 1, "purge", None)
            for h in range(self.purge_runs)
        ]
        items += [
            (start + s * DAY // self.erasure_slots + 900, 2, "erasure", None)
            for s in range(self.erasure_slots)
        ]
        for kind, per_day in self.per_day.items():  # exact over the days
            n = int((d + 1) * per_day) - int(d * per_day)
            items += [(start + rng.randrange(DAY), 3, kind, None) for _ in range(n)]
        items += [(h.released or start, 4, "release", h) for h in self.releases.pop(d, [])]
        items = sorted((i for i in items if i[0] < end), key=lambda i: (i[0], i[1], i[2]))
        if d == DAYS - 1:  # its only purge run, the final one, fills the budget exactly
            items.append((end, 5, "final", None))
        days_left = DAYS - d
        quota = (self.target - self.chain.next_id + 1) / days_left - self.others_per_day
        self.quota = max(0, int(quota * rng.uniform(0.85, 1.15))) if d < DAYS - 1 else 0
        self.runs_left = sum(1 for i in items if i[2] == "purge")
        if d % 60 == 59:
            self.run_id += 1
            counts = self.purge_counts(self.quota // 10, 0, 0)
            self.job_run("purge", start + 3600, start + 3602, "succeeded", counts, dry_run=True)
        for t, _, kind, hold in items:
            if kind in ("purge", "final"):
                self.purge(t, final=kind == "final")
            elif kind == "erasure":
                self.erasure(t, d)
            elif kind == "release":
                self.release(t, hold)
            else:
                {"report": self.report, "request": self.request, "hold": self.hold,
                 "import": self.imported}[kind](t)  # fmt: skip

    # --- what happens -----------------------------------------------------------------------

    @staticmethod
    def purge_counts(k: int, ceiling: int, skipped: int) -> dict[str, Any]:
        return {
            "batches": max(1, -(-k // 1000)), "by_rule": {"ceiling": ceiling, "ttl": k - ceiling},
            "deleted": k, "due_at_start": k + skipped, "hold_skipped": skipped, "residue": None,
        }  # fmt: skip

    def purge(self, t: int, *, final: bool) -> None:
        rng, chain = self.rng, self.chain
        if final:
            k = max(0, self.target - chain.next_id + 1 - 2)
        else:
            share = self.quota / max(1, self.runs_left)
            k = (
                self.quota
                if self.runs_left <= 1
                else min(self.quota, int(share * rng.uniform(0.7, 1.3)))
            )
            self.runs_left -= 1
            if k == 0:
                return  # nothing due: the idle check records no run
        self.run_id += 1
        run = self.run_id
        chain.add(t, "run.started", '{"job":"purge"}', run=run)
        if not final and rng.random() < 0.01:
            chain.add(t + 5, "run.finished", _finished("purge", "failed", {}), run=run)
            error = "OperationalError: server closed the connection unexpectedly (bench)"
            self.job_run("purge", t, t + 5, "failed", {}, error=error)
            return
        self.quota -= k
        skipped = 0
        held = [h.lead for h in self.active.values() if h.lead]
        if held and not final and rng.random() < 0.05:
            _, category, portal, _ = self.combos[rng.randrange(COMBOS)]
            details = f'{{"category":"{category}","portal":"{portal}","rule":"ttl"}}'
            facets = (category, portal, "ttl", "purge")
            chain.add(t + 1, "lead.hold_skipped", details, lead=rng.choice(held), run=run,
                      facets=facets)  # fmt: skip
            skipped = 1
        first, combos = self.purged_leads, self.combos
        ceiling = chain.purged(t + 1, run, first, k, combos, PER_SECOND, purged_lead)
        self.purged_leads += k
        counts = self.purge_counts(k, ceiling, skipped)
        done = t + 2 + k // PER_SECOND
        chain.add(done, "run.finished", _finished("purge", "succeeded", counts), run=run)
        self.job_run("purge", t, done, "succeeded", counts)

    def erased(self, t: int, lead: str, reason: str, run: int | None, request: int | None) -> None:
        _, category, portal, _ = self.combos[self.rng.randrange(COMBOS)]
        details = {
            "category": category,
            "fields": ERASED_FIELDS.split(),
            "portal": portal,
            "reason": reason,
        }
        self.chain.add(t, "lead.erased", canonical(details), lead=lead, run=run, request=request,
                       facets=(category, portal, None, reason))  # fmt: skip

    def erasure(self, t: int, d: int) -> None:
        rng, chain = self.rng, self.chain
        work = [r for r in self.pending if r.received < t]
        work += [r for r in self.deferred if r.release_day <= d]
        if not work:
            return  # the idle check found nothing to do
        self.run_id += 1
        run = self.run_id
        chain.add(t, "run.started", '{"job":"erasure"}', run=run)
        tally: Counter[str] = Counter(requests=len(work))
        for r in work:
            if r.status == "pending" and rng.random() < 0.003:
                r.status, r.error = "failed", "verification: 1 lead kept a value"
                details = '{"leads":1,"reason":"verification"}'
                chain.add(t + 1, "request.failed", details, run=run, request=r.id)
                tally["failed"] += 1
                continue
            held = r.leads[-1] if r.status != "deferred" and rng.random() < 0.04 else None
            for lead in [r.held] if r.status == "deferred" and r.held else r.leads:
                if lead == held:
                    skip = (None, None, None, "erasure")
                    chain.add(t + 1, "lead.hold_skipped", '{"job":"erasure"}', lead=lead,
                              run=run, request=r.id, facets=skip)  # fmt: skip
                    tally["hold_skipped"] += 1
                else:
                    self.erased(t + 1, lead, "request", run, r.id)
                    r.erased += 1
                    tally["leads_erased"] += 1
            closed = {"held": 1 if held else 0, "leads_erased": r.erased}
            if held is not None:
                r.status, r.held, r.error = "deferred", held, None
                r.release_day = d + rng.randint(3, 45)
                chain.add(t + 1, "request.deferred", canonical(closed), run=run, request=r.id)
                self.deferred.append(r)
                tally["deferred"] += 1
            else:
                r.status, r.held, r.completed, r.error = "completed", None, t + 1, None
                chain.add(t + 1, "request.completed", canonical(closed), run=run, request=r.id)
                self.request_row(r)
                tally["completed"] += 1
        self.pending = [r for r in self.pending if r.status in ("pending", "failed")]
        self.deferred = [r for r in self.deferred if r.status == "deferred"]
        names = ("requests", "completed", "deferred", "failed", "leads_erased", "hold_skipped")
        counts: dict[str, Any] = {name: tally[name] for name in names}
        counts |= {"batches": 1, "residue": None}
        status = "failed" if tally["failed"] else "succeeded"
        chain.add(t + 2, "run.finished", _finished("erasure", status, counts), run=run)
        error = f"{tally['failed']} erasure request(s) failed verification"
        self.job_run("erasure", t, t + 2, status, counts, error=error if tally["failed"] else None)

    def report(self, t: int) -> None:
        self.run_id += 1
        until = t // DAY * DAY
        label = "_".join(time.strftime("%Y-%m-%d", time.gmtime(until - n * DAY)) for n in (30, 1))
        files = [f"reports/report_{label}.{ext}" for ext in ("html", "json")]
        counts = {"audit_chain_ok": True, "files": files, "period": label}
        self.chain.add(t, "run.started", '{"job":"report"}', run=self.run_id)
        self.chain.add(t + 3, "run.finished", _finished("report", "succeeded", counts),
                       run=self.run_id)  # fmt: skip
        self.job_run("report", t, t + 3, "succeeded", counts)

    def request(self, t: int) -> None:
        rng = self.rng
        self.request_id += 1
        kind = rng.choices(("email", "phone", "lead_id"), (60, 25, 15))[0]
        source = rng.choices(("cli", "file", "upstream"), (55, 40, 5))[0]
        leads = 1 if kind == "lead_id" else rng.choices((1, 2, 3), (50, 30, 20))[0]
        first = self.erased_leads + 1
        self.erased_leads += leads
        names = [uuid_of(n, 2) for n in range(first, first + leads)]
        details = {"due_at": iso(due_date(t)), "kind": kind, "source": source}
        self.chain.add(t, "request.received", canonical(details), request=self.request_id)
        self.pending.append(Request(self.request_id, kind, source, t, names))

    def hold(self, t: int) -> None:
        rng = self.rng
        self.hold_id += 1
        lead = self.pool[self.hold_id % len(self.pool)] if rng.random() < 0.75 else None
        until = t + rng.randint(30, 365) * DAY if rng.random() < 0.4 else None
        hold = Hold(self.hold_id, lead, t, until)
        details = {
            "hold_id": hold.id,
            "target": "lead_id" if lead else "email",
            "until": iso(until),
        }
        self.chain.add(t, "hold.placed", canonical(details), lead=lead)
        self.active[hold.id] = hold
        released = t + rng.randint(5, 120) * DAY + rng.randrange(DAY)
        if rng.random() < 0.7 and (until is None or released < until):
            hold.released = released
        ends = hold.released or until  # released, or expires (no event)
        if ends is not None:
            self.releases.setdefault(ends // DAY - self.first_day, []).append(hold)

    def release(self, t: int, hold: Hold) -> None:
        self.active.pop(hold.id, None)
        if hold.released is not None:
            self.chain.add(t, "hold.released", f'{{"hold_id":{hold.id}}}', lead=hold.lead)
        self.hold_row(hold)

    def imported(self, t: int) -> None:
        self.erased_leads += 1
        reason = "suppression" if self.rng.random() < 0.7 else "upstream"
        self.erased(t, uuid_of(self.erased_leads, 2), reason, None, None)


def generate(events: int, now: int, pool: Sequence[str], sink: Callable[[str], None]) -> Generated:
    """Write the audit_events COPY rows through `sink` (in chunks); return the rest. `pool`:
    lead ids of the store, for the holds on leads."""
    return Generator(events, now, pool, sink).run()
