"""What carrying out erasure requests gives back: one outcome per request, and a run's result."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from retention.domain.requests import RequestStatus
from retention.services.audit import Published
from retention.storage.residue import ResidueReport

__all__ = ["COUNTS", "SAMPLE_SIZE", "ErasureResult", "RequestOutcome", "merge_retries", "summarize"]

SAMPLE_SIZE = 10


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    request_id: int | None  # None: a dry run of a request not recorded
    status: str  # completed, deferred or failed (what it would be, in a dry run)
    leads_erased: int  # by the request so far, this run included
    erased_now: int
    hold_skipped: int
    lead_ids: tuple[str, ...] = ()  # erased now (dry run: would be)
    fields: dict[str, list[str]] = field(default_factory=dict)  # dry run: lead id -> fields
    error: str | None = None
    residue: ResidueReport | None = None
    busy: bool = False  # a lead was held by another transaction: the request stays open
    held_ids: tuple[str, ...] = ()  # leads kept by a legal hold in this pass
    published: Published | None = None  # `retention erase`: the head it published


@dataclass(frozen=True, slots=True)
class ErasureResult:
    dry_run: bool
    requests: int
    completed: int
    deferred: int
    failed: int
    leads_erased: int
    hold_skipped: int
    batches: int
    sample_lead_ids: tuple[str, ...]
    outcomes: tuple[RequestOutcome, ...]
    stopped: bool = False

    def counts(self) -> dict[str, int]:
        """The counts a run records and prints (its job_runs row, --json)."""
        return {name: getattr(self, name) for name in COUNTS}


# ErasureResult's counts, in the order they are shown.
COUNTS = ("requests", "completed", "deferred", "failed", "leads_erased", "hold_skipped",
          "batches")  # fmt: skip


def summarize(
    outcomes: Sequence[RequestOutcome], *, batches: int, dry_run: bool, stopped: bool = False
) -> ErasureResult:
    sample: list[str] = []
    for outcome in outcomes:
        sample.extend(outcome.lead_ids[: SAMPLE_SIZE - len(sample)])
    return ErasureResult(
        dry_run=dry_run,
        requests=len(outcomes),
        completed=sum(1 for o in outcomes if o.status == RequestStatus.COMPLETED),
        deferred=sum(1 for o in outcomes if o.status == RequestStatus.DEFERRED),
        failed=sum(1 for o in outcomes if o.status == RequestStatus.FAILED),
        leads_erased=sum(o.erased_now for o in outcomes),
        hold_skipped=sum(o.hold_skipped for o in outcomes),
        batches=batches,
        sample_lead_ids=tuple(sample),
        outcomes=tuple(outcomes),
        stopped=stopped,
    )


def merge_retries(
    outcomes: Sequence[RequestOutcome], retries: Sequence[RequestOutcome]
) -> list[RequestOutcome]:
    """One outcome per request: a retried request's leads erased and held leads skipped in
    both passes, its status from the retry."""
    retried = {o.request_id: o for o in retries}
    merged = []
    for outcome in outcomes:
        again = retried.pop(outcome.request_id, None)
        if again is not None:
            held = tuple(dict.fromkeys(outcome.held_ids + again.held_ids))
            outcome = dataclasses.replace(
                again,
                erased_now=outcome.erased_now + again.erased_now,
                lead_ids=outcome.lead_ids + again.lead_ids,
                hold_skipped=len(held),  # each skip of this run, audited once
                held_ids=held,
            )
        merged.append(outcome)
    return merged + list(retried.values())
