"""The workspace pages: board, moves, prospect page, events, contacts, tasks, my day."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.db import get_db
from pipeline.demo import Timeline, insert_timelines
from pipeline.prospects import queries
from pipeline.prospects.models import (
    CadenceTask,
    Contact,
    Prospect,
    StageEvent,
    StageRecord,
)
from tests.factories import COMPLETE, contact_log

FETCH = {"X-Requested-With": "fetch"}


def sign_in(client, user: User, password: str = "secret-pass") -> None:
    """Sign in through the form; pages answer in English unless the user chose otherwise."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    r = client.post("/login", data={"email": user.email, "password": password})
    assert r.status_code == 302, r.data


@pytest.fixture
def manager(factory):
    return factory.user("manager", "Team A")


@pytest.fixture
def as_manager(client, manager):
    sign_in(client, manager)
    return client


def cards_in(html: str, stage: str) -> list[str]:
    """Names of the cards in one column of the board's HTML."""
    column = html.split(f'data-stage="{stage}" aria-labelledby')[1].split("</section>")[0]
    return re.findall(r'class="kcard-name"[^>]*>([^<]+)<', column)


# ---------------------------------------------------------------- board

def test_home_is_the_board(as_manager):
    r = as_manager.get("/")
    assert r.status_code == 302 and r.location.endswith("/board")


def test_board_needs_sign_in(client):
    r = client.get("/board")
    assert r.status_code == 302 and "/login" in r.location


def test_board_shows_the_viewers_prospects_in_their_columns(client, factory, manager):
    other = factory.user("manager", "Team B")
    factory.prospect(manager, name="Mine First")
    factory.prospect(manager, stage="needs", name="Mine Needs")
    factory.prospect(other, name="Not Mine")
    sign_in(client, manager)
    html = client.get("/board").get_data(as_text=True)
    assert cards_in(html, "first_contact") == ["Mine First"]
    assert cards_in(html, "needs") == ["Mine Needs"]
    assert "Not Mine" not in html


def test_team_lead_and_supervisor_see_their_scope(client, factory, manager):
    lead = factory.user("team_lead", "Team A")
    boss = factory.user("supervisor")
    other = factory.user("manager", "Team B")
    factory.prospect(manager, name="Team A Card")
    factory.prospect(other, name="Team B Card")
    sign_in(client, lead)
    html = client.get("/board").get_data(as_text=True)
    assert "Team A Card" in html and "Team B Card" not in html
    assert manager.name in html  # the owner is shown to a lead
    client.post("/logout")
    sign_in(client, boss)
    # A supervisor's board opens on the first team; "all" is the whole branch.
    html = client.get("/board").get_data(as_text=True)
    assert "Team A Card" in html and "Team B Card" not in html
    html = client.get("/board?team=all").get_data(as_text=True)
    assert "Team A Card" in html and "Team B Card" in html
    html = client.get("/board?team=Team+B").get_data(as_text=True)
    assert "Team A Card" not in html and "Team B Card" in html


def test_board_filters(as_manager, factory, manager):
    factory.prospect(manager, name="Wang Gold", tier="gold")
    factory.prospect(manager, name="Li Diamond", tier="diamond")
    with clock.travel(clock.now() - timedelta(days=30)):
        factory.prospect(manager, name="Zhao Late")
    html = as_manager.get("/board?tier=diamond").get_data(as_text=True)
    assert cards_in(html, "first_contact") == ["Li Diamond"]
    html = as_manager.get("/board?q=wang").get_data(as_text=True)
    assert cards_in(html, "first_contact") == ["Wang Gold"]
    html = as_manager.get("/board?overdue=1").get_data(as_text=True)
    assert cards_in(html, "first_contact") == ["Zhao Late"]


def test_overdue_paused_and_missing_are_marked(as_manager, factory, manager):
    with clock.travel(clock.now() - timedelta(days=25)):
        late = factory.prospect(manager, name="Late One")
    calm = factory.prospect(manager, name="Calm One")
    from pipeline.prospects.services import advance_prospect

    advance_prospect(factory.session, calm.id, "pause", actor=manager, reason="annoyed")
    html = as_manager.get("/board").get_data(as_text=True)
    late_card = html.split(f'id="card-{late.id}"')[1].split("</li>")[0]
    assert "is-overdue" in html.split(f'id="card-{late.id}"')[0].rsplit("<li", 1)[1]
    assert "data-overdue" in late_card and "4 days overdue" in late_card
    assert "1 record missing" in late_card
    calm_card = html.split(f'id="card-{calm.id}"')[1].split("</li>")[0]
    assert "Paused" in calm_card and "move-form" not in calm_card


def test_board_masks_personal_data(as_manager, factory, manager):
    factory.prospect(manager, name="Masked", phone="13912345678", id_number="110101199001011237")
    html = as_manager.get("/board").get_data(as_text=True)
    assert "139****5678" in html
    assert "13912345678" not in html and "110101199001011237" not in html


def _bulk(session, owners, n: int, stages=("first_contact", "learn", "needs", "close")):
    """``n`` prospects over several stages, played through the engine (see pipeline.demo)."""
    engine = workflows.engine()
    keys = list(engine.workflow.stage_keys)
    now = clock.now()
    timelines = []
    for i in range(n):
        t = Timeline(engine, owners[i % len(owners)], name=f"Bulk {i}", tier="gold",
                     start=now - timedelta(days=i % 30, hours=3), phone="13800001111")
        target = stages[i % len(stages)]
        at = t.start
        for stage in keys[:keys.index(target)]:
            at += timedelta(minutes=10)
            key, data = COMPLETE[stage]
            if stage == "first_contact":
                data = contact_log(at)  # as of the visit: touches done, a meeting ahead
            t.save(key, data, at)
            t.fire("advance", at)
        timelines.append(t)
    insert_timelines(session, timelines)
    session.commit()


def count_queries(app, client, url: str) -> int:
    engine = get_db(app).engine
    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        r = client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    assert r.status_code == 200
    return len(seen)


def test_board_query_count_does_not_grow_with_cards(app, client, factory, session):
    boss = factory.user("supervisor")
    owners = [factory.user("manager", team) for team in ("Team A", "Team B")
              for _ in range(3)]
    _bulk(session, owners, 10)
    sign_in(client, boss)
    client.get("/board?team=all")  # warm caches (compiled statements, templates)
    small = count_queries(app, client, "/board?team=all")
    html_small = client.get("/board?team=all").get_data(as_text=True)
    assert len(re.findall(r'data-testid="card"', html_small)) == 10
    _bulk(session, owners, 990)
    large = count_queries(app, client, "/board?team=all")
    html = client.get("/board?team=all").get_data(as_text=True)
    assert large == small
    # 1,000 cards over four stages: each column of the whole branch shows its most urgent
    # (WIDE_PAGE) and a "more" link.
    assert len(re.findall(r'data-testid="card"', html)) == 4 * queries.WIDE_PAGE
    assert html.count("data-more") == 4
    assert count_queries(app, client, "/board?team=all&limit_learn=200") == small
    assert count_queries(app, client, "/board/columns/learn?team=all&offset=50") <= small
    # As it opens, on one team: no more statements, half the cards.
    assert count_queries(app, client, "/board") <= small + 1
    opened = client.get("/board").get_data(as_text=True)
    shown = re.search(r'data-testid="board-total">([0-9,]+) prospects<', opened).group(1)
    assert 0 < int(shown.replace(",", "")) < 1000  # the first team's


def test_column_pagination(as_manager, manager, session):
    _bulk(session, [manager], 60, stages=("learn",))
    html = as_manager.get("/board").get_data(as_text=True)
    shown = cards_in(html, "learn")
    assert len(shown) == 50 and "Show more (10 more)" in html
    more = as_manager.get("/board/columns/learn?offset=50").get_data(as_text=True)
    rest = re.findall(r'class="kcard-name"[^>]*>([^<]+)<', more)
    assert len(rest) == 10 and not set(rest) & set(shown)
    assert "data-more" not in more
    html = as_manager.get("/board?limit_learn=100").get_data(as_text=True)
    assert len(cards_in(html, "learn")) == 60


# ---------------------------------------------------------------- moves

def test_move_without_javascript_advances_through_the_service(as_manager, factory, manager):
    p = factory.prospect(manager, stage="learn")
    factory.complete(p, "learn", manager)
    r = as_manager.post(f"/prospects/{p.id}/move",
                        data={"to": "decision_maker", "version": p.version, "next": "/board"})
    assert r.status_code == 302 and r.location.endswith("/board")
    factory.session.expire_all()
    moved = factory.session.get(Prospect, p.id)
    assert moved.stage == "decision_maker"
    last = factory.session.scalars(select(StageEvent).where(StageEvent.prospect_id == p.id)
                                   .order_by(StageEvent.seq.desc())).first()
    assert (last.event, last.actor_id) == ("advance", manager.id)


def test_move_with_missing_records_opens_the_record_form(as_manager, factory, manager):
    p = factory.prospect(manager)
    r = as_manager.post(f"/prospects/{p.id}/move", data={"to": "learn", "next": "/board"})
    assert r.status_code == 302
    assert f"/prospects/{p.id}/records/contact_log" in r.location and "then=advance" in r.location
    page = as_manager.get(r.location)
    assert page.status_code == 200
    assert b"Meeting booked for" in page.data and b"Save and move" in page.data
    factory.session.expire_all()
    assert factory.session.get(Prospect, p.id).stage == "first_contact"


def test_saving_the_record_form_then_moves_the_card(as_manager, factory, manager):
    p = factory.prospect(manager)
    url = f"/prospects/{p.id}/records/contact_log?then=advance&next=/board"
    r = as_manager.post(url, data={"contact_log-meeting_booked_at": "2026-03-05T10:00",
                                   "contact_log-then": "advance"})
    assert r.status_code == 302 and r.location.endswith("/board")
    factory.session.expire_all()
    p2 = factory.session.get(Prospect, p.id)
    assert p2.stage == "learn"
    record = factory.session.scalars(select(StageRecord).where(
        StageRecord.prospect_id == p.id)).one()
    # 10:00 in Shanghai is 02:00 UTC.
    assert record.data["meeting_booked_at"] == "2026-03-05T02:00:00+00:00"


def test_saving_an_incomplete_record_keeps_the_card(as_manager, factory, manager):
    p = factory.prospect(manager)
    r = as_manager.post(f"/prospects/{p.id}/records/contact_log?then=advance",
                        data={"contact_log-call_at": "2026-03-02T10:00",
                              "contact_log-then": "advance"}, headers=FETCH)
    assert r.status_code == 200
    body = r.get_json()
    assert body["ok"] is True and body["moved"] is False
    assert "Meeting booked for" in body["html"]
    factory.session.expire_all()
    assert factory.session.get(Prospect, p.id).stage == "first_contact"
    assert factory.session.scalars(select(StageRecord)).one().data["call_at"]


def test_fetch_move_answers_json(as_manager, factory, manager):
    p = factory.prospect(manager, stage="learn")
    r = as_manager.post(f"/prospects/{p.id}/move", data={"to": "decision_maker"}, headers=FETCH)
    assert r.status_code == 422
    body = r.get_json()
    assert body["need_record"] == "info_sheet"
    assert body["form_url"].startswith(f"/prospects/{p.id}/records/info_sheet?then=advance")
    form = as_manager.get(body["form_url"], headers=FETCH)
    assert b"<html" not in form.data and b'class="record-form"' in form.data
    factory.complete(p, "learn", manager)
    r = as_manager.post(f"/prospects/{p.id}/move", data={"to": "decision_maker"}, headers=FETCH)
    body = r.get_json()
    assert r.status_code == 200 and body["ok"] and body["stage"] == "decision_maker"
    assert f'id="card-{p.id}"' in body["card"] and 'data-stage="decision_maker"' in body["card"]


def test_back_needs_a_reason(as_manager, factory, manager):
    p = factory.prospect(manager, stage="needs")
    r = as_manager.post(f"/prospects/{p.id}/move", data={"to": "decision_maker"}, headers=FETCH)
    assert r.status_code == 422 and r.get_json()["need_reason"] is True
    r = as_manager.post(f"/prospects/{p.id}/move",
                        data={"to": "decision_maker", "reason": "not the decision maker"},
                        headers=FETCH)
    assert r.status_code == 200
    factory.session.expire_all()
    assert factory.session.get(Prospect, p.id).stage == "decision_maker"


def test_moves_skip_no_stage(as_manager, factory, manager):
    p = factory.prospect(manager)
    r = as_manager.post(f"/prospects/{p.id}/move", data={"to": "needs"}, headers=FETCH)
    assert r.status_code == 422 and "one stage at a time" in r.get_json()["message"]


def test_stale_version_changes_nothing(as_manager, factory, manager):
    p = factory.prospect(manager, stage="learn")
    factory.complete(p, "learn", manager)
    r = as_manager.post(f"/prospects/{p.id}/move",
                        data={"to": "decision_maker", "version": p.version - 1}, headers=FETCH)
    assert r.status_code == 409 and "changed" in r.get_json()["message"]
    factory.session.expire_all()
    assert factory.session.get(Prospect, p.id).stage == "learn"


def test_other_teams_prospect_is_404_everywhere(client, factory, manager):
    lead_a = factory.user("team_lead", "Team A")
    theirs = factory.prospect(factory.user("manager", "Team B"), name="Theirs")
    for user in (manager, lead_a):
        sign_in(client, user)
        assert client.get(f"/prospects/{theirs.id}").status_code == 404
        assert client.get(f"/prospects/{theirs.id}/records/contact_log").status_code == 404
        assert client.post(f"/prospects/{theirs.id}/move", data={"to": "learn"}
                           ).status_code == 404
        assert client.post(f"/prospects/{theirs.id}/events/lose", data={"lose-reason": "x"}
                           ).status_code == 404
        assert client.post(f"/prospects/{theirs.id}/contacts", data={"kind": "call"}
                           ).status_code == 404
        client.post("/logout")
    factory.session.expire_all()
    assert factory.session.get(Prospect, theirs.id).status == "active"
    assert factory.session.scalar(select(func.count()).select_from(Contact)) == 0


# ---------------------------------------------------------------- the prospect page

def test_prospect_page_shows_path_due_time_and_history(as_manager, factory, manager):
    p = factory.prospect(manager, stage="learn", phone="13912345678",
                         id_number="110101199001011237")
    html = as_manager.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert 'aria-current="step"' in html.split("Learn the customer")[0][-400:]
    # Entered learn at T0 (09:00 Shanghai): due 21 days later, shown in Shanghai time.
    assert "2026-03-23 09:00" in html and "21 days left" in html
    assert "13912345678" in html and "110101199001011237" in html  # the owner sees them
    assert "0% filled; 70% needed" in html
    history = html.split('data-testid="history"')[1]
    assert history.index("Advance") < history.index("Created")  # newest first


def test_personal_data_only_for_owner_and_lead(client, factory, manager):
    p = factory.prospect(manager, phone="13912345678", id_number="110101199001011237")
    lead = factory.user("team_lead", "Team A")
    boss = factory.user("supervisor")
    sign_in(client, lead)
    assert b"13912345678" in client.get(f"/prospects/{p.id}").data
    client.post("/logout")
    sign_in(client, boss)
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert "13912345678" not in html and "139****5678" in html
    assert "110101199001011237" not in html


def test_supervisor_cannot_overwrite_personal_fields(client, factory, manager):
    p = factory.prospect(manager, stage="learn")
    from pipeline.prospects.services import save_record

    save_record(factory.session, p.id, "info_sheet", actor=manager,
                data={"mobile": "13912345678", "full_name": "Li Lei"})
    boss = factory.user("supervisor")
    sign_in(client, boss)
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert 'name="info_sheet-mobile"' not in html and "139****5678" in html
    r = client.post(f"/prospects/{p.id}/records/info_sheet?from=detail",
                    data={"info_sheet-full_name": "Li Lei", "info_sheet-age": "40",
                          "info_sheet-mobile": "139****5678"})
    assert r.status_code == 302
    factory.session.expire_all()
    data = factory.session.scalars(select(StageRecord).where(
        StageRecord.record_key == "info_sheet")).one().data
    assert data["mobile"] == "13912345678" and data["age"] == 40


def test_lose_needs_a_reason_beside_the_field(as_manager, factory, manager):
    p = factory.prospect(manager)
    r = as_manager.post(f"/prospects/{p.id}/events/lose",
                        data={"lose-reason": "  ", "lose-reason_category": "no_need"})
    assert r.status_code == 422
    assert b'id="lose-reason-error"' in r.data and b"Give a reason." in r.data
    factory.session.expire_all()
    assert factory.session.get(Prospect, p.id).status == "active"
    r = as_manager.post(f"/prospects/{p.id}/events/lose",
                        data={"lose-reason": "bought at another bank",
                              "lose-reason_category": "bought_elsewhere"})
    assert r.status_code == 302
    factory.session.expire_all()
    assert factory.session.get(Prospect, p.id).lost_reason == "bought at another bank"


def test_pause_resume_reopen(as_manager, factory, manager):
    p = factory.prospect(manager)
    assert as_manager.post(f"/prospects/{p.id}/events/pause",
                           data={"pause-reason": "annoyed"}).status_code == 302
    html = as_manager.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert "Paused since" in html and 'data-testid="event-resume"' in html
    assert as_manager.post(f"/prospects/{p.id}/events/resume").status_code == 302
    assert as_manager.post(f"/prospects/{p.id}/events/lose",
                           data={"lose-reason": "no interest",
                                 "lose-reason_category": "no_need"}).status_code == 302
    assert as_manager.post(f"/prospects/{p.id}/events/reopen",
                           data={"reopen-reason": "called back"}).status_code == 302
    factory.session.expire_all()
    events = factory.session.scalars(select(StageEvent.event).where(
        StageEvent.prospect_id == p.id).order_by(StageEvent.seq)).all()
    assert events == ["create", "pause", "resume", "lose", "reopen"]


def test_stale_event_is_refused(as_manager, factory, manager):
    p = factory.prospect(manager)
    r = as_manager.post(f"/prospects/{p.id}/events/pause",
                        data={"pause-reason": "x", "pause-version": str(p.version + 5)},
                        follow_redirects=True)
    assert b"Someone changed this prospect meanwhile" in r.data
    factory.session.expire_all()
    assert factory.session.get(Prospect, p.id).status == "active"


def test_log_contact(as_manager, factory, manager):
    p = factory.prospect(manager)
    r = as_manager.post(f"/prospects/{p.id}/contacts",
                        data={"kind": "call", "outcome": "reached", "note": "friendly",
                              "at": "2026-03-02T08:30"})
    assert r.status_code == 302
    c = factory.session.scalars(select(Contact)).one()
    assert (c.kind, c.outcome, c.user_id) == ("call", "reached", manager.id)
    assert c.at == clock.parse("2026-03-02T00:30:00Z")
    html = as_manager.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert "Reached the customer" in html and "friendly" in html


@pytest.mark.parametrize("data, field", [
    ({"kind": "fax"}, "kind"),
    ({"kind": "call", "at": "yesterday"}, "at"),
    ({"kind": "call", "at": "2026-03-09T10:00"}, "at"),  # in the future
])
def test_bad_contact_is_refused_beside_the_field(as_manager, factory, manager, data, field):
    p = factory.prospect(manager)
    r = as_manager.post(f"/prospects/{p.id}/contacts", data=data)
    assert r.status_code == 422
    assert f'id="{field}-error"'.encode() in r.data
    assert factory.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_mark_cadence_task_done_fills_the_contact_log(as_manager, factory, manager):
    p = factory.prospect(manager)
    task = factory.session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == p.id, CadenceTask.key == "manager_sms")).one()
    r = as_manager.post(f"/tasks/{task.id}/done", data={"next": f"/prospects/{p.id}"})
    assert r.status_code == 302 and r.location.endswith(f"/prospects/{p.id}")
    factory.session.expire_all()
    task = factory.session.get(CadenceTask, task.id)
    assert task.done_at == clock.now() and task.done_by_id == manager.id
    record = factory.session.scalars(select(StageRecord)).one()
    assert clock.parse(record.data["manager_sms_at"]) == clock.now()


def test_manager_cannot_tick_the_leads_task(as_manager, factory, manager):
    p = factory.prospect(manager)
    task = CadenceTask(prospect_id=p.id, key="lead_call", assignee_kind="team_lead",
                       clock_no=p.clock_no, due_at=clock.now())
    factory.session.add(task)
    factory.session.commit()
    r = as_manager.post(f"/tasks/{task.id}/done", data={"next": "/my-day"}, headers=FETCH)
    assert r.status_code == 403
    factory.session.expire_all()
    assert factory.session.get(CadenceTask, task.id).done_at is None


def test_new_prospect(as_manager, factory, manager):
    r = as_manager.post("/prospects/new", data={"name": "  Sun Li ", "tier": "platinum",
                                                "phone": "13700001111"})
    assert r.status_code == 302
    p = factory.session.scalars(select(Prospect)).one()
    assert (p.name, p.tier, p.owner_id, p.stage) == ("Sun Li", "platinum", manager.id,
                                                     "first_contact")
    r = as_manager.post("/prospects/new", data={"name": "", "tier": "gold"})
    assert r.status_code == 422 and b'id="name-error"' in r.data


# ---------------------------------------------------------------- my day

def test_my_day(as_manager, factory, manager):
    with clock.travel(clock.now() - timedelta(days=25)):
        factory.prospect(manager, name="Overdue Customer")
    with clock.travel(clock.now() - timedelta(days=18)):
        factory.prospect(manager, name="Near Customer")
    fresh = factory.prospect(manager, name="Fresh Customer")
    from pipeline.prospects.services import log_contact

    for minutes in (10, 20, 30):
        log_contact(factory.session, fresh.id, actor=manager,
                    data={"kind": "call", "at": clock.now() - timedelta(minutes=minutes)})
    log_contact(factory.session, fresh.id, actor=manager,
                data={"kind": "visit", "at": clock.now() - timedelta(minutes=5)})
    log_contact(factory.session, fresh.id, actor=manager,  # yesterday: not counted
                data={"kind": "call", "at": clock.now() - timedelta(days=1)})
    html = as_manager.get("/my-day").get_data(as_text=True)
    assert '<strong data-testid="calls">3</strong> / 20' in html
    assert '<strong data-testid="meetings">1</strong> / 2' in html
    overdue = html.split('data-testid="overdue"')[1].split("</section>")[0]
    assert "Overdue Customer" in overdue and "Near Customer" not in overdue
    near = html.split('data-testid="due-soon"')[1].split("</section>")[0]
    assert "Near Customer" in near and "Fresh Customer" not in near
    today = html.split('data-testid="tasks-today"')[1].split("</section>")[0]
    late = html.split('data-testid="tasks-overdue"')[1].split("</section>")[0]
    # Fresh's manager SMS (due tomorrow) is in neither; the late ones are overdue, not
    # today's.
    assert "Fresh Customer" not in today + late
    assert "Overdue Customer" in late and "Overdue Customer" not in today


# ---------------------------------------------------------------- languages

def test_language_switch_sticks_to_the_user(client, factory, manager):
    factory.prospect(manager, name="Wang")
    sign_in(client, manager)
    r = client.post("/language", data={"locale": "zh_CN", "next": "/board"})
    assert r.status_code == 302
    factory.session.expire_all()
    assert factory.session.get(User, manager.id).locale == "zh_CN"
    html = client.get("/board").get_data(as_text=True)
    assert "看板" in html and "初次接触" in html and "新增客户" in html
    client.post("/logout")
    sign_in(client, manager)  # a fresh session still speaks Chinese
    html = client.get("/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "新增客户" in html and "New prospect" not in html


def test_times_in_the_users_zone(client, factory):
    user = factory.user("manager", "Team A")
    user.timezone = "Europe/London"
    factory.session.commit()
    p = factory.prospect(user, stage="learn")
    sign_in(client, user)
    html = client.get(f"/prospects/{p.id}").get_data(as_text=True)
    assert "2026-03-23 01:00" in html and "Europe/London" in html


def test_team_lead_adds_a_prospect_for_a_manager_of_the_team(client, factory, manager):
    lead = factory.user("team_lead", "Team A")
    outsider = factory.user("manager", "Team B")
    sign_in(client, lead)
    page = client.get("/prospects/new").get_data(as_text=True)
    assert manager.email in page and outsider.email not in page
    r = client.post("/prospects/new", data={"name": "Qian Yu", "tier": "gold",
                                            "owner": manager.email})
    assert r.status_code == 302
    p = factory.session.scalars(select(Prospect)).one()
    assert p.owner_id == manager.id and p.team_id == manager.team_id
    r = client.post("/prospects/new", data={"name": "Sun Yu", "tier": "gold",
                                            "owner": outsider.email})
    assert r.status_code == 422 and b'id="owner-error"' in r.data


def test_prospect_page_and_my_day_query_counts_do_not_grow(app, client, factory, manager):
    from pipeline.prospects.services import advance_prospect, log_contact

    p = factory.prospect(manager, stage="needs")
    with clock.travel(clock.now() - timedelta(days=25)):
        factory.prospect(manager)  # my day lists one overdue card from the start
    sign_in(client, manager)
    client.get(f"/prospects/{p.id}")
    client.get("/my-day")
    page_before = count_queries(app, client, f"/prospects/{p.id}")
    day_before = count_queries(app, client, "/my-day")
    for i in range(15):
        log_contact(factory.session, p.id, actor=manager,
                    data={"kind": "call", "at": clock.now() - timedelta(minutes=i + 1)})
        advance_prospect(factory.session, p.id, "pause", actor=manager, reason=f"r{i}")
        advance_prospect(factory.session, p.id, "resume", actor=manager)
    for _ in range(15):
        with clock.travel(clock.now() - timedelta(days=25)):
            factory.prospect(manager)
    assert count_queries(app, client, f"/prospects/{p.id}") == page_before
    assert count_queries(app, client, "/my-day") == day_before


def test_an_incomplete_save_says_what_is_missing_not_a_percentage(as_manager, factory, manager):
    p = factory.prospect(manager, "allocation")
    as_manager.post("/language", data={"locale": "en", "next": "/"})
    r = as_manager.post(f"/prospects/{p.id}/records/proposals",
                        data={"proposals-options-0": "fund plan", "proposals-chosen": "0"},
                        follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "Allocation proposals saved, not complete yet" in html
    assert "offer 2 to 3 options" in html
    assert "100%" not in html and "flash-success" not in html
    r = as_manager.post(f"/prospects/{p.id}/records/proposals",
                        data={"proposals-options-0": "fund plan",
                              "proposals-options-1": "deposit plan", "proposals-chosen": "1"},
                        follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "Allocation proposals saved; it is complete." in html and "flash-success" in html
