"""``flask --app wsgi audit purge --before YYYY-MM-DD``: drop old audit entries on purpose."""
from __future__ import annotations

from datetime import datetime, time

import click

from pipeline import clock
from pipeline.db import get_session


@click.command("purge")
@click.option("--before", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="delete the entries written before this day (UTC)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def purge_command(day: datetime, yes: bool) -> None:
    """Delete the audit entries written before a day, in one transaction that notes the
    purge in the log itself (an ``audit_purged`` entry). On PostgreSQL the database user
    must own the audit_log table."""
    from pipeline.audit.purge import purge

    before = datetime.combine(day.date(), time(), clock.UTC)
    if before > clock.now():
        raise click.ClickException("the day is in the future: that would purge every entry")
    if not yes:
        click.confirm(f"Delete every audit entry written before {before:%Y-%m-%d} (UTC)?",
                      abort=True)
    deleted = purge(get_session(), before)
    click.echo(f"{deleted} audit entries written before {before:%Y-%m-%d} deleted")


COMMANDS = (purge_command,)  # in the "audit" group (pipeline.cli)
