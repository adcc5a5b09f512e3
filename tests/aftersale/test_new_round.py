"""Cross-selling: from after-sale, a new need opens a new round at needs discovery for the
same customer, through the one event path; the earlier rounds stay in the history."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.prospects.models import StageEvent, StageVisit


def test_a_new_need_opens_a_new_round_at_needs(api_for, factory, session):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", tier="gold")
    api = api_for(li)
    r = api.post(f"/api/v1/prospects/{p.id}/events", {"event": "new_round"})
    assert r.status_code == 422  # the new need is the reason
    clock.set_now(clock.now() + timedelta(days=30))
    r = api.post(f"/api/v1/prospects/{p.id}/events",
                 {"event": "new_round", "reason": "Child starts university next year"})
    assert r.status_code == 200, r.json
    assert (r.json["stage"], r.json["status"]) == ("needs", "active")
    assert r.json["due_at"] == (clock.now() + timedelta(days=14)).isoformat()
    rows = session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)
                           .order_by(StageEvent.seq)).all()
    assert [r.event for r in rows][-2:] == ["win", "new_round"]
    assert rows[-1].reason == "Child starts university next year"
    assert (rows[-1].from_stage, rows[-1].from_status) == ("after_sale", "won")
    visits = session.scalars(select(StageVisit).where(StageVisit.prospect_id == p.id)
                             .order_by(StageVisit.start_seq)).all()
    assert [(v.stage, v.end_at is None) for v in visits][-3:] == [
        ("close", False), ("after_sale", False), ("needs", True)]
    assert [v.stage for v in visits].count("needs") == 2  # the earlier round stays
    # An active prospect has no new round to open.
    other = factory.prospect(li, "needs", customer_no="C002", tier="gold")
    r = api.post(f"/api/v1/prospects/{other.id}/events",
                 {"event": "new_round", "reason": "x"})
    assert r.status_code == 422 and r.json["error"]["code"] == "event_not_allowed"


def test_an_after_sale_customer_who_leaves_is_counted_apart(api_for, factory, session):
    li = factory.user()
    p = factory.prospect(li, "after_sale", customer_no="C001", tier="gold")
    never = factory.prospect(li, "close", customer_no="C002", tier="gold")
    api = api_for(li)
    r = api.post(f"/api/v1/prospects/{p.id}/events", {"event": "leave"})
    assert r.status_code == 422  # the reason
    r = api.post(f"/api/v1/prospects/{p.id}/events",
                 {"event": "leave", "reason": "Moved abroad"})
    assert r.status_code == 200, r.json
    assert (r.json["stage"], r.json["status"], r.json["lost_reason"]) == (
        "after_sale", "lost", "Moved abroad")
    r = api.post(f"/api/v1/prospects/{never.id}/events", {"event": "leave", "reason": "x"})
    assert r.status_code == 422 and r.json["error"]["code"] == "event_not_allowed"
    api.post(f"/api/v1/prospects/{never.id}/events", {"event": "lose", "reason": "Price"})
    events = dict(session.execute(select(StageEvent.prospect_id, StageEvent.event).where(
        StageEvent.to_status == "lost")).all())
    assert events == {p.id: "leave", never.id: "lose"}
