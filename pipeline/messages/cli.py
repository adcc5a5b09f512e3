"""``flask pipeline send``: deliver the queued SMS now (:data:`COMMANDS`, which the app's
command line adds to its ``pipeline`` group)."""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from pipeline import clock
from pipeline.messages.outbox import deliver


@click.command("send")
@click.option("--now", "at", default=None, metavar="ISO-8601",
              help="send what is due at this time (default: now)")
@with_appcontext
def send(at: str | None) -> None:
    """Deliver the SMS outbox's due messages through the gateway; prints a JSON line."""
    try:
        moment = clock.parse(at) if at else clock.now()
    except ValueError:
        click.echo(f"Error: --now {at!r} is not an ISO-8601 date-time", err=True)
        sys.exit(2)
    with clock.travel(moment):
        summary = deliver(current_app._get_current_object(), now=moment)
    click.echo(json.dumps(summary))


COMMANDS = (send,)
