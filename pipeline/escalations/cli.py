"""``flask pipeline sweep`` and ``flask pipeline send-mail`` (:data:`COMMANDS`, which the
app's command line adds to its ``pipeline`` group)."""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from pipeline import clock
from pipeline.db import get_session
from pipeline.escalations.outbox import deliver_after_commit
from pipeline.escalations.services import sweep_due


@click.command("sweep")
@click.option("--now", "at", default=None, metavar="ISO-8601",
              help="sweep as if it were this time (default: now)")
@click.option("--no-mail", is_flag=True, help="leave the outbox for a later run")
@click.option("--full", is_flag=True,
              help="also close stage escalations whose visit is over (a repair pass: the "
                   "services close them as visits end; the scheduler runs it daily)")
@with_appcontext
def sweep(at: str | None, no_mail: bool, full: bool) -> None:
    """Warnings, escalations and second-level escalations due now; prints a JSON line."""
    try:
        moment = clock.parse(at) if at else clock.now()
    except ValueError:
        click.echo(f"Error: --now {at!r} is not an ISO-8601 date-time", err=True)
        sys.exit(2)
    with clock.travel(moment):
        summary = sweep_due(get_session(), moment, full=full).as_dict()
        if not no_mail:
            summary["mail"] = deliver_after_commit(current_app._get_current_object())
    click.echo(json.dumps(summary, ensure_ascii=False))


@click.command("send-mail")
@with_appcontext
def send_mail() -> None:
    """Deliver the pending e-mails of the outbox now."""
    click.echo(json.dumps(deliver_after_commit(current_app._get_current_object())))


COMMANDS = (sweep, send_mail)
