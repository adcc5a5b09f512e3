"""``flask --app wsgi customers events FILE [--dry-run]``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipeline.aftersale import services
from pipeline.customers.services import RowError, kind_of
from pipeline.db import get_session
from pipeline.errors import ServiceError


@click.command("events")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check the whole file, write nothing")
def events_command(file: Path, dry_run: bool) -> None:
    """Import the bank's daily customer-event file (CSV, UTF-8 with or without BOM, or
    XLSX) with the header row customer_no,kind,date,amount,product; kind is maturity,
    large_outflow, tier_drop or repayment_due. The whole file is checked first: with any
    error nothing is written, each error is printed on stderr and the command exits 1. An
    event already imported is ignored. Ends with one JSON line: created, ignored, errors."""
    data = file.read_bytes()
    try:
        summary = services.import_events(get_session(), data,
                                         kind=kind_of(data, filename=file.name), actor=None,
                                         dry_run=dry_run, channel="cli")
    except services.EventsRefused as exc:
        for error in exc.summary.errors:
            click.echo(json.dumps({"row": error.row, "field": error.field,
                                   "message": error.message}, ensure_ascii=False), err=True)
        click.echo(json.dumps(exc.summary.as_dict(), ensure_ascii=False))
        sys.exit(1)
    except ServiceError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        click.echo(json.dumps(services.EventSummary(errors=[RowError(
            0, "_file", exc.message)]).as_dict(), ensure_ascii=False))
        sys.exit(1)
    click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))


COMMANDS = (events_command,)
