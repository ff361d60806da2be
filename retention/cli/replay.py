"""`retention replay`: after a restore from a backup, put back what the audit journal holds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.options import dry_run_option, json_option
from retention.cli.output import anchor_error, conclude, head_line, published_head
from retention.cli.runs import ProgressLine
from retention.services.observer import BatchStats
from retention.services.replay import ReplayResult, replay_journal

__all__ = ["replay"]

REPLAY_KEYS = (
    "dry_run", "events_restored", "purged", "erased", "suppressions", "holds",
    "requests_to_retake", "audit_head",
)  # fmt: skip


class ReplayProgress(ProgressLine):
    def batch_done(self, stats: BatchStats) -> None:
        done = stats.total_rows / max(stats.due, 1)
        click.echo(f"\rreplay: {stats.total_rows} of {stats.due} events ({done:.0%})", err=True,
                   nl=False)  # fmt: skip


@click.command()
@click.option(
    "--journal",
    "journal",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The audit journal (audit.journal_file, or a copy of it).",
)
@dry_run_option
@json_option(*REPLAY_KEYS)
@pass_app
def replay(app: App, journal: Path, dry_run: bool, as_json: bool) -> None:
    """After restoring the database from a backup: re-apply the purges, erasures, suppression
    entries and holds the audit journal holds past the database's chain head, and restore
    those events (run it before anything else).

    The journal is checked first: one from another store, or with a missing or altered line,
    is refused naming the line (exit 1) and nothing is changed. Replaying again changes
    nothing. --dry-run counts what would be restored and changes nothing.
    """
    progress = ReplayProgress() if not as_json and sys.stderr.isatty() else None
    result = replay_journal(
        app.settings, app.store(), journal, now=clock.utcnow(), dry_run=dry_run,
        observer=progress,
    )  # fmt: skip
    if progress is not None and result.batches:
        progress.end()
    error = anchor_error(result.published)
    conclude(_document(result), as_json=as_json, lines=_lines(result), error=error,
             exit_code=1 if error else 0)  # fmt: skip


def _document(result: ReplayResult) -> dict[str, Any]:
    return {
        "dry_run": result.dry_run,
        "events_restored": result.events_restored,
        "purged": result.purged,
        "erased": result.erased,
        "suppressions": result.suppressions,
        "holds": result.holds,
        "requests_to_retake": list(result.requests_to_retake),
        "audit_head": published_head(result.published),
    }


def _lines(result: ReplayResult) -> list[str]:
    if not result.events_restored:
        last = result.journal_last.event_id if result.journal_last else 0
        at = result.head.event_id or 0
        return [f"nothing to replay: the journal ends at event {last}, the database at {at}"]
    verb = "would restore" if result.dry_run else "restored"
    lines = [
        f"{'dry run: ' if result.dry_run else ''}{verb} {result.events_restored} events: "
        f"{result.purged} leads purged, {result.erased} erased, {result.suppressions} "
        f"suppression entries, {result.holds} holds"
        + ("; nothing changed" if result.dry_run else "")
    ]
    if result.requests_to_retake:
        ids = ", ".join(str(i) for i in result.requests_to_retake)
        lines.append(
            f"{len(result.requests_to_retake)} request(s) received after the backup cannot be "
            f"carried out from the journal (it keeps no lead id): take them again: {ids}"
        )
    return lines + head_line(result.published)
