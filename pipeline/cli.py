"""Command line: ``flask --app wsgi db|users|workflow|pipeline ...``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from pipeline import resources
from pipeline.db import get_session
from pipeline.errors import ServiceError

db_cli = AppGroup("db", help="Create or migrate the database schema (Alembic).")
users_cli = AppGroup("users", help="Manage users and API tokens.")
workflow_cli = AppGroup("workflow", help="Workflow definitions.")
pipeline_cli = AppGroup("pipeline", help="Demo data and the deadline sweep.")


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


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema to REVISION (default: the latest)."""
    from sqlalchemy.exc import OperationalError

    try:
        upgrade(revision=revision)
    except OperationalError as exc:
        _fail(f"cannot reach the database: {exc.orig}")
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
    from pipeline.auth.services import create_user

    try:
        user = create_user(get_session(), email, role=role, team=team, password=password,
                           name=name)
    except ServiceError as exc:
        _fail(exc.message)
    click.echo(f"created {user.email} ({user.role}{', team ' + team if team else ''})")


@users_cli.command("token")
@click.argument("email")
def users_token(email: str) -> None:
    """Print a new API token for EMAIL."""
    from pipeline.auth.services import issue_token

    try:
        click.echo(issue_token(get_session(), email))
    except ServiceError as exc:
        _fail(exc.message)


@workflow_cli.command("check")
@click.argument("files", nargs=-1, type=click.Path())
def workflow_check(files: tuple[str, ...]) -> None:
    """Validate workflow files (default: every file of the app's workflows folder)."""
    from pipeline.engine import WorkflowError, load_workflow

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
    from pipeline.demo import seed_demo_branch

    summary = seed_demo_branch(get_session(), prospects=count, seed=seed)
    click.echo(json.dumps(summary, ensure_ascii=False))


def init_app(app: Flask) -> None:
    for group in (db_cli, users_cli, workflow_cli, pipeline_cli):
        app.cli.add_command(group)


from pipeline.escalations import cli as _escalations_cli  # noqa: E402,F401  (sweep, send-mail)
