"""The commands of API.md."""
from __future__ import annotations

import json

from sqlalchemy import select

from pipeline.auth.models import ApiToken, Team, User
from pipeline.workflows import DEFAULT_DIR


def test_users_create_and_token(runner, session):
    r = runner.invoke(args=["users", "create", "lead@bank.test", "--role", "team_lead",
                            "--team", "East", "--password", "pw-123456"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["users", "create", "m@bank.test", "--role", "manager",
                            "--team", "East"])
    assert r.exit_code == 0, r.output
    team = session.scalars(select(Team).where(Team.name == "East")).one()
    lead = session.scalars(select(User).where(User.email == "lead@bank.test")).one()
    assert team.lead_id == lead.id and lead.password_hash.startswith("$argon2")
    r = runner.invoke(args=["users", "token", "m@bank.test"])
    assert r.exit_code == 0
    token = r.output.strip()
    assert len(token) > 30
    stored = session.scalars(select(ApiToken)).one()
    assert stored.token_hash != token and len(stored.token_hash) == 64


def test_users_create_refusals(runner):
    r = runner.invoke(args=["users", "create", "x@bank.test", "--role", "manager"])
    assert r.exit_code == 1 and "needs a team" in r.output
    r = runner.invoke(args=["users", "create", "x@bank.test", "--role", "wizard"])
    assert r.exit_code == 2
    r = runner.invoke(args=["users", "token", "ghost@bank.test"])
    assert r.exit_code == 1 and "no user" in r.output


def test_token_authenticates_the_api(runner, client):
    runner.invoke(args=["users", "create", "api@bank.test", "--role", "supervisor"])
    token = runner.invoke(args=["users", "token", "api@bank.test"]).output.strip()
    r = client.get("/api/v1/prospects", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json == {"items": [], "next": None}


def test_workflow_check(runner, tmp_path):
    r = runner.invoke(args=["workflow", "check"])
    assert r.exit_code == 0 and "ok:" in r.output and "seven_step" in r.output
    bad = tmp_path / "bad.yaml"
    text = (DEFAULT_DIR / "seven_step.yaml").read_text(encoding="utf-8")
    bad.write_text(text.replace("limit_days: 14", "limit_days: -14"), encoding="utf-8")
    r = runner.invoke(args=["workflow", "check", str(bad)])
    assert r.exit_code == 1
    assert f"{bad}: stages.needs.limit_days: must be a positive number of days" in r.output
    assert "Traceback" not in r.output


def test_seed_demo_small(runner, session):
    r = runner.invoke(args=["pipeline", "seed-demo", "--prospects", "30"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output.strip().splitlines()[-1])
    assert summary["created"] is True
    assert session.scalars(select(User).where(User.role == "manager")).first() is not None
    again = runner.invoke(args=["pipeline", "seed-demo", "--prospects", "30"])
    assert json.loads(again.output.strip().splitlines()[-1])["created"] is False
