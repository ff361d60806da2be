"""After a change, no deleted or erased value may survive in the database files: when and what
to clean, for every path that changes leads (the purge, the erasure job, `retention erase`,
an import that erased). How to clean it, per dialect: storage/residue.py.
"""

from __future__ import annotations

from sqlalchemy import Engine

from retention.storage.residue import ResidueReport, clean_residue, residue_pending

__all__ = ["ERASURE_TABLES", "PURGE_TABLES", "clean_after"]

# A purge deletes leads and, with them, their subject hashes.
PURGE_TABLES = ("leads", "lead_subjects")
# An erasure rewrites leads and drops their hashes; a completed request drops its clear
# identifier.
ERASURE_TABLES = ("leads", "lead_subjects", "erasure_requests")


def clean_after(
    engine: Engine,
    tables: tuple[str, ...],
    *,
    changed: bool,
    vacuum: bool,
    sweep: bool = False,
) -> ResidueReport | None:
    """Clean what a change to `tables` left behind, when it `changed` something: SQLite's WAL
    is checkpointed; PostgreSQL's tables are vacuumed when `vacuum` (a job), else their dead
    rows are reported (a command run by hand: a VACUUM of a large table does not fit it; the
    next erasure job run vacuums them). `sweep`: also when this run changed nothing but dead
    rows are pending from others (`retention erase`, imports leave them to the erasure job).
    None when there was nothing to do."""
    if not changed and not (sweep and residue_pending(engine, tables)):
        return None
    return clean_residue(engine, tables, vacuum=vacuum)
