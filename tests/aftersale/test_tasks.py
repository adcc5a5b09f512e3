"""The task list of the API: the caller's open tasks by due time (a lead or supervisor may
name a manager in scope; a manager never sees another's: 404), ``due_before``, cursor
paging; done with a note; first-contact steps of the current visit among them."""
from __future__ import annotations

from datetime import timedelta

from pipeline import clock
from pipeline.prospects.models import CadenceTask


def add_task(session, prospect, kind: str, days: float, n: int) -> CadenceTask:
    t = CadenceTask(prospect_id=prospect.id, key=f"{kind}:{n}", kind=kind,
                    assignee_kind="owner", assignee_id=prospect.owner_id, clock_no=0,
                    due_at=clock.now() + timedelta(days=days), title=f"{kind} {n}")
    session.add(t)
    session.commit()
    return t


def test_a_manager_lists_their_own_open_tasks(api_for, factory, session):
    li = factory.user("manager", "Team A")
    wang = factory.user("manager", "Team A")
    mine = factory.prospect(li, "after_sale", customer_no="C001", assets=100000,
                            name="Zhou Xun")
    theirs = factory.prospect(wang, "after_sale", customer_no="C002", assets=100000)
    a = add_task(session, mine, "maturity", 3, 1)
    b = add_task(session, mine, "callback", -1, 2)
    other = add_task(session, theirs, "birthday", 0, 3)
    api = api_for(li)
    r = api.get("/api/v1/tasks")
    assert r.status_code == 200
    items = r.json["items"]
    assert [(i["id"], i["kind"], i["status"]) for i in items] == [
        (b.id, "callback", "open"), (a.id, "maturity", "open")]
    assert items[0]["overdue"] and not items[1]["overdue"]
    assert (items[1]["customer"], items[1]["tier"], items[1]["title"],
            items[1]["prospect_id"]) == ("Zhou Xun", "gold", "maturity 1", mine.id)
    # Another manager's tasks: never listed, never closed (404).
    assert api.get(f"/api/v1/tasks?owner={wang.email}").status_code == 404
    assert api.post(f"/api/v1/tasks/{other.id}/done", {}).status_code == 404
    assert api.post("/api/v1/tasks/999999/done", {}).status_code == 404
    r = api.get("/api/v1/tasks", query_string={"due_before": "2026-03-03T00:00:00Z"})
    assert [i["id"] for i in r.json["items"]] == [b.id]
    r = api.post(f"/api/v1/tasks/{b.id}/done", {"note": "Called, wants a visit"})
    assert r.status_code == 200 and r.json["done_note"] == "Called, wants a visit"
    assert [i["id"] for i in api.get("/api/v1/tasks").json["items"]] == [a.id]


def test_leads_and_supervisors_filter_by_owner_in_scope(api_for, factory, session):
    li = factory.user("manager", "Team A")
    bo = factory.user("manager", "Team B")
    lead = factory.user("team_lead", "Team A")
    sup = factory.user("supervisor")
    t = add_task(session, factory.prospect(li, "after_sale", customer_no="C001", tier="gold"),
                 "maturity", 1, 1)
    u = add_task(session, factory.prospect(bo, "after_sale", customer_no="C002", tier="gold"),
                 "maturity", 1, 2)
    assert [i["id"] for i in api_for(lead).get(
        f"/api/v1/tasks?owner={li.email}").json["items"]] == [t.id]
    assert api_for(lead).get(f"/api/v1/tasks?owner={bo.email}").status_code == 404
    assert api_for(lead).get("/api/v1/tasks").json["items"] == []  # the lead's own
    assert [i["id"] for i in api_for(sup).get(
        f"/api/v1/tasks?owner={bo.email}").json["items"]] == [u.id]
    assert api_for(lead).post(f"/api/v1/tasks/{u.id}/done", {}).status_code == 404


def test_cursor_paging(api_for, factory, session):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", tier="gold")
    made = [add_task(session, p, "campaign", n % 3, n) for n in range(7)]
    expected = [t.id for t in sorted(made, key=lambda t: (t.due_at, t.id))]
    api = api_for(li)
    seen, cursor = [], None
    while True:
        r = api.get("/api/v1/tasks", query_string={"limit": 3, **(
            {"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        seen += [i["id"] for i in r.json["items"]]
        cursor = r.json["next"]
        if cursor is None:
            break
    assert seen == expected
    assert api.get("/api/v1/tasks?cursor=nonsense").status_code == 422


def test_first_contact_steps_are_listed_by_their_key(api_for, factory):
    li = factory.user()
    factory.prospect(li, customer_no="C001", tier="gold")
    kinds = [i["kind"] for i in api_for(li).get("/api/v1/tasks").json["items"]]
    assert kinds == ["manager_sms", "call"]


def test_the_openapi_document_describes_the_after_sale_endpoints(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    for path in ("/api/v1/prospects/{prospect_id}/contacts", "/api/v1/tasks",
                 "/api/v1/tasks/{task_id}/done", "/api/v1/imports/customer-events"):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    assert {"callback_at", "override_reason"} <= set(schemas["ContactRequest"]["properties"])
    assert {"retained", "partly_retained", "left"} <= set(
        schemas["TaskDone"]["properties"]["outcome"]["enum"])


def test_a_manager_cannot_mark_the_branchs_step_done(api_for, factory, session):
    """The institution's SMS is sent and marked by the outbox; the manager may not claim
    it (403), the team lead may mark it by hand."""
    from sqlalchemy import select

    li = factory.user("manager", "Team A")
    lead = factory.user("team_lead", "Team A")
    p = factory.prospect(li, customer_no="C001", tier="gold")
    branch = session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == p.id, CadenceTask.assignee_kind == "institution",
        CadenceTask.done_at.is_(None))).first()
    assert branch is not None
    answer = api_for(li).post(f"/api/v1/tasks/{branch.id}/done", {})
    assert answer.status_code == 403 and answer.json["error"]["code"] == "forbidden"
    assert api_for(lead).post(f"/api/v1/tasks/{branch.id}/done", {}).status_code == 200
    session.expire_all()
    assert session.get(CadenceTask, branch.id).done_at is not None
