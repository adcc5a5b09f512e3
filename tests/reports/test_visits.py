"""``stage_visits`` kept by the services equals what the history defines (the reference
``visits_subquery`` with the escalation mapping), after histories driven through the real
services: advance, back, lose, reopen, win, pause/resume, the no-meeting escalation and the
lead's reassignment, the sweep's level-1 and after-sale escalations, an abandon decision,
tier changes of an active, a paused, a lost and a won customer.
The migration's backfill SQL gives the same rows."""
from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select, text

from pipeline import clock
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.prospects.services import (
    advance_prospect,
    create_prospect,
    save_record,
    update_customer,
)
from pipeline.reports import queries, visits
from pipeline.reports.queries import Filters
from tests.conftest import T0

sv = visits.sv
MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / \
    "0003_stage_visits.py"


def at(days: float):
    clock.set_now(T0 + timedelta(days=days))
    return clock.now()


def normalised(rows) -> list[tuple]:
    """Rows in COLUMNS order, booleans as bool (SQLite hands back 0/1)."""
    won, stalled = visits.COLUMNS.index("won"), visits.COLUMNS.index("stalled")
    out = []
    for r in rows:
        r = list(r)
        r[won], r[stalled] = bool(r[won]), bool(r[stalled])
        out.append(tuple(r))
    return sorted(out, key=lambda r: (r[0], r[1]))


def kept(session) -> list[tuple]:
    return normalised(session.execute(select(*[sv.c[c] for c in visits.COLUMNS])))


def derived(session) -> list[tuple]:
    return normalised(session.execute(visits.from_history(session)))


def contact_log(session, prospect, actor, day: float) -> None:
    save_record(session, prospect.id, "contact_log", actor=actor, data={
        "institution_sms_at": (T0 + timedelta(days=day)).isoformat(),
        "manager_sms_at": (T0 + timedelta(days=day, hours=2)).isoformat(),
        "call_at": (T0 + timedelta(days=day, hours=4)).isoformat()})


def story(session, factory) -> dict:
    lead = factory.user("team_lead", "Team A")
    m1 = factory.user("manager", "Team A")
    m2 = factory.user("manager", "Team A")
    # A: one stage a day to decision_maker, back to learn, on to decision_maker again
    a = factory.prospect(m1, stage="decision_maker", step=timedelta(days=1), name="A")
    at(4)
    advance_prospect(session, a.id, "back", actor=m1, reason="决策人未确认")
    update_customer(session, a.id, actor=m1, data={"tier": "black_gold"})
    at(5)
    advance_prospect(session, a.id, "advance", actor=m1)
    # B: lost in first contact, reopened, advanced to learn
    b = create_prospect(session, actor=m1, data={"name": "B", "tier": "gold"})
    at(6)
    advance_prospect(session, b.id, "lose", actor=m1, reason="联系不上客户")
    update_customer(session, b.id, actor=m1, data={"tier": "platinum"})
    at(7)
    advance_prospect(session, b.id, "reopen", actor=m1, reason="客户回电")
    factory.complete(b, "first_contact", m1)
    advance_prospect(session, b.id, "advance", actor=m1)
    # C: won (after-sale), diamond: judged on its April contacts by the sweep
    c = factory.prospect(m1, stage="after_sale", tier="diamond", step=timedelta(hours=6),
                         name="C")
    update_customer(session, c.id, actor=m1, data={"assets": 8_000_000, "tier": None})
    # D: no meeting (a level-1 escalation at once), reassigned to m2 by the lead
    at(10)
    d = create_prospect(session, actor=m1, data={"name": "D", "tier": "gold"})
    contact_log(session, d, m1, 10)
    at(11)
    advance_prospect(session, d.id, "no_meeting", actor=m1)
    esc_d = session.scalar(select(Escalation.id).where(Escalation.prospect_id == d.id))
    at(12)
    decide_escalation(session, esc_d, actor=lead, decision="reassign", new_owner=m2.id)
    # E: paused and resumed
    e = create_prospect(session, actor=m2, data={"name": "E", "tier": "platinum"})
    at(13)
    advance_prospect(session, e.id, "pause", actor=m2, reason="客户出国")
    update_customer(session, e.id, actor=m2, data={"tier": "gold"})
    at(14)
    advance_prospect(session, e.id, "resume", actor=m2)
    # F: left alone until the sweep escalates it, then abandoned by the lead
    f = create_prospect(session, actor=m2, data={"name": "F", "tier": "gold"})
    summary = sweep_due(session, at(60))
    assert summary.escalated >= 1 and summary.contact_overdue >= 1
    esc_f = session.scalar(select(Escalation.id).where(Escalation.prospect_id == f.id,
                                                       Escalation.kind == "stage_overdue"))
    at(61)
    decide_escalation(session, esc_f, actor=lead, decision="abandon", note="客户无意向")
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "m1": m1, "m2": m2,
            "lead": lead}


def test_kept_visits_equal_the_history_s(session, factory):
    s = story(session, factory)
    rows = kept(session)
    assert rows == derived(session)
    by = {}
    for r in rows:
        by.setdefault(r[0], []).append(dict(zip(visits.COLUMNS, r)))
    a, b, c, d, e, f = (by[s[k].id] for k in "abcdef")
    assert [(v["stage"], v["exit"]) for v in a] == [
        ("first_contact", "advance"), ("learn", "advance"), ("decision_maker", "back"),
        ("learn", "advance"), ("decision_maker", None)]
    assert [(v["stage"], v["exit"]) for v in b] == [
        ("first_contact", "lost"), ("first_contact", "advance"), ("learn", None)]
    assert [v["won"] for v in c] == [True] * 7 and c[-1]["exit"] is None
    assert c[-1]["stalled"] and c[-1]["stage"] == "after_sale"  # contact_overdue
    assert not any(v["won"] for v in a + b + d + e + f)
    assert (d[0]["owner_id"], d[0]["stalled"], d[0]["end_at"]) == (s["m2"].id, True, None)
    assert [(v["stage"], v["end_at"] is None) for v in e] == [("first_contact", True)]
    assert (f[0]["exit"], f[0]["stalled"], f[0]["end_at"]) == ("lost", True, at(61))
    # the funnel reads these rows
    fig = {x.key: x for x in queries.funnel(session, s["lead"], Filters())}
    assert (fig["first_contact"].entered, fig["first_contact"].reentered,
            fig["first_contact"].lost) == (6, 1, 2)  # B's reopening is a re-entry
    assert fig["after_sale"].won == 1 and fig["decision_maker"].back == 1


def test_rebuild_and_the_migration_backfill_give_the_same_rows(session, factory):
    story(session, factory)
    expected = kept(session)
    session.execute(delete(sv))
    assert kept(session) == []
    visits.rebuild(session)
    assert kept(session) == expected
    spec = importlib.util.spec_from_file_location("m0003", MIGRATION)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    session.execute(delete(sv))
    session.execute(text(migration.backfill_sql(session.get_bind().dialect.name)))
    assert kept(session) == expected


def test_rows_written_in_one_transaction_in_order(session, factory):
    """Several history rows of one prospect in one transaction (the statements go out as
    each row is written, not at the flush)."""
    m = factory.user("manager", "Team A")
    p = factory.prospect(m, stage="learn")
    at(1)
    advance_prospect(session, p.id, "lose", actor=m, reason="客户无意向")
    at(2)
    advance_prospect(session, p.id, "reopen", actor=m, reason="客户回电")
    assert kept(session) == derived(session)
    exit = visits.COLUMNS.index("exit")
    assert [r[exit] for r in kept(session)] == ["advance", "lost", None]
