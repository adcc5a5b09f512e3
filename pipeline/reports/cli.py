"""``flask --app wsgi reports rollup`` (:data:`COMMANDS`, which the app's command line adds
to its ``reports`` group)."""
from __future__ import annotations

import json
from datetime import timedelta

import click
from flask import current_app

from pipeline.db import get_session
from pipeline.reports import rollups


@click.command("rollup")
@click.option("--if-older-than", "minutes", type=click.IntRange(min=1), default=None,
              metavar="MINUTES",
              help="build only when the last build is at least this old (for cron on "
                   "several hosts)")
def rollup(minutes: int | None) -> None:
    """Rebuild the funnel's rollups of the whole branch, one transaction; prints a JSON
    line (``skipped``: "busy" when another build is under way, "fresh" with
    --if-older-than)."""
    summary = rollups.build_all(
        get_session(), tz=current_app.config["PIPELINE_TIMEZONE"],
        fresh_within=timedelta(minutes=minutes) if minutes else None)
    click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))


COMMANDS = (rollup,)
