"""``flask --app wsgi customers import FILE [--dry-run]``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from pipeline.customers import services
from pipeline.db import get_session
from pipeline.errors import ServiceError


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="check the whole file, write nothing")
def import_command(file: Path, dry_run: bool) -> None:
    """Import a customer book (CSV, UTF-8 with or without BOM, or XLSX) with the header row
    customer_no,name,id_number,phone,birthday,assets,potential,tier,manager. The whole
    file is checked first: with any error nothing is written, each error is printed on
    stderr and the command exits 1. Ends with one JSON line: created, updated, allocated,
    unallocated, errors."""
    data = file.read_bytes()
    kind = services.kind_of(data, filename=file.name)
    bar = None
    interactive = sys.stdout.isatty()

    def start(plan: services.Plan) -> None:
        nonlocal bar
        if interactive and not dry_run and plan.writes:
            bar = click.progressbar(length=plan.writes, label="importing")
            bar.__enter__()

    def step(n: int) -> None:
        if bar is not None:
            bar.update(n)

    try:
        summary = services.import_customers(get_session(), data, kind=kind, actor=None,
                                            dry_run=dry_run, channel="cli", progress=step,
                                            on_plan=start)
    except services.ImportRefused as exc:
        for error in exc.summary.errors:
            click.echo(json.dumps({"row": error.row, "field": error.field,
                                   "message": error.message}, ensure_ascii=False), err=True)
        click.echo(json.dumps(exc.summary.as_dict(), ensure_ascii=False))
        sys.exit(1)
    except ServiceError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        click.echo(json.dumps(services.Summary(errors=[services.RowError(
            0, services.FILE_FIELD, exc.message)]).as_dict(), ensure_ascii=False))
        sys.exit(1)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))


COMMANDS = (import_command,)
