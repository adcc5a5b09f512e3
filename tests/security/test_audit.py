"""The audit log: what is logged, who may read it, and that entries never change."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.audit import AppendOnly
from pipeline.auth.models import AuditEntry
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import decide_escalation, sweep_due
from pipeline.prospects.services import advance_prospect
from tests.conftest import T0


def entries(session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                .order_by(AuditEntry.id)))


def sign_in(client, user) -> None:
    r = client.post("/login", data={"email": user.email, "password": "secret-pass"})
    assert r.status_code == 302


@pytest.fixture
def team(factory):
    return {
        "lead": factory.user("team_lead", "Team A"),
        "owner": factory.user("manager", "Team A"),
        "peer": factory.user("manager", "Team A"),
        "stranger": factory.user("manager", "Team B"),
        "supervisor": factory.user("supervisor"),
        "admin": factory.user("admin"),
    }


@pytest.mark.parametrize("role,status", [("supervisor", 200), ("admin", 200),
                                         ("lead", 403), ("owner", 403)])
def test_only_supervisors_and_admins_read_the_log(client, team, role, status):
    sign_in(client, team[role])
    r = client.get("/audit")
    assert r.status_code == status
    if status == 200:
        assert team[role].email in r.get_data(as_text=True)  # their own sign-in


def test_anonymous_visitors_are_sent_to_sign_in(client):
    r = client.get("/audit")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_failed_sign_ins_are_logged_with_the_address(client, team, session):
    r = client.post("/login", data={"email": team["owner"].email, "password": "wrong"},
                    environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 401
    [failed] = entries(session, "login_failed")
    assert (failed.ip, failed.note, failed.actor_id) == ("10.1.2.3", team["owner"].email, None)
    sign_in(client, team["supervisor"])
    page = client.get("/audit", query_string={"action": "login_failed"}).get_data(as_text=True)
    assert page.count('data-testid="audit-row"') == 1 and "10.1.2.3" in page


def test_views_of_personal_data_are_logged_web_and_api(client, team, factory, session):
    """Others' views are logged with what they were shown; the owner reading their own
    customer is not (no audit write on every read of one's own book)."""
    p = factory.prospect(team["owner"], id_number="110101199001011237",
                         phone="13800138000")
    sign_in(client, team["owner"])
    assert client.get(f"/prospects/{p.id}").status_code == 200
    assert client.get(f"/prospects/{p.id}/records/info_sheet").status_code == 200
    client.post("/logout")
    sign_in(client, team["lead"])
    assert client.get(f"/prospects/{p.id}").status_code == 200
    page = client.get(f"/prospects/{p.id}/records/info_sheet")
    assert page.status_code == 200
    token = factory.token(team["supervisor"])
    r = client.get(f"/api/v1/prospects/{p.id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json["phone"] != "13800138000"
    views = entries(session, "prospect_viewed")
    assert [(v.actor_id, v.target_id, v.detail["channel"], v.detail["personal_data"],
             v.detail.get("record")) for v in views] == [
        (team["lead"].id, p.id, "web", "full", None),
        (team["lead"].id, p.id, "web", "full", "info_sheet"),
        (team["supervisor"].id, p.id, "api", "masked", None)]


def test_a_refused_read_is_not_a_view(client, team, factory, session):
    p = factory.prospect(team["owner"])
    token = factory.token(team["stranger"])
    r = client.get(f"/api/v1/prospects/{p.id}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 404
    assert entries(session, "prospect_viewed") == []


def test_exports_are_logged(client, team):
    sign_in(client, team["lead"])
    r = client.get("/reports/daily.csv")
    assert r.status_code == 200
    client.post("/logout")
    sign_in(client, team["supervisor"])
    page = client.get("/audit", query_string={"action": "report_exported"}).get_data(
        as_text=True)
    assert page.count('data-testid="audit-row"') == 1 and "report=daily" in page


def test_reassignment_on_reopen_is_logged(session, team, factory):
    p = factory.prospect(team["owner"], "needs")
    advance_prospect(session, p.id, "lose", actor=team["owner"], reason="no budget")
    advance_prospect(session, p.id, "reopen", actor=team["lead"], reason="budget found",
                     new_owner=team["peer"].email)
    [entry] = entries(session, "prospect_reassigned")
    assert (entry.actor_id, entry.target_id) == (team["lead"].id, p.id)
    assert entry.detail == {"from_owner_id": team["owner"].id, "to_owner_id": team["peer"].id,
                            "via": "reopen"}


def test_escalation_decisions_are_logged_and_filterable(client, session, team, factory):
    p = factory.prospect(team["owner"])
    overdue = T0 + timedelta(days=21, seconds=1)
    clock.set_now(overdue)
    sweep_due(session, overdue)
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == p.id)).one()
    decide_escalation(session, esc.id, actor=team["lead"], decision="reassign",
                      new_owner=team["peer"].email, note="owner on leave")
    [entry] = entries(session, "escalation_decision")
    assert entry.actor_id == team["lead"].id and entry.detail["decision"] == "reassign"
    sign_in(client, team["supervisor"])
    page = client.get("/audit", query_string={"actor": team["lead"].email,
                                              "action": "escalation_decision"}).get_data(
        as_text=True)
    assert page.count('data-testid="audit-row"') == 1 and "owner on leave" in page


def test_the_log_is_append_only(session, team):
    from pipeline.auth.services import audit

    for change in ("update", "delete"):
        audit(session, "login_failed", target_type="email", note="someone@bank.test")
        session.flush()
        entry = session.scalars(select(AuditEntry)).one()
        if change == "update":
            entry.note = "rewritten"
        else:
            session.delete(entry)
        with pytest.raises(AppendOnly):
            session.flush()
        session.rollback()


def test_pages_of_the_log(client, session, team):
    from pipeline.auth.services import audit

    for n in range(130):
        audit(session, "login_failed", target_type="email", note=f"guess{n}@bank.test")
    session.commit()
    sign_in(client, team["supervisor"])
    page = client.get("/audit", query_string={"action": "login_failed"}).get_data(as_text=True)
    assert page.count('data-testid="audit-row"') == 100 and "guess129@" in page
    link = re.search(r'<a href="([^"]+)" data-testid="audit-older"', page).group(1)
    rest = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert rest.count('data-testid="audit-row"') == 30 and "guess0@" in rest
    assert 'data-testid="audit-older"' not in rest


def test_bad_filters_are_refused_politely(client, team):
    sign_in(client, team["supervisor"])
    client.post("/language", data={"locale": "en"})
    r = client.get("/audit", query_string={"since": "not-a-date", "prospect": "-3"})
    assert r.status_code == 422 and "Please check the filters" in r.get_data(as_text=True)


def test_every_audit_string_is_translated_to_chinese():
    from pathlib import Path

    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    root = Path(__file__).resolve().parents[2]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    strings = set()
    for folder, method in (("pipeline/audit", [("**.py", "python")]),
                           ("templates/audit", [("**.html", "jinja2")])):
        for _f, _l, message, _c, _x in extract_from_dir(root / folder, method,
                                                          keywords=keywords):
            strings.add(message if isinstance(message, str) else message[0])
    assert "Audit log" in strings and "All actions" in strings  # actions: pipeline.labels
    with open(root / "pipeline/audit/translations/zh_CN/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    assert sorted(s for s in strings if not (catalog.get(s) and catalog.get(s).string)) == []


def test_the_page_speaks_chinese(client, team):
    sign_in(client, team["supervisor"])
    client.post("/language", data={"locale": "zh_CN"})
    page = client.get("/audit").get_data(as_text=True)
    assert "审计日志" in page and "登录" in page


@pytest.mark.parametrize("how", ["sql", "orm"])
@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_database_refuses_to_change_or_delete_an_audit_entry(session, team, change, how):
    """Not only the app: an UPDATE or DELETE from any program or console, raw SQL or the
    ORM's bulk statements (which skip the mapper's guard), is refused by the database
    itself (triggers), on SQLite and PostgreSQL alike."""
    from sqlalchemy import delete, text, update
    from sqlalchemy.exc import DatabaseError

    from pipeline.auth.services import audit

    audit(session, "login_failed", target_type="email", note="someone@bank.test")
    session.commit()
    statement = {("update", "sql"): text("UPDATE audit_log SET note = 'rewritten'"),
                 ("delete", "sql"): text("DELETE FROM audit_log"),
                 ("update", "orm"): update(AuditEntry).values(note="rewritten"),
                 ("delete", "orm"): delete(AuditEntry)}[change, how]
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(statement.execution_options(synchronize_session=False))
    session.rollback()
    [entry] = entries(session, "login_failed")
    assert entry.note == "someone@bank.test"


def trigger_sql(session) -> list:
    """The audit log's triggers as the database holds them (SQLite: their SQL)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql":
        return list(session.execute(text(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass "
            "AND NOT tgisinternal ORDER BY tgname")))
    return list(session.execute(text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
        "AND tbl_name = 'audit_log' ORDER BY name")))


def test_a_purge_deletes_old_entries_notes_it_and_the_guard_is_back(session, team):
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    from pipeline.audit.purge import purge
    from pipeline.auth.services import audit

    before_guard = trigger_sql(session)
    assert [name for name, _ in before_guard] == ["audit_log_append_only",
                                                  "audit_log_no_delete"]
    for days in (400, 380, 10):
        clock.set_now(T0 - timedelta(days=days))
        audit(session, "login_failed", target_type="email", note=f"old{days}@bank.test")
    clock.set_now(T0)
    session.commit()
    assert purge(session, T0 - timedelta(days=365)) == 2
    session.expire_all()
    assert [e.note for e in entries(session, "login_failed")] == ["old10@bank.test"]
    [note] = entries(session, "audit_purged")
    assert note.detail == {"before": (T0 - timedelta(days=365)).isoformat(), "deleted": 2}
    assert trigger_sql(session) == before_guard  # the refusal is back, as it was
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text("DELETE FROM audit_log"))
    session.rollback()


def test_the_purge_command_asks_and_refuses_a_day_to_come(runner, session, team):
    from pipeline.auth.services import audit

    clock.set_now(T0 - timedelta(days=30))
    audit(session, "login_failed", target_type="email", note="old@bank.test")
    clock.set_now(T0)
    session.commit()
    day = (T0 - timedelta(days=1)).date().isoformat()
    r = runner.invoke(args=["audit", "purge", "--before", day], input="n\n")
    assert r.exit_code == 1 and entries(session, "login_failed")  # answered no: kept
    r = runner.invoke(args=["audit", "purge", "--before", "2999-01-01", "--yes"])
    assert r.exit_code == 1 and "future" in r.output
    r = runner.invoke(args=["audit", "purge", "--before", day], input="y\n")
    assert r.exit_code == 0 and "1 audit entries" in r.output
    session.expire_all()
    assert entries(session, "login_failed") == [] and len(entries(session, "audit_purged")) == 1


def test_migration_0011_adds_and_removes_the_delete_refusal(fresh_database):
    """Up: DELETE refused; down to 0010: allowed again (UPDATE still refused); up again."""
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    from pipeline.cli import alembic_config
    from pipeline.db import make_engine

    cfg = alembic_config(fresh_database)
    engine = make_engine(fresh_database)
    add = text("INSERT INTO audit_log (at, action) VALUES ('2026-03-02 01:00:00', 'login')")

    def refused(sql: str) -> bool:
        try:
            with engine.begin() as conn:
                conn.execute(add)
                conn.execute(text(sql))
        except DatabaseError as exc:
            assert "append-only" in str(exc)
            return True
        return False

    try:
        command.upgrade(cfg, "head")
        assert refused("DELETE FROM audit_log") and refused("UPDATE audit_log SET note = 'x'")
        command.downgrade(cfg, "0010")
        assert not refused("DELETE FROM audit_log")
        assert refused("UPDATE audit_log SET note = 'x'")
        command.upgrade(cfg, "head")
        assert refused("DELETE FROM audit_log")
    finally:
        engine.dispose()


@pytest.mark.postgres_only
def test_a_purge_waiting_for_another_writer_of_the_log_gives_up_and_changes_nothing(
        app, session, team, monkeypatch):
    """Waiting for the lock a purge takes would queue every audit write behind it: past
    the lock timeout it fails instead, and its transaction changes nothing."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from pipeline.audit import purge as purging
    from pipeline.db import get_db

    monkeypatch.setattr(purging, "LOCK_TIMEOUT", "200ms")
    reader = get_db(app).engine.connect()
    try:
        reader.execute(text("INSERT INTO audit_log (at, action) "  # locked until it ends
                            "VALUES ('2026-03-02 01:00:00', 'login')"))
        with pytest.raises(OperationalError, match="lock timeout"):
            purging.purge(session, T0)
        session.rollback()
    finally:
        reader.rollback()
        reader.close()
    assert trigger_sql(session)[-1] == ("audit_log_no_delete", "O")  # still enabled
