"""What the store holds, in counts: no personal data."""

from __future__ import annotations

from sqlalchemy import Engine

from retention.storage.engine import READ_ONLY
from retention.storage.leads import LeadCounts, count_leads

__all__ = ["summarize_store"]


def summarize_store(engine: Engine) -> LeadCounts:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return count_leads(conn)
