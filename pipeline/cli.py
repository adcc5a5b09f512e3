"""Command line: ``flask --app wsgi db|users|workflow|pipeline ...``."""
from __future__ import annotations

import copy
import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from pipeline import resources
from pipeline.aftersale import cli as aftersale_cli
from pipeline.audit import cli as audit_commands
from pipeline.auth.services import create_user, issue_token
from pipeline.customers import cli as customers_cli_commands
from pipeline.db import get_db, get_session
from pipeline.demo import seed_demo_branch
from pipeline.engine import WorkflowError, load_workflow
from pipeline.errors import ServiceError
from pipeline.escalations import cli as escalations_cli
from pipeline.messages import cli as messages_cli
from pipeline.reports import cli as reports_cli_commands

UPGRADE_HINT = "run flask --app wsgi db upgrade"


class ProjectGroup(AppGroup):
    """A group of the product's commands. Each command it holds first checks that the
    database can serve it (unless the group works on any database: ``needs_schema=False``),
    and a database that cannot serve it, found before or while the command runs, ends the
    command with one line on stderr and exit status 1 (a :class:`click.ClickException`),
    never a traceback.

    The check is added when a command joins the group (``@group.command`` or
    ``add_command``): the group keeps a checked copy, the command itself is left as it was
    defined.
    """

    def __init__(self, name: str, *, needs_schema: bool = True, **attrs: Any) -> None:
        super().__init__(name, **attrs)
        self.needs_schema = needs_schema

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if cmd.callback is not None and not isinstance(cmd, click.Group):
            checked = copy.copy(cmd)
            checked.callback = with_appcontext(
                _database_checked(cmd.callback, needs_schema=self.needs_schema))
            cmd = checked
        super().add_command(cmd, name)


def _database_checked(f: Callable[..., Any], *, needs_schema: bool) -> Callable[..., Any]:
    @functools.wraps(f)
    def run(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        app = current_app._get_current_object()
        if needs_schema and (not app.testing or app.config.get("PIPELINE_CHECK_SCHEMA")):
            problem = schema_problem(app)
            if problem is not None:
                raise click.ClickException(problem)
        try:
            return f(*args, **kwargs)
        except OperationalError as exc:
            raise click.ClickException(
                f"cannot reach the database {safe_url(get_db(app).url)}: {_reason(exc)}"
            ) from None

    return run


db_cli = ProjectGroup("db", needs_schema=False,
                      help="Create or migrate the database schema (Alembic).")
users_cli = ProjectGroup("users", help="Manage users and API tokens.")
workflow_cli = ProjectGroup("workflow", needs_schema=False, help="Workflow definitions.")
pipeline_cli = ProjectGroup("pipeline", help="Demo data and the deadline sweep.")
customers_cli = ProjectGroup("customers", help="The branch's customer book: import.")
audit_cli = ProjectGroup("audit", help="The audit log: purge old entries on purpose.")
reports_cli = ProjectGroup("reports", help="The reports: rebuild the funnel's rollups.")


def alembic_config(url: str | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", (url or current_app.config["DATABASE_URL"])
                        .replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def schema_problem(app: Flask) -> str | None:
    """Why the database cannot serve this code (unreachable, empty or behind), or None."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    db = get_db(app)
    script = ScriptDirectory.from_config(alembic_config(db.url))
    heads = set(script.get_heads())
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # its "Context impl" line is noise before an error
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        return f"cannot reach the database {safe_url(db.url)}: {_reason(exc)}"
    finally:
        quiet.setLevel(level)
    if not current:
        return f"the database has no schema yet: {UPGRADE_HINT}"
    if current == heads:
        return None
    known = {r.revision for r in script.walk_revisions()}
    unknown = sorted(current - known)
    if unknown:
        return (f"the database schema is at {', '.join(unknown)}, a revision this code does not "
                f"know (it needs {', '.join(sorted(heads))}): run the release that migrated it, "
                "or restore a backup")
    return (f"the database schema is at {', '.join(sorted(current))} but the code needs "
            f"{', '.join(sorted(heads))}: {UPGRADE_HINT}")


def safe_url(url: str) -> str:
    """A database URL to show: without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL: say so, show nothing of it
        return "(unparsable DATABASE_URL)"


def _reason(exc: Exception) -> str:
    """The first line of a database error: what the server or driver said."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema to REVISION (default: the latest)."""
    upgrade(revision=revision)
    click.echo("database is at " + revision)


@db_cli.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION."""
    from alembic import command

    command.downgrade(alembic_config(), revision)


@db_cli.command("current")
def db_current() -> None:
    """Show the schema's revision."""
    from alembic import command

    command.current(alembic_config())


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True,
              type=click.Choice(["manager", "team_lead", "supervisor", "admin"]))
@click.option("--team", default=None, help="team name (created on first mention)")
@click.option("--password", default=None)
@click.option("--name", default=None)
def users_create(email: str, role: str, team: str | None, password: str | None,
                 name: str | None) -> None:
    """Add a user."""

    try:
        user = create_user(get_session(), email, role=role, team=team, password=password,
                           name=name)
    except ServiceError as exc:
        _fail(exc.message)
    click.echo(f"created {user.email} ({user.role}{', team ' + team if team else ''})")


@users_cli.command("token")
@click.argument("email")
@click.option("--name", default=None, help="what the token is for")
@click.option("--days", type=int, default=None,
              help="days until it expires (default PIPELINE_TOKEN_DAYS, 90)")
def users_token(email: str, name: str | None, days: int | None) -> None:
    """Print a new API token for EMAIL."""
    from flask import current_app

    try:
        click.echo(issue_token(get_session(), email, name=name,
                               days=days or current_app.config.get("PIPELINE_TOKEN_DAYS")))
    except ServiceError as exc:
        _fail(exc.message)


@users_cli.command("tokens")
@click.argument("email")
def users_tokens(email: str) -> None:
    """List EMAIL's API tokens: id, status, name, issued, expires, last used."""
    from pipeline.auth.services import find_user, tokens_of

    user = find_user(get_session(), email)
    if user is None:
        _fail(f"no user {email}")
    for t in tokens_of(get_session(), user):
        d = t.as_dict()
        click.echo("\t".join(str(d[k] or "-") for k in (
            "id", "status", "name", "created_at", "expires_at", "last_used_at")))


@users_cli.command("revoke-token")
@click.argument("token_id", type=int)
def users_revoke_token(token_id: int) -> None:
    """Revoke the API token TOKEN_ID (its number in ``users tokens``)."""
    from pipeline.auth.services import revoke_token

    try:
        info = revoke_token(get_session(), token_id)
    except ServiceError as exc:
        _fail(exc.message)
    click.echo(f"token {info.id} revoked")


@workflow_cli.command("check")
@click.argument("files", nargs=-1, type=click.Path())
def workflow_check(files: tuple[str, ...]) -> None:
    """Validate workflow files (default: every file of the app's workflows folder)."""

    paths = [Path(f) for f in files] or sorted(resources.WORKFLOWS_DIR.glob("*.yaml"))
    failed = False
    for path in paths:
        try:
            wf = load_workflow(path)
        except WorkflowError as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
        else:
            click.echo(f"ok: {path} ({wf.key}, {len(wf.stages)} stages, "
                       f"{len(wf.transitions)} transitions)")
    if failed:
        sys.exit(1)


@pipeline_cli.command("seed-demo")
@click.option("--prospects", "count", default=2000, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
def seed_demo(count: int, seed: int) -> None:
    """Build a demo branch: teams, managers, prospects over every stage and over time."""

    summary = seed_demo_branch(get_session(), prospects=count, seed=seed)
    click.echo(json.dumps(summary, ensure_ascii=False))


def init_app(app: Flask) -> None:
    for command in escalations_cli.COMMANDS:  # sweep, send-mail
        pipeline_cli.add_command(command)
    for command in messages_cli.COMMANDS:  # send (the SMS outbox)
        pipeline_cli.add_command(command)
    for command in customers_cli_commands.COMMANDS:  # import
        customers_cli.add_command(command)
    for command in aftersale_cli.COMMANDS:  # events
        customers_cli.add_command(command)
    for command in audit_commands.COMMANDS:  # purge
        audit_cli.add_command(command)
    for command in reports_cli_commands.COMMANDS:  # rollup
        reports_cli.add_command(command)
    for group in (db_cli, users_cli, workflow_cli, pipeline_cli, customers_cli, audit_cli,
                  reports_cli):
        app.cli.add_command(group)
