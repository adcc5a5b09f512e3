"""Allocating the unallocated book: the filter (tier, assets, area) with masked numbers,
allocation under and over the cap, the first stage with its cadence through the one event
path, 409 on a customer allocated twice, claims approved and refused, the bulk move of a
leaving manager's customers with handover letters, history rows and audit rows."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from pipeline import workflows
from pipeline.auth.models import AuditEntry, User
from pipeline.auth.services import create_user
from pipeline.customers import allocation, services
from pipeline.customers.models import BookCustomer, CustomerClaim
from pipeline.db import make_engine
from pipeline.errors import Conflict, Forbidden, Invalid
from pipeline.escalations.models import Handover
from pipeline.notifications.models import Notification
from pipeline.notifications.services import translate
from pipeline.prospects.models import CadenceTask, Prospect, StageEvent, StageVisit
from tests.customers.test_import import HEADER, line

COUNT_TITLE = "%(count)d customers handed over to you from %(old)s"


def said(note) -> tuple[str, str | None]:
    """An inbox row's title and body as its reader sees them (in the default language)."""
    from pipeline.notifications import services as inbox

    if hasattr(inbox, "shown"):  # rows that keep message ids are rendered when read
        shown = inbox.shown(note, None)
        return shown.title, shown.body
    return note.title, note.body


def book(session, *lines: str) -> None:
    """Import ``lines`` (with a trailing area column) as the unallocated book."""
    data = ("\n".join([HEADER + ",area", *lines]) + "\n").encode()
    services.import_customers(session, data, kind="csv", actor=None)


def row(n: int, area: str = "", **kw) -> str:
    return line(n, **kw) + f",{area}"


def ids(session, *numbers: int) -> list[int]:
    wanted = [f"C{n:06d}" for n in numbers]
    return list(session.scalars(select(BookCustomer.id).where(
        BookCustomer.customer_no.in_(wanted)).order_by(BookCustomer.customer_no)))


def cap() -> int:
    return workflows.engine().workflow.escalation.max_active_per_manager


def fill(factory, owner, n: int) -> None:
    for i in range(n):
        factory.prospect(owner, name=f"Filler {i}")


def test_the_import_keeps_the_optional_area_column(session, factory):
    li = factory.user("manager")
    book(session, row(1, "East"), row(2, "", manager=li.email), row(3, "West"))
    assert dict(session.execute(select(BookCustomer.customer_no, BookCustomer.area))
                .all()) == {"C000001": "East", "C000003": "West"}
    assert session.scalars(select(Prospect.area)).one() is None
    # The contract's nine columns alone stay valid.
    data = ("\n".join([HEADER, line(4)]) + "\n").encode()
    assert services.import_customers(session, data, kind="csv", actor=None).created == 1
    too_long = ("\n".join([HEADER + ",area", row(5, "x" * 65)]) + "\n").encode()
    with pytest.raises(services.ImportRefused) as info:
        services.import_customers(session, too_long, kind="csv", actor=None)
    assert [(e.row, e.field) for e in info.value.summary.errors] == [(2, "area")]


def test_the_book_is_filtered_by_tier_assets_and_area_and_masked(session, factory):
    boss = factory.user("supervisor")
    book(session, row(1, "East", assets="650000"), row(2, "East", assets="40000",
                                                        potential="low"),
         row(3, "West", assets="3000000"), row(4, "West", assets="120000"))
    page = allocation.book_page(session, boss, {})
    assert page.total == 4 and page.areas == ["East", "West"]
    assert [b.customer_no for b in page.items] == ["C000003", "C000001", "C000004", "C000002"]
    east = allocation.book_page(session, boss, {"area": "East"})
    assert {b.customer_no for b in east.items} == {"C000001", "C000002"}
    middle = allocation.book_page(session, boss, {"assets_from": "100000",
                                                  "assets_to": "700000"})
    assert {b.customer_no for b in middle.items} == {"C000001", "C000004"}
    tiered = allocation.book_page(session, boss, {"tier": "gold"})
    assert {b.tier for b in tiered.items} == {"gold"} and tiered.total >= 1
    paged = allocation.book_page(session, boss, {"page": "2"}, per_page=3)
    assert paged.pages == 2 and [b.customer_no for b in paged.items] == ["C000002"]
    shown = allocation.book_row(page.items[0])
    assert shown["id_number"].startswith("110") and "*" in shown["id_number"]
    assert "*" in shown["phone"] and shown["customer_no"] == "C000003"
    with pytest.raises(Invalid) as info:
        allocation.book_page(session, boss, {"assets_from": "9", "assets_to": "1"})
    assert list(info.value.details) == ["assets_to"]
    with pytest.raises(Invalid) as info:
        allocation.book_page(session, boss, {"tier": "bronze", "assets_from": "lots"})
    assert set(info.value.details) == {"tier", "assets_from"}
    with pytest.raises(Forbidden):
        allocation.book_page(session, factory.user("team_lead"), {})


def test_allocation_creates_the_prospect_in_the_first_stage_with_its_cadence(session,
                                                                            factory):
    boss = factory.user("supervisor")
    li = factory.user("manager", "Team A")
    book(session, row(1, "East"), row(2, "West"), row(3))
    before = session.scalar(select(func.count()).select_from(StageEvent))
    done = allocation.allocate(session, {"customers": ids(session, 1, 2),
                                         "manager": li.email}, actor=boss)
    assert len(done) == 2
    engine = workflows.engine()
    first = engine.workflow.stage_keys[0]
    prospects = session.scalars(select(Prospect).order_by(Prospect.customer_no)).all()
    assert [(p.customer_no, p.owner_id, p.team_id, p.stage, p.status, p.area)
            for p in prospects] == [("C000001", li.id, li.team_id, first, "active", "East"),
                                    ("C000002", li.id, li.team_id, first, "active", "West")]
    assert prospects[0].id_number is not None and prospects[0].phone == "13900000001"
    # The same rows the one event path writes on creation: history, visit, cadence.
    history = session.scalars(select(StageEvent).where(
        StageEvent.prospect_id == prospects[0].id)).all()
    assert [(h.event, h.to_stage, h.actor_id, h.data) for h in history] == [
        ("create", first, boss.id, {"via": "allocation"})]
    assert session.scalar(select(func.count()).select_from(StageEvent)) == before + 2
    visits = session.scalars(select(StageVisit).where(
        StageVisit.prospect_id == prospects[0].id)).all()
    assert [(v.stage, v.owner_id) for v in visits] == [(first, li.id)]
    steps = [s.key for s in engine.workflow.stage(first).cadence]
    tasks = session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == prospects[0].id)).all()
    assert sorted(t.key for t in tasks) == sorted(steps) and steps
    assert session.scalars(select(BookCustomer.customer_no)).all() == ["C000003"]
    audits = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "customer_allocated").order_by(AuditEntry.target_id)).all()
    assert [(a.actor_id, a.target_id, a.detail["owner_id"], a.detail["via"])
            for a in audits] == [(boss.id, p.id, li.id, "allocation") for p in prospects]


def test_a_customer_allocated_twice_is_a_409_and_nothing_changes(session, factory):
    boss = factory.user("supervisor")
    li, wu = factory.user("manager"), factory.user("manager")
    book(session, row(1), row(2))
    first, second = ids(session, 1, 2)
    allocation.allocate(session, {"customers": [first], "manager": li.id}, actor=boss)
    with pytest.raises(Conflict) as info:
        allocation.allocate(session, {"customers": [first, second], "manager": wu.id},
                            actor=boss)
    assert info.value.code == "already_allocated" and info.value.details["ids"] == [first]
    assert session.scalar(select(func.count()).select_from(Prospect)) == 1
    assert ids(session, 2) == [second]


def test_allocation_over_the_cap_is_refused_naming_the_count(session, factory, monkeypatch):
    boss = factory.user("supervisor")
    li = factory.user("manager")
    monkeypatch.setattr(allocation, "_cap", lambda: 3)
    fill(factory, li, 2)
    book(session, row(1), row(2), row(3))
    with pytest.raises(Invalid) as info:
        allocation.allocate(session, {"customers": ids(session, 1, 2), "manager": li.email},
                            actor=boss)
    assert info.value.code == "over_capacity"
    assert (info.value.details["count"], info.value.details["cap"],
            info.value.details["selected"]) == (2, 3, 2)
    assert "Maintains 2 of 3 customers" in info.value.details["manager"][0]
    assert session.scalar(select(func.count()).select_from(BookCustomer)) == 3
    assert session.scalar(select(func.count()).select_from(Prospect)) == 2
    allocation.allocate(session, {"customers": ids(session, 3), "manager": li.email},
                        actor=boss)
    assert session.scalar(select(func.count()).select_from(Prospect)) == 3


def test_only_a_supervisor_allocates_to_an_active_manager(session, factory):
    boss = factory.user("supervisor")
    lead = factory.user("team_lead")
    li = factory.user("manager")
    book(session, row(1))
    with pytest.raises(Forbidden):
        allocation.allocate(session, {"customers": ids(session, 1), "manager": li.id},
                            actor=lead)
    with pytest.raises(Invalid) as info:
        allocation.allocate(session, {"customers": ids(session, 1), "manager": lead.id},
                            actor=boss)
    assert list(info.value.details) == ["manager"]
    with pytest.raises(Invalid) as info:
        allocation.allocate(session, {"customers": [], "manager": "x"}, actor=boss)
    assert set(info.value.details) == {"customers", "manager"}


def test_claim_then_approve_allocates_and_closes_the_other_claims(session, factory):
    boss = factory.user("supervisor")
    li, wu = factory.user("manager"), factory.user("manager")
    book(session, row(1), row(2))
    first = ids(session, 1)
    mine = allocation.claim(session, {"customers": first, "note": "my neighbour"}, actor=li)
    other = allocation.claim(session, {"customers": first}, actor=wu)
    with pytest.raises(Conflict) as info:
        allocation.claim(session, {"customers": first}, actor=li)
    assert info.value.code == "already_claimed"
    with pytest.raises(Forbidden):
        allocation.claim(session, {"customers": first}, actor=boss)
    pending = allocation.claims(session, boss)
    assert {(v.claim.manager_id, v.customer.customer_no) for v in pending} == {
        (li.id, "C000001"), (wu.id, "C000001")}
    assert [v.claim.id for v in allocation.claims(session, li)] == [mine[0].id]
    done = allocation.approve_claim(session, mine[0].id, actor=boss)
    session.expire_all()
    assert done.prospect.owner_id == li.id
    assert session.get(CustomerClaim, mine[0].id).status == "approved"
    assert session.get(CustomerClaim, mine[0].id).prospect_id == done.prospect.id
    assert session.get(CustomerClaim, other[0].id).status == "closed"
    history = session.scalars(select(StageEvent).where(
        StageEvent.prospect_id == done.prospect.id)).one()
    assert history.data == {"via": "claim", "claim_id": mine[0].id}
    inbox = session.scalars(select(Notification).where(Notification.user_id == li.id)).all()
    assert [n.kind for n in inbox] == ["claim"]
    assert said(inbox[0])[0] == translate(None, "Your claim was approved: %(name)s is now yours",
                                       name=done.prospect.name)
    with pytest.raises(Conflict) as info:
        allocation.approve_claim(session, other[0].id, actor=boss)
    assert info.value.code == "claim_decided"


def test_claim_then_refuse_tells_the_manager_with_the_note(session, factory):
    boss = factory.user("supervisor")
    li = factory.user("manager")
    book(session, row(1))
    mine = allocation.claim(session, {"customers": ids(session, 1)}, actor=li)
    with pytest.raises(Invalid) as info:
        allocation.refuse_claim(session, mine[0].id, {"note": "  "}, actor=boss)
    assert list(info.value.details) == ["note"]
    allocation.refuse_claim(session, mine[0].id, {"note": "Team B knows the family"},
                            actor=boss)
    session.expire_all()
    claim = session.get(CustomerClaim, mine[0].id)
    assert (claim.status, claim.decision_note, claim.decided_by_id) == (
        "refused", "Team B knows the family", boss.id)
    note = session.scalars(select(Notification).where(Notification.user_id == li.id)).one()
    assert said(note)[1] == "Team B knows the family" and note.kind == "claim"
    assert session.scalar(select(func.count()).select_from(BookCustomer)) == 1
    # Refused, the customer may be claimed again.
    assert allocation.claim(session, {"customers": ids(session, 1)}, actor=li)


def test_a_leaving_managers_customers_move_with_handover_letters(session, factory,
                                                                   monkeypatch):
    boss = factory.user("supervisor")
    old = factory.user("manager", "Team A")
    a, b = factory.user("manager", "Team A"), factory.user("manager", "Team B")
    monkeypatch.setattr(allocation, "_cap", lambda: 6)
    fill(factory, a, 3)
    mine = [factory.prospect(old, name=f"Mine {i}") for i in range(5)]
    won = factory.prospect(old, "after_sale", name="Won one")
    lost = factory.prospect(old, name="Lost one")
    from pipeline.prospects.services import advance_prospect

    advance_prospect(session, lost.id, "lose", actor=old, reason="no interest")
    # 6 to move; a has 3 places, b has 6: spread 3 and 3 (the most room first).
    moved = allocation.move_customers(session, {
        "leaving": old.email, "receivers": [a.id, b.id], "note": "left the bank",
        "deactivate": True}, actor=boss)
    assert moved.moved == 6 and moved.to == {a.id: 2, b.id: 4}
    session.expire_all()
    owners = dict(session.execute(select(Prospect.id, Prospect.owner_id)).all())
    assert owners[lost.id] == old.id
    assert {owners[p.id] for p in [*mine, won]} <= {a.id, b.id}
    assert sum(1 for p in [*mine, won] if owners[p.id] == a.id) == moved.to[a.id]
    assert session.get(User, old.id).active is False
    counts = {u: session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.owner_id == u, Prospect.status != "lost")) for u in (a.id, b.id)}
    assert max(counts.values()) <= 6
    # One history row per move, from whom to whom; the stage clock runs on.
    row_ = session.scalars(select(StageEvent).where(
        StageEvent.prospect_id == won.id).order_by(StageEvent.seq.desc())).first()
    assert (row_.event, row_.data["from_owner_id"], row_.data["to_owner_id"], row_.reason,
            row_.owner_id) == ("reassign", old.id, owners[won.id], "left the bank",
                               owners[won.id])
    assert session.get(Prospect, won.id).status == "won"
    handovers = session.scalars(select(Handover)).all()
    assert sorted(h.prospect_id for h in handovers) == sorted(p.id for p in [*mine, won])
    assert all(h.from_user_id == old.id and h.to_user_id == owners[h.prospect_id]
               for h in handovers)
    for receiver in (a, b):
        notes = session.scalars(select(Notification).where(
            Notification.user_id == receiver.id, Notification.kind == "handovers")).all()
        assert len(notes) == 1
        assert said(notes[0])[0] == translate(None, COUNT_TITLE, count=moved.to[receiver.id],
                                           old=old.name)
        assert said(notes[0])[1].count(old.name) >= moved.to[receiver.id]
    audits = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "prospect_reassigned")).all()
    assert len(audits) == 6 and {a_.detail["via"] for a_ in audits} == {"manager_leaving"}
    summary = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "customers_moved")).one()
    assert summary.detail["moved"] == 6 and summary.detail["deactivated"] is True
    # The tasks of an open stage went with the customers.
    open_tasks = session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == mine[0].id, CadenceTask.done_at.is_(None),
        CadenceTask.assignee_kind == "owner")).all()
    assert open_tasks and {t.assignee_id for t in open_tasks} == {owners[mine[0].id]}


def test_a_move_that_does_not_fit_moves_nothing(session, factory, monkeypatch):
    boss = factory.user("supervisor")
    old, a = factory.user("manager"), factory.user("manager")
    monkeypatch.setattr(allocation, "_cap", lambda: 4)
    fill(factory, a, 3)
    for i in range(3):
        factory.prospect(old, name=f"Mine {i}")
    with pytest.raises(Invalid) as info:
        allocation.move_customers(session, {"leaving": old.id, "receivers": [a.id]},
                                  actor=boss)
    assert info.value.code == "over_capacity" and info.value.details["missing"] == 2
    assert "lack 2 places" in info.value.details["receivers"][0]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.owner_id == old.id)) == 3
    assert session.scalar(select(func.count()).select_from(Handover)) == 0
    with pytest.raises(Invalid) as info:
        allocation.move_customers(session, {"leaving": old.id, "receivers": [old.id]},
                                  actor=boss)
    assert list(info.value.details) == ["receivers"]
    with pytest.raises(Invalid) as info:
        allocation.move_customers(session, {"leaving": old.id, "receivers": []}, actor=boss)
    assert list(info.value.details) == ["receivers"]


def test_spread_fills_the_most_room_first():
    assert allocation.spread([1, 2, 3, 4], {10: 1, 20: 3}) == {1: 20, 2: 20, 3: 10, 4: 20}


# ---------------------------------------------------------------- concurrency

def _race(committed, action, n: int) -> list[str]:
    engine = make_engine(committed.url, pool_size=n, max_overflow=0)
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    barrier = threading.Barrier(n, timeout=30)
    results: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        session = sessions()
        try:
            barrier.wait()
            try:
                action(session, i)
                outcome = "ok"
            except (Conflict, Invalid) as exc:
                outcome = exc.code
            with lock:
                results.append(outcome)
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    engine.dispose()
    return sorted(results)


@pytest.mark.postgres_only
def test_two_supervisors_allocating_one_customer_one_wins(committed):
    setup = committed.sessionmaker()
    bosses = [create_user(setup, f"boss{i}@bank.test", role="supervisor") for i in range(2)]
    managers = [create_user(setup, f"m{i}@bank.test", role="manager", team="Race")
                for i in range(2)]
    book(setup, row(1))
    target = ids(setup, 1)
    people = [(b.id, m.id) for b, m in zip(bosses, managers, strict=True)]
    setup.close()

    def allocate(session, i):  # noqa: ANN001, ANN202
        boss = session.get(User, people[i][0])
        allocation.allocate(session, {"customers": target, "manager": people[i][1]},
                            actor=boss)

    assert _race(committed, allocate, 2) == ["already_allocated", "ok"]
    check = committed.sessionmaker()
    assert check.scalar(select(func.count()).select_from(Prospect)) == 1
    assert check.scalar(select(func.count()).select_from(BookCustomer)) == 0
    check.close()


@pytest.mark.postgres_only
def test_the_cap_holds_under_concurrent_allocations_to_one_manager(committed, monkeypatch):
    monkeypatch.setattr(allocation, "_cap", lambda: 3)
    setup = committed.sessionmaker()
    boss = create_user(setup, "boss@bank.test", role="supervisor")
    li = create_user(setup, "li@bank.test", role="manager", team="Race")
    book(setup, *(row(n) for n in range(1, 7)))
    pairs = [ids(setup, 2 * i + 1, 2 * i + 2) for i in range(3)]
    boss_id, li_id = boss.id, li.id
    setup.close()

    def allocate(session, i):  # noqa: ANN001, ANN202
        allocation.allocate(session, {"customers": pairs[i], "manager": li_id},
                            actor=session.get(User, boss_id))

    assert _race(committed, allocate, 3) == ["ok", "over_capacity", "over_capacity"]
    check = committed.sessionmaker()
    assert check.scalar(select(func.count()).select_from(Prospect)) == 2
    check.close()


def test_an_import_that_allocates_a_book_customer_closes_the_claims(session, factory):
    li, wu = factory.user("manager"), factory.user("manager")
    book(session, row(1), row(2))
    claims = allocation.claim(session, {"customers": ids(session, 1, 2)}, actor=li)
    book(session, row(1, manager=wu.email))
    session.expire_all()
    assert [session.get(CustomerClaim, c.id).status for c in claims] == ["closed", "pending"]
    assert session.scalars(select(Prospect.owner_id)).all() == [wu.id]


def test_ids_beyond_the_id_column_are_refused_as_input(session, factory):
    boss = factory.user("supervisor")
    with pytest.raises(Invalid) as info:
        allocation.move_customers(session, {"leaving": 2**40, "receivers": ["99999999999"]},
                                  actor=boss)
    assert set(info.value.details) == {"leaving", "receivers"}
    with pytest.raises(Invalid) as info:
        allocation.book_page(session, boss, {"page": "999999999999999999"})
    assert list(info.value.details) == ["page"]


def test_a_moved_customers_open_escalation_goes_to_the_new_managers_lead(session, factory):
    from datetime import timedelta

    from pipeline import clock
    from pipeline.escalations.models import Escalation
    from pipeline.escalations.services import sweep_due

    boss = factory.user("supervisor")
    old = factory.user("manager", "Team A")
    new = factory.user("manager", "Team B")
    stalled = factory.prospect(old, name="Stalled")
    sweep_due(session, clock.now() + timedelta(days=21, seconds=1))
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == stalled.id)).one()
    assert (esc.owner_id, esc.team_id) == (old.id, old.team_id)
    allocation.move_customers(session, {"leaving": old.email, "receivers": [new.id]},
                              actor=boss)
    session.expire_all()
    esc = session.get(Escalation, esc.id)
    assert esc.status == "open" and (esc.owner_id, esc.team_id) == (new.id, new.team_id)


@pytest.mark.postgres_only
def test_an_import_racing_an_allocation_cannot_pass_the_cap_together(committed):
    """The import and the allocation both count a manager's customers under the manager's
    cap lock: with one place left, exactly one of them takes it."""
    setup = committed.sessionmaker()
    boss = create_user(setup, "boss@bank.test", role="supervisor")
    li = create_user(setup, "li@bank.test", role="manager", team="Race")
    book(setup, *(row(n, manager=li.email) for n in range(1, cap())))
    book(setup, row(5001))
    listed, boss_id, li_id, email = ids(setup, 5001), boss.id, li.id, li.email
    setup.close()

    def act(session, i):  # noqa: ANN001, ANN202
        if i == 0:
            allocation.allocate(session, {"customers": listed, "manager": li_id},
                                actor=session.get(User, boss_id))
        else:
            book(session, row(6001, manager=email))

    outcomes = _race(committed, act, 2)
    # The import refused over the cap ("invalid": its file has an error), or the allocation.
    assert outcomes in (["invalid", "ok"], ["ok", "over_capacity"]), outcomes
    check = committed.sessionmaker()
    assert check.scalar(select(func.count()).select_from(Prospect)
                        .where(Prospect.owner_id == li_id)) == cap()
    check.close()


def test_a_broken_deadlock_or_serialization_failure_answers_try_again():
    """PostgreSQL breaks a deadlock by failing one transaction; that one is told to try
    again (503 database_busy), like SQLite's lock past the busy timeout."""
    from sqlalchemy.exc import OperationalError

    from pipeline.errors import is_database_busy

    class DriverError(Exception):
        def __init__(self, sqlstate):  # noqa: ANN001
            super().__init__("deadlock detected")
            self.sqlstate = sqlstate

    def wrapped(sqlstate):  # noqa: ANN001, ANN202
        return OperationalError("UPDATE ...", {}, DriverError(sqlstate))

    assert is_database_busy(wrapped("40P01")) and is_database_busy(wrapped("40001"))
    assert not is_database_busy(wrapped("53100"))  # disk full is no reason to retry
    assert is_database_busy(OperationalError("x", {}, Exception("database is locked")))
