"""Any workflow runs end to end: a made-up third one (tests/workflows/loan_review.yaml:
three stages, other records and limits) loaded beside the product's, driven through the
API, the board, the sweep and the funnel, with no code knowing its keys; and nothing under
pipeline/ names a stage or record key of any workflow."""
from __future__ import annotations

import ast
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from pipeline import clock, workflows
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import sweep_due
from tests.conftest import T0
from tests.prospects.test_views import sign_in

ROOT = Path(__file__).resolve().parents[2]
TEST_WORKFLOWS = ROOT / "tests" / "workflows"


@pytest.fixture
def third(app, tmp_path):
    """The product's workflows and the test folder's, installed together for one test."""
    for folder in (ROOT / "workflows", TEST_WORKFLOWS):
        for path in folder.glob("*.yaml"):
            shutil.copy(path, tmp_path / path.name)
    workflows.install(tmp_path)
    yield workflows.workflow("loan_review")
    workflows.install(app.config.get("WORKFLOWS_DIR") or workflows.DEFAULT_DIR)


def test_a_third_workflow_through_the_api_board_sweep_and_funnel(third, api_for, factory,
                                                                 session, client):
    assert third.stage_keys == ("intake", "assess", "granted")
    manager = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    api = api_for(manager)
    assert api.get("/api/v1/workflows/loan_review").json["stages"][1]["limit_days"] == 5
    made = [api.post("/api/v1/prospects", {"name": name, "tier": "gold",
                                           "workflow": "loan_review"}) for name in
            ("Loan One", "Loan Two", "Loan Three")]
    assert [r.status_code for r in made] == [201] * 3, made[0].json
    one, two, three = (r.json["id"] for r in made)
    assert made[0].json["stage"] == "intake" and made[0].json["missing_records"] == ["application"]
    assert made[0].json["due_at"] == (T0 + timedelta(days=2)).isoformat()
    # Its own list; the customer list stays the customer workflow's.
    assert api.get("/api/v1/prospects").json["items"] == []
    listed = api.get("/api/v1/prospects?workflow=loan_review").json["items"]
    assert sorted(p["id"] for p in listed) == [one, two, three]

    clock.set_now(T0 + timedelta(hours=12))
    refused = api.post(f"/api/v1/prospects/{one}/events", {"event": "advance"})
    assert refused.status_code == 422
    assert api.put(f"/api/v1/prospects/{one}/records/application",
                   {"amount": 100000, "purpose": "a shop"}).json["complete"] is True
    moved = api.post(f"/api/v1/prospects/{one}/events", {"event": "advance"})
    assert moved.status_code == 200 and moved.json["stage"] == "assess"
    assert moved.json["due_at"] == (T0 + timedelta(hours=12, days=5)).isoformat()
    clock.set_now(T0 + timedelta(days=1))
    bad = api.put(f"/api/v1/prospects/{one}/records/assessment", {"verdict": "maybe"})
    assert bad.status_code == 422 and "verdict" in bad.json["error"]["details"]
    api.put(f"/api/v1/prospects/{one}/records/assessment", {"verdict": "approve"})
    won = api.post(f"/api/v1/prospects/{one}/events", {"event": "win"})
    assert won.status_code == 200 and (won.json["stage"], won.json["status"]) == (
        "granted", "won")
    lost = api.post(f"/api/v1/prospects/{two}/events", {"event": "lose", "reason": "withdrawn"})
    assert lost.status_code == 200 and lost.json["status"] == "lost"

    # The board: its columns are the workflow's stages.
    sign_in(client, manager)
    html = client.get("/board?workflow=loan_review").get_data(as_text=True)
    assert all(f'data-testid="column-{k}"' in html for k in third.stage_keys)
    assert f'id="card-{three}"' in html and f'id="card-{one}"' in html
    assert 'data-testid="column-first_contact"' not in html

    # The sweep: Loan Three is past intake's 2 days, warned at half of them first.
    assert sweep_due(session, T0 + timedelta(days=1, minutes=1)).warned == 1
    assert sweep_due(session, T0 + timedelta(days=2, minutes=1)).escalated == 1
    assert sweep_due(session, T0 + timedelta(days=2, minutes=2)).escalated == 0
    [esc] = session.scalars(select(Escalation)).all()
    assert (esc.prospect_id, esc.kind, esc.stage) == (three, "stage_overdue", "intake")
    assert sweep_due(session, T0 + timedelta(days=3, minutes=3)).raised == 1

    # The funnel.
    clock.set_now(T0 + timedelta(days=4))
    stages = {s["key"]: s for s in api_for(lead).get(
        "/api/v1/funnel?workflow=loan_review").json["stages"]}
    assert list(stages) == list(third.stage_keys)
    assert (stages["intake"]["entered"], stages["intake"]["advanced"],
            stages["intake"]["lost"], stages["intake"]["current"]) == (3, 1, 1, 1)
    assert stages["intake"]["stalled"] == 1
    assert (stages["assess"]["entered"], stages["assess"]["advanced"]) == (1, 1)
    assert stages["assess"]["median_days"] == 0.5
    assert (stages["granted"]["entered"], stages["granted"]["current"]) == (1, 1)


def test_stage_keys_are_one_workflows_own(app, tmp_path):
    for path in (ROOT / "workflows").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    clash = yaml.safe_load((TEST_WORKFLOWS / "loan_review.yaml").read_text(encoding="utf-8"))
    clash["key"], clash["stages"][0]["key"] = "clash", "receive"
    clash["transitions"] = [{"event": "advance", "from": "receive", "to": "next",
                             "guards": ["stage_records_complete"]}]
    (tmp_path / "clash.yaml").write_text(yaml.safe_dump(clash), encoding="utf-8")
    with pytest.raises(workflows.WorkflowError, match="stages.receive"):
        workflows.install(tmp_path)
    assert workflows.workflow("complaint").key == "complaint"  # nothing half-installed


# Strings under pipeline/ that equal a key of some workflow without naming it: the
# allocation pages' blueprint and audit channel (the customer book's page, not the stage).
NOT_A_STAGE = {("pipeline/customers/allocation_views.py", "allocation"),
               ("pipeline/customers/allocation.py", "allocation")}


def test_nothing_under_pipeline_names_a_stage_or_record_key():
    keys = set()
    for path in [*(ROOT / "workflows").glob("*.yaml"), *TEST_WORKFLOWS.glob("*.yaml")]:
        for stage in yaml.safe_load(path.read_text(encoding="utf-8"))["stages"]:
            keys.add(stage["key"])
            keys.update(r["key"] for r in stage.get("records", []))
    assert {"first_contact", "after_sale", "receive", "follow_up", "intake"} <= keys
    named = set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in keys \
                    and (where, node.value) not in NOT_A_STAGE:
                named.add((where, node.lineno, node.value))
    assert sorted(named) == []
