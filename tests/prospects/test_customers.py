"""The customer on the prospect: one prospect that is not lost per customer number and per
ID number (the check, the unique index, a concurrent insert), the cap of customers
maintained, and search by name or by a whole number, within scope and masked."""
from __future__ import annotations

import re
import threading
from datetime import date

import pytest
from sqlalchemy import func, select, text

from pipeline.auth.services import create_user
from pipeline.db import make_engine
from pipeline.errors import Conflict, Invalid
from pipeline.prospects import queries, services
from pipeline.prospects.models import Prospect, StageEvent
from pipeline.prospects.services import advance_prospect, create_prospect
from tests.conftest import T0
from tests.prospects.test_views import sign_in

ID = "11010519491231002X"  # GB 11643's own example
ID_2 = "110101199003074477"
PHONE = "13800138000"


def count(session, *where) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(Prospect).where(*where))


def refused(session, actor, data) -> Conflict:  # noqa: ANN001
    before = session.scalar(select(func.count()).select_from(StageEvent))
    with pytest.raises(Conflict) as info:
        create_prospect(session, actor=actor, data={"name": "Wang Fang", "tier": "gold", **data})
    assert info.value.code == "duplicate_customer" and info.value.status == 409
    assert session.scalar(select(func.count()).select_from(StageEvent)) == before
    return info.value


# ---------------------------------------------------------------- one customer, one manager

@pytest.mark.parametrize("field, first, again", [
    ("customer_no", "CN-0001", "CN-0001"),
    ("id_number", ID, " 110105 19491231 002x "),  # the same number, typed otherwise
])
def test_a_customer_has_one_prospect_until_it_is_lost(session, factory, field, first, again):
    owner = factory.user("manager", "Team A")
    held = factory.prospect(owner, **{field: first})
    assert getattr(held, field) == first.strip()
    exc = refused(session, owner, {field: again})
    assert list(exc.details) == [field, "prospect_id"] and exc.details["prospect_id"] == held.id
    assert count(session) == 1
    advance_prospect(session, held.id, "lose", actor=owner, reason="bought elsewhere")
    again_p = create_prospect(session, actor=owner,
                              data={"name": "Wang Fang", "tier": "gold", field: again})
    assert getattr(again_p, field) == getattr(held, field)
    # The lost one cannot come back while the new one holds the customer.
    with pytest.raises(Conflict) as info:
        advance_prospect(session, held.id, "reopen", actor=owner, reason="called back")
    assert info.value.code == "duplicate_customer" and field in info.value.details
    assert session.get(Prospect, held.id).status == "lost"


def test_the_refusal_names_the_holder_only_to_who_may_see_it(session, factory):
    holder_owner = factory.user("manager", "Team A")
    peer = factory.user("manager", "Team A")
    outsider = factory.user("manager", "Team B")
    lead = factory.user("team_lead", "Team A")
    held = factory.prospect(holder_owner, customer_no="CN-7", id_number=ID)
    for actor in (peer, outsider):
        exc = refused(session, actor, {"customer_no": "CN-7"})
        assert exc.details == {"customer_no": [
            "Another prospect that is not lost has this customer number."]}
        for secret in (holder_owner.email, holder_owner.name, str(held.id), ID):
            assert secret not in exc.message
    exc = refused(session, lead, {"id_number": ID, "owner": peer.email})
    assert exc.details["prospect_id"] == held.id and f"prospect {held.id}" in exc.message
    assert ID not in exc.message


def test_the_unique_index_decides_when_two_inserts_pass_the_check(session, factory,
                                                                  monkeypatch):
    owner = factory.user()
    factory.prospect(owner, customer_no="CN-1", id_number=ID)
    # As if another transaction had inserted the customer after this one's check.
    monkeypatch.setattr(services, "check_unique_customer", lambda *a, **k: None)
    for field, value in (("customer_no", "CN-1"), ("id_number", ID)):
        exc = refused(session, owner, {field: value})
        assert list(exc.details) == [field]  # the index's refusal names nobody
    assert count(session) == 1
    # Other integrity errors are not taken for duplicates.
    assert services.unique_customer_field(_integrity_error(session)) is None


def _integrity_error(session):  # noqa: ANN001
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError) as info, session.begin_nested():
        session.execute(text("INSERT INTO prospects (name) VALUES ('x')"))
    return info.value


@pytest.mark.postgres_only
def test_concurrent_inserts_of_one_customer_give_one_prospect_and_409s(committed, monkeypatch):
    setup = committed.sessionmaker()
    owners = [create_user(setup, f"racer{i}@bank.test", role="manager", team="Race")
              for i in range(6)]
    owner_ids = [o.id for o in owners]
    setup.close()
    # Every thread passes the check before any inserts: the unique index alone decides.
    barrier = threading.Barrier(len(owner_ids), timeout=30)
    real_check = services.check_unique_customer

    def check_then_wait(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        real_check(*args, **kwargs)
        barrier.wait()

    monkeypatch.setattr(services, "check_unique_customer", check_then_wait)
    engine = make_engine(committed.url, pool_size=len(owner_ids), max_overflow=0)
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    results: list[tuple[str, dict]] = []
    lock = threading.Lock()

    def insert(owner_id: int) -> None:
        session = sessions()
        try:
            actor = session.get(type(owners[0]), owner_id)
            try:
                create_prospect(session, actor=actor, data={
                    "name": "Contested", "tier": "gold", "id_number": ID})
                outcome = ("created", {})
            except Conflict as exc:
                outcome = (exc.code, exc.details)
            with lock:
                results.append(outcome)
        finally:
            session.close()

    threads = [threading.Thread(target=insert, args=(i,)) for i in owner_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    assert sorted(code for code, _ in results) == ["created"] + ["duplicate_customer"] * 5
    assert all(list(details) == ["id_number"] for code, details in results
               if code != "created")
    check = committed.sessionmaker()
    assert check.scalar(select(func.count()).select_from(Prospect)) == 1
    assert check.scalar(select(func.count()).select_from(StageEvent)) == 1
    check.close()


def test_create_stores_the_customers_fields(session, factory):
    p = factory.prospect(factory.user(), customer_no="CN-42", id_number=ID,
                         phone="+86 138-0013-8000", assets=250_000.0, potential="high")
    session.expire_all()
    p = session.get(Prospect, p.id)
    assert (p.customer_no, p.id_number, p.phone, p.birthday, p.assets, p.potential) == (
        "CN-42", ID, PHONE, date(1949, 12, 31), 250_000.0, "high")


# ---------------------------------------------------------------- the cap

def book(session, owner, statuses) -> None:  # noqa: ANN001
    session.add_all([Prospect(
        name=f"p{i}", tier="gold", owner_id=owner.id, team_id=owner.team_id,
        stage="after_sale" if status == "won" else "learn", status=status,
        stage_entered_at=T0, clock_started_at=T0,
        paused_at=T0 if status == "paused" else None,
        lost_reason="gone" if status == "lost" else None) for i, status in enumerate(statuses)])
    session.commit()


def test_the_cap_counts_active_paused_and_won_customers_not_lost(session, factory):
    owner = factory.user()
    book(session, owner, ["active"] * 150 + ["paused"] * 20 + ["won"] * 79 + ["lost"] * 30)
    assert queries.maintained_count(session, owner.id) == 249
    create_prospect(session, actor=owner, data={"name": "the 250th", "tier": "gold"})
    with pytest.raises(Invalid) as info:
        create_prospect(session, actor=owner, data={"name": "one more", "tier": "gold"})
    assert info.value.code == "over_capacity" and "owner" in info.value.details
    assert queries.maintained_counts(session, [owner.id, 10**6]) == {owner.id: 250, 10**6: 0}


def test_board_and_reassign_choices_show_each_managers_count_out_of_the_cap(
        app, client, session, factory):
    from tests.escalations.test_views import OVERDUE, login

    lead = factory.user("team_lead", "Team A")
    busy = factory.user("manager", "Team A")
    other = factory.user("manager", "Team A")
    book(session, busy, ["won"] * 12 + ["active"] * 3 + ["lost"] * 4)
    factory.prospect(other, name="Stalled")
    from pipeline import clock
    from pipeline.escalations.services import sweep_due

    clock.set_now(OVERDUE)
    sweep_due(session, OVERDUE)
    login(client, lead)
    board = client.get("/board").get_data(as_text=True)
    assert f">{busy.name} (15/250)</option>" in board
    assert f">{other.name} (1/250)</option>" in board
    queue = client.get("/escalations").get_data(as_text=True)
    assert re.search(rf">\s*{re.escape(busy.name)} \(15/250\)\s*</option>", queue)
    client.post("/logout")
    sign_in(client, busy)
    mine = client.get("/board").get_data(as_text=True)
    assert 'data-testid="my-load">Customers you maintain: 15/250<' in mine


# ---------------------------------------------------------------- search

@pytest.fixture
def searchable(session, factory):
    owner = factory.user("manager", "Team A")
    outsider = factory.user("manager", "Team B")
    mine = factory.prospect(owner, name="Wang Fang", customer_no="CN-100", id_number=ID,
                            phone=PHONE)
    factory.prospect(owner, name="Li Lei", customer_no="CN-1001", id_number=ID_2,
                     phone="13900139000")
    # The same name and numbers out of the owner's scope (another team), the numbers
    # free again because the outsider's prospect is lost.
    theirs = factory.prospect(outsider, name="Wang Fang", phone="15000150000",
                              customer_no="CN-200", id_number="440524198001010013")
    advance_prospect(session, theirs.id, "lose", actor=outsider, reason="moved away")
    return owner, outsider, mine, theirs


@pytest.mark.parametrize("q", ["wang", "Fang", "CN-100", "13800138000", "+86 138 0013 8000",
                               "138-0013-8000", "11010519491231002x", ID])
def test_search_finds_by_part_of_the_name_or_a_whole_number(session, searchable, q):
    owner, _outsider, mine, _theirs = searchable
    found = session.scalars(queries.filtered(owner, q=q)).all()
    assert [p.id for p in found] == [mine.id]


@pytest.mark.parametrize("q", ["CN-10", "N-100", "1380013", "138001380001", "1101051949",
                               "Zhang", "%", "_"])
def test_search_does_not_match_part_of_a_number(session, searchable, q):
    owner = searchable[0]
    assert session.scalars(queries.filtered(owner, q=q)).all() == []


def test_search_stays_in_scope_and_masks_numbers(client, session, factory, searchable):
    from tests.api.conftest import Api

    owner, outsider, mine, theirs = searchable
    supervisor = factory.user("supervisor")
    api = Api(client, factory.token(outsider))
    for q in ("CN-100", PHONE, ID):  # the other manager's customer: not found
        assert api.get("/api/v1/prospects", query_string={"q": q}).json["items"] == []
    r = api.get("/api/v1/prospects", query_string={"q": "15000150000"})
    assert [i["id"] for i in r.json["items"]] == [theirs.id]  # lost ones are found too
    api = Api(client, factory.token(supervisor))
    items = api.get("/api/v1/prospects", query_string={"q": ID.lower()}).json["items"]
    assert [(i["id"], i["id_number"], i["phone"]) for i in items] == [
        (mine.id, "110***********002X", "138****8000")]
    names = api.get("/api/v1/prospects", query_string={"q": "wang"}).json["items"]
    assert sorted(i["id"] for i in names) == sorted([mine.id, theirs.id])
    sign_in(client, supervisor)
    html = client.get("/board", query_string={"q": "+86 138 0013 8000"}).get_data(as_text=True)
    assert len(re.findall(r'data-testid="card"', html)) == 1
    assert "138****8000" in html and PHONE not in html
    client.post("/logout")
    sign_in(client, outsider)
    html = client.get("/board", query_string={"q": PHONE}).get_data(as_text=True)
    assert 'data-testid="card"' not in html


@pytest.mark.parametrize("q, indexes", [
    (ID, ("ix_prospects_customer_no", "ix_prospects_id_number")),
    (PHONE, ("ix_prospects_customer_no", "ix_prospects_phone")),
    ("110101199003074477", ("ix_prospects_customer_no", "ix_prospects_phone",
                            "ix_prospects_id_number")),
])
def test_a_search_by_number_reads_indexes_not_the_table(session, factory, searchable,
                                                         backend, q, indexes):
    branch = queries.filtered(factory.user("supervisor"), q=q)
    sql = str(branch.compile(session.get_bind(), compile_kwargs={
        "literal_binds": True}))
    if backend == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(session.scalars(text(f"EXPLAIN {sql}")))
        assert "Seq Scan on prospects" not in plan, plan
        for index in indexes:
            assert index in plan, plan
    else:
        plan = "\n".join(r[-1] for r in session.execute(text(f"EXPLAIN QUERY PLAN {sql}")))
        assert "SCAN prospects" not in plan, plan
        for index in indexes:
            assert index in plan, plan
    session.rollback()


# ---------------------------------------------------------------- the page and the form

def test_the_new_prospect_form_takes_the_customer_and_shows_a_duplicate(client, session,
                                                                       factory):
    manager = factory.user()
    sign_in(client, manager)
    data = {"name": "Wang Fang", "tier": "gold", "customer_no": "CN-9", "id_number": ID,
            "phone": "138 0013 8000", "birthday": "", "assets": "300000",
            "potential": "high"}
    r = client.post("/prospects/new", data=data)
    assert r.status_code == 302
    page = client.get(r.location).get_data(as_text=True)
    for shown in ('data-testid="customer-no">CN-9<', 'data-testid="birthday">1949-12-31<',
                  'data-testid="potential">High potential<', ID, PHONE):
        assert shown in page
    r = client.post("/prospects/new", data={**data, "customer_no": "CN-10"})
    assert r.status_code == 409
    assert b'id="id_number-error">Another prospect that is not lost has this ID number.<' \
        in r.data
    assert count(session) == 1


def test_the_forms_messages_are_in_the_readers_language(client, factory):
    sign_in(client, factory.user())
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    r = client.post("/prospects/new", data={"name": "王芳", "tier": "gold",
                                            "id_number": "110105194912310021",
                                            "phone": "12800138000"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="id_number-error">证件号码的校验码不正确。<' in html
    assert 'id="phone-error">手机号码应为以 13 至 19 开头的 11 位数字。<' in html
