"""The daily sheet reads the stage clock the prospect page reads: a prospect a team lead
reassigned after 35 days in its stage starts a new 21-day clock, so the page and the sheet
(HTML, CSV and Excel) both say how long that clock has left, beside the days in the stage.
A past day's sheet replays the history up to that day. On SQLite and PostgreSQL."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from sqlalchemy import select

from pipeline import clock
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.reports import queries
from tests.conftest import T0
from tests.reports.test_pages import login, read_csv, section

TZ = "Asia/Shanghai"
REASSIGNED = T0 + timedelta(days=35)
NOW = REASSIGNED + timedelta(days=1, hours=5)  # 36.2 days in the stage


def local_day(at):
    return at.astimezone(ZoneInfo(TZ)).date()


def cell(html: str, prospect_id: int, testid: str) -> str:
    row = re.search(rf'<tr data-prospect="{prospect_id}".*?</tr>', html, re.S).group(0)
    return re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', row, re.S).group(1).strip()


def test_sheet_and_page_read_the_restarted_clock_of_a_reassigned_prospect(
        session, factory, client):
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    other = factory.user("manager", "Team A")
    p = factory.prospect(owner, name="Wang Fang")
    clock.set_now(T0 + timedelta(days=22))
    sweep_due(session, clock.now())
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == p.id)).one()
    clock.set_now(REASSIGNED)
    decide_escalation(session, esc.id, actor=lead, decision="reassign", new_owner=other.id)
    clock.set_now(NOW)

    login(client, other)
    page = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    said = re.search(r'data-testid="time-left">([^<]*)<', page).group(1)
    assert said == "19 days left"  # due 21 days after the reassignment

    html = client.get("/reports/daily").get_data(as_text=True)
    assert cell(html, p.id, "stage-clock") == said
    sheet = queries.daily_sheet(session, other.id, local_day(NOW), tz=TZ)
    (line,) = sheet.lines
    assert line.days_in_stage == 36.21  # in the stage since it was created
    assert line.clock.due_at == REASSIGNED + timedelta(days=21)
    assert line.clock.days_left == 19.8 and not line.clock.overdue

    rows = section(read_csv(client.get("/reports/daily.csv").data), "Prospects")
    by_name = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert (by_name["Wang Fang"]["Days in stage"], by_name["Wang Fang"]["Days left"]) == \
        ("36.2", "19.8")
    ws = load_workbook(io.BytesIO(client.get("/reports/daily.xlsx").data))["Prospects"]
    header = [c.value for c in ws[4]]
    assert ws.cell(5, header.index("Days left") + 1).value == 19.8

    # The day of the reassignment, read later: the engine's state at the end of that day.
    end_of_day = queries.day_bounds(local_day(REASSIGNED), TZ)[1]
    (then,) = queries.daily_sheet(session, other.id, local_day(REASSIGNED), tz=TZ).lines
    assert then.clock.due_at == REASSIGNED + timedelta(days=21)
    assert then.clock.days_left == round(
        (REASSIGNED + timedelta(days=21) - end_of_day).total_seconds() / 86400, 1)
    # Before it, on the first owner's sheet: overdue on the first clock, as the page said.
    before = T0 + timedelta(days=30)
    (old,) = queries.daily_sheet(session, owner.id, local_day(before), tz=TZ).lines
    assert old.clock.due_at == T0 + timedelta(days=21) and old.clock.overdue
    login(client, owner)
    html = client.get(f"/reports/daily?day={local_day(before).isoformat()}") \
        .get_data(as_text=True)
    assert cell(html, p.id, "stage-clock") == "9 days overdue"


def test_a_past_day_replays_a_leads_continue(session, factory):
    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    p = factory.prospect(owner, name="Li Lei")
    clock.set_now(T0 + timedelta(days=22))
    sweep_due(session, clock.now())
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == p.id)).one()
    decided = T0 + timedelta(days=23)
    clock.set_now(decided)
    decide_escalation(session, esc.id, actor=lead, decision="continue", extend_days=5)
    clock.set_now(decided + timedelta(days=3))
    today = queries.daily_sheet(session, owner.id, local_day(clock.now()), tz=TZ).lines[0]
    then = queries.daily_sheet(session, owner.id, local_day(decided), tz=TZ).lines[0]
    assert today.clock.due_at == then.clock.due_at == decided + timedelta(days=5)
    assert not then.clock.overdue and then.clock.days_left > 4


def test_the_replayed_clock_is_the_one_the_prospect_keeps(session, factory):
    """Replaying a prospect's whole history gives the clock its row holds: a shared budget
    kept across its two stages, a pause pushing the due time back, a lead's reassignment
    starting it again, a supervisor's transfer leaving it as it was."""
    from pipeline import workflows
    from pipeline.customers.allocation import move_customers
    from pipeline.prospects.models import Prospect, StageEvent
    from pipeline.prospects.services import advance_prospect
    from pipeline.prospects.stage_clock import state_as_of

    lead = factory.user("team_lead", "Team A")
    owner = factory.user("manager", "Team A")
    other = factory.user("manager", "Team A")
    p = factory.prospect(owner, stage="decision_maker", name="Zhou Replay",
                         step=timedelta(days=2))
    clock.set_now(clock.now() + timedelta(days=1))
    advance_prospect(session, p.id, "pause", actor=owner, reason="customer abroad")
    clock.set_now(clock.now() + timedelta(days=3))
    advance_prospect(session, p.id, "resume", actor=owner)
    clock.set_now(clock.now() + timedelta(days=20))
    sweep_due(session, clock.now())
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == p.id)).one()
    decide_escalation(session, esc.id, actor=lead, decision="reassign", new_owner=other.id)
    clock.set_now(clock.now() + timedelta(days=2))
    third = factory.user("manager", "Team A")
    move_customers(session, {"leaving": other.id, "receivers": [third.id]},
                   actor=factory.user("supervisor"))

    rows = session.execute(select(StageEvent.event, StageEvent.to_stage, StageEvent.at,
                                  StageEvent.data).where(StageEvent.prospect_id == p.id)
                           .order_by(StageEvent.seq)).mappings().all()
    kept = session.get(Prospect, p.id)
    session.refresh(kept)
    state = state_as_of(workflows.engine(), rows)
    # Halfway: in decision_maker on the budget's clock, started on entering learn.
    entered = {r["to_stage"]: r["at"] for r in rows if r["event"] == "advance"}
    upto = [r["to_stage"] for r in rows].index("decision_maker") + 1
    early = state_as_of(workflows.engine(), rows[:upto])
    assert early.stage_entered_at == entered["decision_maker"]
    assert early.clock_started_at == entered["learn"] < entered["decision_maker"]
    assert kept.owner_id == third.id and kept.stage == "decision_maker"
    assert (state.stage, state.status, state.clock_started_at, state.due_at) == (
        kept.stage, kept.status, kept.clock_started_at, kept.due_at)
    # The reassignment started the clock; the transfer did not.
    events = [r.event for r in session.scalars(select(StageEvent).where(
        StageEvent.prospect_id == p.id).order_by(StageEvent.seq))]
    assert events.count("reassign") == 2 and "pause" in events and "resume" in events
    assert kept.due_at == kept.clock_started_at + timedelta(days=21)
