"""The authorization matrix: every web route and API endpoint × every role × the customer's
relation to the caller (their own, their team's, another team's, none), each with its
expected answer. A route the matrix does not classify fails the test.

Answers: ``OK`` — let in (2xx, a redirect that is not to sign-in, or a 4xx that judges the
input: 400, 409, 422); ``403``; ``404`` (a customer one may not see is never admitted to
exist); ``LOGIN`` — anonymous: a redirect to sign-in for pages, 401 for the API.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.escalations.models import Escalation, Handover
from pipeline.escalations.services import sweep_due
from pipeline.prospects.models import CadenceTask
from tests.conftest import T0

OK, LOGIN = "ok", "login"
ROLES = ("manager", "team_lead", "supervisor", "admin", "anonymous")
RELATIONS = ("own", "same_team", "other_team", "none")
STAFF = ("team_lead", "supervisor", "admin")
MISSING_ID = 987654

# What a path variable names: the routes whose answer depends on the customer.
TARGETS = {"prospect_id": "prospect", "escalation_id": "escalation",
           "handover_id": "handover", "task_id": "task"}


def sees(role: str, relation: str) -> bool:
    """Role scoping: a manager sees their own customers, a team lead the team's, a
    supervisor or administrator the branch's."""
    if relation == "none":
        return False
    return {"manager": relation == "own", "team_lead": relation in ("own", "same_team")}.get(
        role, True)


def everyone(role: str, _relation: str) -> str:
    return OK


def signed_in(role: str, _relation: str) -> str:
    return LOGIN if role == "anonymous" else OK


def only(*roles: str, otherwise: int = 403):
    def rule(role: str, _relation: str) -> str | int:
        if role == "anonymous":
            return LOGIN
        return OK if role in roles else otherwise
    return rule


def visible(role: str, relation: str) -> str | int:
    if role == "anonymous":
        return LOGIN
    return OK if sees(role, relation) else 404


def decides(role: str, relation: str) -> str | int:
    """Escalation decisions: the prospect's team lead or a supervisor/administrator; a
    manager who sees the escalation may not decide it."""
    if role == "anonymous":
        return LOGIN
    if not sees(role, relation):
        return 404
    return 403 if role == "manager" else OK


def decides_claim(role: str, _relation: str) -> str | int:
    """A manager's claim on the unallocated book: a supervisor or administrator decides
    (the claim of the matrix does not exist: 404)."""
    if role == "anonymous":
        return LOGIN
    return 404 if role in ("supervisor", "admin") else 403


# (endpoint, method) -> rule(role, relation) -> expected answer
MATRIX = {
    ("index", "GET"): signed_in,
    ("healthz", "GET"): everyone,
    ("favicon", "GET"): everyone,
    ("auth.login", "GET"): everyone,
    ("auth.login", "POST"): everyone,
    ("auth.logout", "POST"): lambda role, relation: LOGIN,  # always back to sign-in
    ("auth.language", "POST"): everyone,
    ("auth.tokens", "GET"): signed_in,
    ("auth.tokens", "POST"): signed_in,
    ("auth.revoke", "POST"): lambda role, relation: LOGIN if role == "anonymous" else 404,
    ("api.list_tokens", "GET"): signed_in,
    ("api.delete_token", "DELETE"): lambda role, relation: LOGIN if role == "anonymous" else 404,
    ("api.openapi", "GET"): everyone,
    ("api.get_workflow", "GET"): signed_in,
    ("api.list_prospects", "GET"): signed_in,
    ("api.create_prospect", "POST"): signed_in,
    ("api.get_prospect", "GET"): visible,
    ("api.update_customer", "PATCH"): visible,
    ("api.save_record", "PUT"): visible,
    ("api.fire_event", "POST"): visible,
    ("api.list_escalations", "GET"): signed_in,
    ("api.decide", "POST"): decides,
    ("api.funnel", "GET"): signed_in,
    ("api.import_customers", "POST"): only("supervisor", "admin"),
    ("prospects.board", "GET"): signed_in,
    ("prospects.board_column", "GET"): signed_in,
    ("prospects.move", "POST"): visible,
    ("prospects.detail", "GET"): visible,
    ("prospects.record", "GET"): visible,
    ("prospects.record", "POST"): visible,
    ("prospects.fire", "POST"): visible,
    ("prospects.add_contact", "POST"): visible,
    ("prospects.update_customer", "POST"): visible,
    ("prospects.task_done", "POST"): visible,
    ("prospects.new", "GET"): signed_in,
    ("prospects.new", "POST"): signed_in,
    ("prospects.my_day", "GET"): signed_in,
    ("escalations.queue", "GET"): only(*STAFF),
    ("escalations.decide", "POST"): decides,
    ("escalations.inbox", "GET"): signed_in,
    ("escalations.inbox_read", "POST"): signed_in,
    ("escalations.handover", "GET"): visible,
    ("reports.funnel", "GET"): signed_in,
    ("reports.funnel_export", "GET"): signed_in,
    ("reports.daily", "GET"): signed_in,
    ("reports.daily_export", "GET"): signed_in,
    ("reports.weekly", "GET"): only(*STAFF, otherwise=404),
    ("reports.save_weekly", "POST"): only("team_lead", "admin"),  # the lead writes it
    ("reports.weekly_export", "GET"): only(*STAFF, otherwise=404),
    ("audit.index", "GET"): only("supervisor", "admin"),
    ("customers.template", "GET"): only("supervisor", "admin"),
    ("customers.import_page", "GET"): only("supervisor", "admin"),
    ("customers.import_page", "POST"): only("supervisor", "admin"),
    ("allocation.book", "GET"): only("supervisor", "admin", "manager"),
    ("allocation.allocate", "POST"): only("supervisor", "admin"),
    ("allocation.claim", "POST"): only("manager"),
    ("allocation.claims", "GET"): only("supervisor", "admin", "manager"),
    ("allocation.approve", "POST"): decides_claim,
    ("allocation.refuse", "POST"): only("supervisor", "admin"),  # no note: 422
    ("allocation.move", "GET"): only("supervisor", "admin"),
    ("allocation.move", "POST"): only("supervisor", "admin"),
    ("api.book", "GET"): only("supervisor", "admin", "manager"),
    ("api.allocate", "POST"): only("supervisor", "admin"),
    ("api.claim", "POST"): only("manager"),
    ("api.claims", "GET"): only("supervisor", "admin", "manager"),
    ("api.approve_claim", "POST"): decides_claim,
    ("api.refuse_claim", "POST"): only("supervisor", "admin"),  # no note: 422
    ("api.move", "POST"): only("supervisor", "admin"),
    # Messages: the SMS page and its forms follow the customer; the template editor is the
    # supervisors' (the matrix's template does not exist: 404); the matrix's task is not a
    # lead's call (404 to who may record one); callbacks answer only a gateway's signature.
    ("messages.send_sms", "GET"): visible,
    ("messages.send_sms", "POST"): visible,
    ("messages.opt_out", "POST"): visible,
    ("messages.pause", "POST"): visible,
    ("messages.templates", "GET"): only("supervisor", "admin"),
    ("messages.edit_template", "GET"): lambda role, _r: LOGIN if role == "anonymous"
    else 404 if role in ("supervisor", "admin") else 403,
    ("messages.edit_template", "POST"): lambda role, _r: LOGIN if role == "anonymous"
    else 404 if role in ("supervisor", "admin") else 403,
    ("messages.lead_call", "GET"): lambda role, _r: LOGIN if role == "anonymous"
    else 404 if role in STAFF else 403,
    ("messages.lead_call", "POST"): lambda role, _r: LOGIN if role == "anonymous"
    else 404 if role in STAFF else 403,
    ("messages.report", "GET"): signed_in,
    ("messages.branch_queue", "GET"): only(*STAFF),
    ("messages.retry", "POST"): lambda role, _r: 404,  # no such message
    ("messages_api.preview_api", "GET"): visible,
    ("messages_api.list_api", "GET"): visible,
    ("messages_api.send_api", "POST"): lambda role, relation: LOGIN if role == "anonymous"
    else 404 if not sees(role, relation) else OK if role == "manager" else 403,
    ("messages_api.opt_out_api", "PUT"): visible,
    ("messages_api.pause_api", "POST"): visible,
    ("messages_api.lead_call_api", "POST"): lambda role, _r: LOGIN if role == "anonymous"
    else 404,
    ("messages_api.templates_api", "GET"): signed_in,
    ("messages_api.save_template_api", "PUT"): lambda role, _r: LOGIN if role == "anonymous"
    else 404 if role in ("supervisor", "admin") else 403,
    ("messages_api.report_api", "GET"): signed_in,
    ("messages_api.receipt", "POST"): lambda role, _r: LOGIN,
    ("messages_api.inbound", "POST"): lambda role, _r: LOGIN,
    ("escalations.bulk_continue", "POST"): only(*STAFF),
    # After-sale: campaigns are the leads' and supervisors' (the matrix's campaign does not
    # exist: 404); the report and the day's tasks are scoped to who one sees.
    ("aftersale.campaigns", "GET"): only(*STAFF),
    ("aftersale.campaigns", "POST"): only(*STAFF),  # an empty form: 422
    ("aftersale.campaign", "GET"): lambda role, _r: LOGIN if role == "anonymous"
    else 404 if role in STAFF else 403,
    ("reports.after_sale", "GET"): signed_in,
    ("reports.after_sale_export", "GET"): signed_in,
    ("api.list_tasks", "GET"): signed_in,
    ("api.task_done", "POST"): visible,
    ("api.log_contact", "POST"): visible,  # an empty contact: 422
    ("api.list_contacts", "GET"): visible,
    ("api.import_customer_events", "POST"): only("supervisor", "admin"),
    # Complaints: anyone receives one (first responder); a complaint is seen by its handler,
    # their lead and supervisors (the matrix's complaint does not exist: 404); leads and
    # supervisors assign and set corrective actions.
    ("complaints.index", "GET"): signed_in,
    ("complaints.new", "GET"): signed_in,
    ("complaints.new", "POST"): signed_in,  # an empty form: 422
    ("complaints.detail", "GET"): lambda role, _r: LOGIN if role == "anonymous" else 404,
    ("complaints.record", "POST"): lambda role, _r: LOGIN if role == "anonymous" else 404,
    ("complaints.fire", "POST"): lambda role, _r: LOGIN if role == "anonymous" else 404,
    ("complaints.assign", "POST"): lambda role, _r: LOGIN if role == "anonymous" else 404,
    ("complaints.report", "GET"): signed_in,
    ("complaints.report", "POST"): signed_in,  # an empty form: 422
    ("api.file_complaint", "POST"): signed_in,  # no such customer: 422
    ("api.list_complaints", "GET"): signed_in,
    ("api.get_complaint", "GET"): lambda role, _r: LOGIN if role == "anonymous" else 404,
    ("api.save_complaint_record", "PUT"): lambda role, _r: LOGIN if role == "anonymous"
    else 404,
    ("api.fire_complaint_event", "POST"): lambda role, _r: LOGIN if role == "anonymous"
    else 404,
    ("api.assign_complaint", "POST"): lambda role, _r: LOGIN if role == "anonymous"
    else 404 if role in STAFF else 403,
    ("api.complaint_report", "GET"): signed_in,
    ("api.root_causes", "GET"): signed_in,
    ("api.add_cause_action", "POST"): only(*STAFF),  # an unknown owner: 422
}
# Bodies that pass authentication but change nothing much (or are refused as input).
API_BODIES = {
    "api.create_prospect": {},
    "api.save_record": {"notes": "checked"},
    "api.fire_event": {"event": "lose"},  # no reason: refused, nothing changes
    "api.update_customer": {"tier": "silver"},  # no such tier: refused, nothing changes
    "api.decide": {"decision": "continue"},
    "api.file_complaint": {"customer_id": MISSING_ID, "summary": "Matrix."},
    "api.fire_complaint_event": {"event": "advance"},
    "api.assign_complaint": {"handler": "nobody@example.com"},
    "api.add_cause_action": {"cause": "process", "action": "Check.",
                             "owner": "nobody@example.com"},
    "api.log_contact": {},
}
# Forms that pass validation, so that the answer shows the authorization, not the input check.
FORMS = {
    "escalations.decide": lambda ids: {f"e{ids['escalation']}-decision": "continue"},
    "reports.save_weekly": lambda ids: {"team": str(ids["team"]), "week": "2026-03-02",
                                        "summary": "Calls on track."},
}
VALUES = {"record_key": "contact_log", "event": "lose", "stage": "first_contact",
          "fmt": "csv", "key": "seven_step", "token_id": str(MISSING_ID),
          "claim_id": str(MISSING_ID), "complaint_id": str(MISSING_ID),
          "campaign_id": str(MISSING_ID)}


def routes(app) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, rule.rule))
    return out


def test_every_route_is_classified(app):
    unclassified = sorted({(e, m) for e, m, _ in routes(app)} - set(MATRIX))
    assert unclassified == [], "add these routes to the authorization matrix"
    gone = sorted(set(MATRIX) - {(e, m) for e, m, _ in routes(app)})
    assert gone == []


@pytest.fixture
def world(session, factory):
    """Team A: a lead, the caller-manager and a peer; team B: a lead and a manager; a
    supervisor and an administrator. One customer per relation, each overdue with an open
    escalation, a handover and cadence tasks."""
    users = {
        "manager": factory.user("manager", "Team A"),
        "team_lead": factory.user("team_lead", "Team A"),
        "supervisor": factory.user("supervisor"),
        "admin": factory.user("admin"),
    }
    peer = factory.user("manager", "Team A")
    factory.user("team_lead", "Team B")
    outsider = factory.user("manager", "Team B")
    prospects = {
        "own": factory.prospect(users["manager"], name="Own Customer", phone="13800000001"),
        "same_team": factory.prospect(peer, name="Peer Customer", phone="13800000002"),
        "other_team": factory.prospect(outsider, name="Foreign Customer",
                                       phone="13800000003"),
    }
    overdue = T0 + timedelta(days=21, seconds=1)
    clock.set_now(overdue)
    sweep_due(session, overdue)
    ids: dict[str, dict[str, int]] = {"none": dict.fromkeys(TARGETS.values(), MISSING_ID)}
    for relation, p in prospects.items():
        esc = session.scalars(select(Escalation).where(Escalation.prospect_id == p.id)).one()
        handover = Handover(prospect_id=p.id, from_user_id=p.owner_id, to_user_id=p.owner_id,
                            escalation_id=esc.id, actor_id=users["admin"].id, at=overdue,
                            note="matrix")
        session.add(handover)
        session.flush()
        task = session.scalars(select(CadenceTask).where(  # the owner's (not the branch's)
            CadenceTask.prospect_id == p.id, CadenceTask.assignee_kind == "owner")
            .order_by(CadenceTask.id)).first()
        ids[relation] = {"prospect": p.id, "escalation": esc.id, "handover": handover.id,
                         "task": task.id}
    session.commit()
    tokens = {role: factory.token(user) for role, user in users.items()}
    return {"users": users, "prospects": prospects, "ids": ids, "tokens": tokens,
            "team_a": users["team_lead"].team_id,
            "outsider": outsider, "peer": peer}


def signed_in_client(app, user):
    client = app.test_client()
    if user is not None:
        r = client.post("/login", data={"email": user.email, "password": "secret-pass"})
        assert r.status_code == 302, r.data
    return client


def outcome(response, api: bool) -> str | int:
    status = response.status_code
    assert status < 500, response.get_data(as_text=True)[:500]
    if api and status == 401:
        return LOGIN
    if not api and status == 302 and "/login" in response.headers["Location"]:
        return LOGIN
    if status in (403, 404):
        return status
    return OK


def test_the_authorization_matrix(app, world):
    clients = {role: signed_in_client(app, world["users"].get(role)) for role in ROLES}
    wrong = []
    checked = 0
    for endpoint, method, rule in routes(app):
        target = next((TARGETS[v] for v in TARGETS if f"{v}>" in rule), None)
        for role in ROLES:
            for relation in RELATIONS if target else ("none",):
                url = rule
                for var, value in VALUES.items():
                    url = url.replace(f"<{var}>", value).replace(f"<int:{var}>", value)
                if target:
                    url = re.sub(r"<(?:int:)?\w+_id>", str(world["ids"][relation][target]), url)
                api = url.startswith("/api/")
                client = clients[role]
                if endpoint == "auth.logout":  # ends every session of the user: sign in
                    client = signed_in_client(app, world["users"].get(role))  # again after
                headers = ({"Authorization": f"Bearer {world['tokens'][role]}"}
                           if api and role != "anonymous" else {})
                if api and method != "GET":
                    response = client.open(url, method=method, headers=headers,
                                           json=API_BODIES.get(endpoint, {}))
                else:
                    form = FORMS.get(endpoint, lambda ids: {})(
                        {**world["ids"][relation], "team": world["team_a"]})
                    response = client.open(url, method=method, headers=headers, data=form)
                got = outcome(response, api)
                if endpoint == "auth.logout":
                    clients[role] = signed_in_client(app, world["users"].get(role))
                expected = MATRIX[(endpoint, method)](role, relation)
                checked += 1
                if got != expected:
                    wrong.append(f"{method} {url} as {role} ({relation}): expected {expected}, "
                                 f"got {got} [{response.status_code}]")
    assert checked > 300
    assert wrong == [], "\n" + "\n".join(wrong)


# ---------------------------------------------------------------- a manager and another team

def test_a_manager_never_reaches_another_teams_customer(app, world, session):
    from pipeline.prospects.models import Prospect, StageEvent

    manager = world["users"]["manager"]
    foreign = world["prospects"]["other_team"]
    client = signed_in_client(app, manager)
    api = {"Authorization": f"Bearer {world['tokens']['manager']}"}
    before = (foreign.stage, foreign.status, foreign.version, foreign.owner_id)
    events_before = session.query(StageEvent).filter_by(prospect_id=foreign.id).count()

    # Directly, by guessing ids: only the manager's own customer answers.
    # Every id around this test's customers (ids are not reused: on PostgreSQL earlier tests'
    # rolled-back rows still used up their sequence numbers, so ids start far from 1).
    top = session.query(Prospect.id).order_by(Prospect.id.desc()).first()[0]
    low = max(1, min(p.id for p in world["prospects"].values()) - 25)
    guesses = range(low, top + 5)
    found = [pid for pid in guesses
             if client.get(f"/api/v1/prospects/{pid}", headers=api).status_code == 200]
    assert found == [world["prospects"]["own"].id]
    pages = [pid for pid in guesses
             if client.get(f"/prospects/{pid}").status_code == 200]
    assert pages == [world["prospects"]["own"].id]
    for url in (f"/prospects/{2**40}", "/prospects/0", f"/api/v1/prospects/{2**70}",
                "/api/v1/prospects/-1", "/api/v1/prospects/1e3"):
        r = client.get(url, headers=api)
        assert r.status_code == 404, url

    # Through search, on the board and in the API, by name, phone or owner.
    for q in ("Foreign", "13800000003", world["outsider"].email):
        r = client.get("/api/v1/prospects", query_string={"q": q}, headers=api)
        assert r.status_code == 200 and r.json["items"] == [], q
        board = client.get("/board", query_string={"q": q}).get_data(as_text=True)
        assert "Foreign Customer" not in board
    r = client.get("/api/v1/prospects", query_string={"team": "Team B"}, headers=api)
    assert r.status_code in (200, 404) and "Foreign" not in r.get_data(as_text=True)
    r = client.get("/api/v1/prospects", query_string={"owner": world["outsider"].email},
                   headers=api)
    assert "Foreign" not in r.get_data(as_text=True)

    # Through exports: the other manager's daily sheet, the other team's funnel and week.
    for fmt in ("csv", "xlsx"):
        r = client.get(f"/reports/daily.{fmt}", query_string={"manager": world["outsider"].id})
        assert r.status_code == 404
        r = client.get(f"/reports/funnel.{fmt}",
                       query_string={"team": world["outsider"].team_id})
        assert r.status_code == 404 or b"Foreign" not in r.data
        r = client.get(f"/reports/weekly.{fmt}",
                       query_string={"team": world["outsider"].team_id})
        assert r.status_code == 404
    own_sheet = client.get("/reports/daily.csv")
    assert own_sheet.status_code == 200 and b"Foreign" not in own_sheet.data
    r = client.get("/api/v1/funnel", query_string={"team": "Team B"}, headers=api)
    assert r.status_code in (403, 404) or all(s["entered"] == 0 for s in r.json["stages"])

    # Moving it: every way in answers 404 and nothing changes.
    assert client.post(f"/prospects/{foreign.id}/move", data={"to": "learn"}).status_code == 404
    assert client.post(f"/prospects/{foreign.id}/events/lose",
                       data={"lose-reason": "gone"}).status_code == 404
    r = client.post(f"/api/v1/prospects/{foreign.id}/events", headers=api,
                    json={"event": "lose", "reason": "gone"})
    assert r.status_code == 404
    r = client.put(f"/api/v1/prospects/{foreign.id}/records/contact_log", headers=api,
                   json={"call_at": "2026-03-02T01:00:00Z"})
    assert r.status_code == 404
    session.expire_all()
    after = session.get(Prospect, foreign.id)
    assert (after.stage, after.status, after.version, after.owner_id) == before
    assert session.query(StageEvent).filter_by(prospect_id=foreign.id).count() == events_before


def test_a_team_lead_never_reaches_another_teams_customer(app, world):
    lead = world["users"]["team_lead"]
    foreign = world["prospects"]["other_team"]
    client = signed_in_client(app, lead)
    api = {"Authorization": f"Bearer {world['tokens']['team_lead']}"}
    assert client.get(f"/prospects/{foreign.id}").status_code == 404
    assert client.get(f"/api/v1/prospects/{foreign.id}", headers=api).status_code == 404
    r = client.get("/api/v1/prospects", query_string={"q": "Foreign"}, headers=api)
    assert r.json["items"] == []
    assert client.get("/reports/daily.csv",
                      query_string={"manager": world["outsider"].id}).status_code == 404
    assert client.get("/reports/weekly.xlsx",
                      query_string={"team": world["outsider"].team_id}).status_code == 404
    listed = client.get("/api/v1/escalations", headers=api).json["items"]
    assert foreign.id not in {e["prospect_id"] for e in listed} and listed


def test_ids_beyond_the_id_column_are_not_found(app, world):
    """Guessing absurd ids: 404 on every route that takes one, never a database error."""
    client = signed_in_client(app, world["users"]["supervisor"])
    api = {"Authorization": f"Bearer {world['tokens']['supervisor']}"}
    for endpoint, method, rule in routes(app):
        if not any(f"{v}>" in rule for v in TARGETS):
            continue
        url = rule
        for var, value in VALUES.items():
            url = url.replace(f"<{var}>", value)
        for huge in (2**31, 2**63, 10**30):
            target = re.sub(r"<(?:int:)?\w+_id>", str(huge), url)
            body = API_BODIES.get(endpoint, {}) if target.startswith("/api/") else None
            r = client.open(target, method=method, headers=api, json=body) if body is not None \
                else client.open(target, method=method, headers=api, data={})
            assert r.status_code in (302, 404), (endpoint, method, huge, r.status_code)


def test_dates_beyond_the_calendar_are_refused_not_crashed(app, world):
    """Found by the API fuzzer: the day after 9999-12-31 does not exist (500 before)."""
    client = signed_in_client(app, world["users"]["supervisor"])
    api = {"Authorization": f"Bearer {world['tokens']['supervisor']}"}
    for args in ({"to": "9999-12-31"}, {"from": "0001-01-01"}):
        assert client.get("/api/v1/funnel", query_string=args, headers=api).status_code == 422
    for args in ({"end": "9999-12-31"}, {"start": "0001-01-01"}):
        assert client.get("/reports/funnel", query_string=args).status_code == 200
        assert client.get("/reports/funnel.csv", query_string=args).status_code == 200
