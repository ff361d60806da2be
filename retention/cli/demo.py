"""`retention demo`: see the tool work on synthetic leads, with nothing to set up."""

from __future__ import annotations

from pathlib import Path

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.output import echo_json, json_option
from retention.services.demo import build_demo_store

__all__ = ["demo"]


@click.command()
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("retention-demo.db"),
    show_default=True,
    help="SQLite file of the demo store; rebuilt on every run, never a real store.",
)
@json_option
@pass_app
def demo(app: App, path: Path, as_json: bool) -> None:
    """Build a demo SQLite store from the bundled synthetic example leads and show it."""
    result = build_demo_store(app.settings, path, now=clock.utcnow())
    store, imported = result.store, result.imported
    if as_json:
        echo_json(
            {
                "path": str(result.path),
                "imported": imported.imported,
                "leads": store.total,
                "by_category": dict(store.by_category),
                "by_portal": dict(store.by_portal),
                "next_ttl": store.next_ttl.isoformat() if store.next_ttl else None,
            }
        )
        return
    click.echo(f"demo store {result.path}: imported {imported.imported} example leads")
    click.echo(f"leads in store: {store.total} ({store.erased} erased)")
    for category, count in store.by_category:
        click.echo(f"  {category:<16} {count}")
    click.echo("by portal: " + ", ".join(f"{p} {n}" for p, n in store.by_portal))
    if store.oldest_ingestion and store.next_ttl:
        click.echo(f"oldest ingestion {store.oldest_ingestion:%Y-%m-%d %H:%M:%SZ}")
        click.echo(f"next TTL expiry  {store.next_ttl:%Y-%m-%d %H:%M:%SZ}")
