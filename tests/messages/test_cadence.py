"""The first-contact cadence as seed 004 runs it, with time moved through the clock."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.escalations.models import Escalation
from pipeline.escalations.services import sweep_due
from pipeline.messages import services
from pipeline.messages.models import SmsMessage
from pipeline.messages.outbox import send_pending
from pipeline.notifications.models import Notification
from pipeline.prospects import events
from pipeline.prospects.models import CadenceTask, Prospect, StageRecord
from pipeline.prospects.services import advance_prospect, create_prospect, save_record
from tests.conftest import T0
from tests.messages.conftest import CUSTOMER_PHONE, MANAGER_PHONE, Recorder


def tasks(session, prospect):
    session.expire_all()
    return {t.key: t for t in session.scalars(select(CadenceTask).where(
        CadenceTask.prospect_id == prospect.id))}


def contact_log(session, prospect):
    session.expire_all()
    row = session.scalar(select(StageRecord).where(StageRecord.prospect_id == prospect.id))
    return row.data if row else {}


def messages(session, prospect):
    session.expire_all()
    return session.scalars(select(SmsMessage).where(SmsMessage.prospect_id == prospect.id)
                           .order_by(SmsMessage.id)).all()


def test_allocation_queues_the_institution_sms(session, customer, manager):
    [sms] = messages(session, customer)
    assert (sms.step, sms.status, sms.attempts, sms.phone) == \
        ("institution_sms", "queued", 0, CUSTOMER_PHONE)
    assert sms.next_attempt_at == T0 and sms.owner_id == manager.id and sms.sent_by_id is None
    assert "王芳" in sms.body and MANAGER_PHONE in sms.body and manager.name in sms.body
    assert "{" not in sms.body and sms.body.endswith("【兴业银行】")
    assert sms.segments == 2  # more than 70 Chinese characters: two parts of 67


def test_the_sms_is_written_in_the_transaction_of_the_allocation(session, factory, manager):
    def broken(_session, _applied):
        raise RuntimeError("a later effect failed")

    events.after_apply(broken)
    try:
        with pytest.raises(RuntimeError):
            create_prospect(session, actor=manager,
                            data={"name": "李雷", "tier": "gold", "phone": CUSTOMER_PHONE})
    finally:
        events._after.remove(broken)  # noqa: SLF001 - the test's own hook
    assert session.scalars(select(SmsMessage)).all() == []
    assert session.scalars(select(Prospect)).all() == []


def test_no_sms_without_a_phone_or_for_a_customer_who_opted_out(session, factory, manager):
    nophone = factory.prospect(manager, name="赵六")
    assert messages(session, nophone) == []
    p = factory.prospect(manager, name="钱七", phone="13700000000")
    [queued] = messages(session, p)
    services.set_opt_out(session, p.id, actor=manager, opt_out=True)
    assert services.why_not_sendable(session, p) == "opted_out"
    # Queued before the customer asked: not sent either.
    gateway = Recorder()
    assert send_pending(session, gateway).sent == 0 and gateway.sent == []
    [queued] = messages(session, p)
    assert (queued.status, queued.last_error) == ("failed", "opted_out")
    services.set_opt_out(session, p.id, actor=manager, opt_out=False)
    assert services.why_not_sendable(session, p) is None


def test_the_worker_sends_it_and_the_branch_step_is_done_by_the_send(session, customer):
    gateway = Recorder()
    clock.set_now(T0 + timedelta(minutes=2))
    assert send_pending(session, gateway).as_dict() == {"sent": 1, "retried": 0, "failed": 0}
    [sms] = messages(session, customer)
    assert (sms.status, sms.sent_at, sms.gateway_id, sms.attempts) == \
        ("sent", T0 + timedelta(minutes=2), f"gw-{sms.id}", 1)
    assert [s.phone for s in gateway.sent] == [CUSTOMER_PHONE]
    t = tasks(session, customer)
    assert t["institution_sms"].done_at == T0 + timedelta(minutes=2)
    assert clock.parse(contact_log(session, customer)["institution_sms_at"]) == \
        T0 + timedelta(minutes=2)
    # The manager's SMS is due 24 h after it.
    assert t["manager_sms"].due_at == T0 + timedelta(hours=24, minutes=2)
    assert send_pending(session, gateway).sent == 0  # never twice


def test_the_branch_step_is_never_reminded_to_the_manager(session, customer, manager):
    sweep_due(session, T0 + timedelta(hours=1))
    assert session.scalars(select(Notification).where(
        Notification.user_id == manager.id, Notification.kind == "reminder")).all() == []


def send_manager_sms(session, customer, manager, at):
    clock.set_now(at)
    services.send_step(session, customer.id, actor=manager)
    send_pending(session, Recorder())


def test_the_manager_sms_is_one_click_and_the_call_is_due_48h_after_it(session, customer,
                                                                        manager):
    send_pending(session, Recorder())
    sent_at = T0 + timedelta(hours=25)
    send_manager_sms(session, customer, manager, sent_at)
    [_inst, sms] = messages(session, customer)
    assert (sms.step, sms.status, sms.sent_by_id) == ("manager_sms", "sent", manager.id)
    assert manager.name in sms.body and MANAGER_PHONE in sms.body
    t = tasks(session, customer)
    assert t["manager_sms"].done_at == sent_at and t["manager_sms"].done_by_id == manager.id
    assert t["call"].due_at == sent_at + timedelta(hours=48) and t["call"].done_at is None
    # No reply: the call is reminded to the manager once it is due, not before.
    assert sweep_due(session, sent_at + timedelta(hours=47)).reminded == 0
    assert sweep_due(session, sent_at + timedelta(hours=48)).reminded == 1
    [note] = session.scalars(select(Notification).where(
        Notification.user_id == manager.id, Notification.kind == "reminder")).all()
    assert note.prospect_id == customer.id


def test_a_second_click_is_refused(session, customer, manager):
    services.send_step(session, customer.id, actor=manager)
    from pipeline.errors import Conflict

    with pytest.raises(Conflict) as exc:
        services.send_step(session, customer.id, actor=manager)
    assert exc.value.code == "already_sent"
    assert len(messages(session, customer)) == 2


def test_a_reply_by_sms_cancels_the_call(session, customer, manager):
    send_pending(session, Recorder())
    send_manager_sms(session, customer, manager, T0 + timedelta(hours=24))
    replied = T0 + timedelta(hours=30)
    clock.set_now(replied)
    reply = services.record_reply(session, CUSTOMER_PHONE, "好的，谢谢", gateway_id="in-1")
    assert (reply.prospect_id, reply.owner_id, reply.opt_out) == (customer.id, manager.id, False)
    assert clock.parse(contact_log(session, customer)["customer_replied_at"]) == replied
    call = tasks(session, customer)["call"]
    assert call.cancelled_at == replied and call.done_at == replied
    # Nobody is told to make the call, and first contact may end without it.
    assert sweep_due(session, T0 + timedelta(days=5)).reminded == 0
    advance_prospect(session, customer.id, "no_meeting", actor=manager)
    # The same reply again (the gateway retries its callback) changes nothing.
    assert services.record_reply(session, CUSTOMER_PHONE, "好的，谢谢",
                                 gateway_id="in-1").id == reply.id


def test_a_reply_logged_by_the_manager_cancels_the_call_and_clearing_it_restores_it(
        session, customer, manager):
    send_pending(session, Recorder())
    send_manager_sms(session, customer, manager, T0 + timedelta(hours=24))
    replied = T0 + timedelta(hours=26)
    clock.set_now(replied + timedelta(hours=1))
    save_record(session, customer.id, "contact_log", actor=manager,
                data={"customer_replied_at": replied.isoformat()})
    call = tasks(session, customer)["call"]
    assert call.cancelled_at == replied and call.done_at == replied
    save_record(session, customer.id, "contact_log", actor=manager,
                data={"customer_replied_at": None})
    call = tasks(session, customer)["call"]
    assert call.cancelled_at is None and call.done_at is None
    assert call.due_at == T0 + timedelta(hours=72)


def test_an_opt_out_word_opts_the_customer_out(session, customer, manager):
    send_pending(session, Recorder())
    reply = services.record_reply(session, "+86 " + CUSTOMER_PHONE, " td ")
    assert reply.prospect_id == customer.id  # the platform adds the country code
    assert reply.opt_out is True
    session.expire_all()
    assert session.get(Prospect, customer.id).sms_opt_out is True
    from pipeline.errors import Conflict

    with pytest.raises(Conflict) as exc:
        services.send_step(session, customer.id, actor=manager)
    assert exc.value.code == "sms_opt_out"


def test_the_lead_calls_2_to_3_days_after_the_manager_call_and_the_outcome_reassigns(
        session, factory, customer, manager, lead):
    other = factory.user("manager", "Team A")
    send_pending(session, Recorder())
    send_manager_sms(session, customer, manager, T0 + timedelta(hours=24))
    called = T0 + timedelta(hours=80)
    clock.set_now(called)
    save_record(session, customer.id, "contact_log", actor=manager,
                data={"call_at": called.isoformat()})
    # The lead is told a day later that no meeting was booked.
    clock.set_now(called + timedelta(days=1))
    advance_prospect(session, customer.id, "no_meeting", actor=manager)
    task = tasks(session, customer)["lead_call"]
    policy_days = (2, 3)
    assert task.assignee_id == lead.id
    assert called + timedelta(days=policy_days[0]) <= task.due_at \
        <= called + timedelta(days=policy_days[1])
    assert task.due_at == called + timedelta(days=2)  # not 2 days after the event
    script = services.lead_call_script(session, customer, "zh_CN")
    assert lead.name in script and manager.name in script and "更换专属客户经理" in script
    clock.set_now(task.due_at)
    done = services.record_lead_call(session, task.id, actor=lead, outcome="change",
                                     new_owner=other.id, note="客户希望更换")
    assert (done.outcome, done.done_by_id) == ("change", lead.id)
    session.expire_all()
    assert session.get(Prospect, customer.id).owner_id == other.id
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == customer.id)).one()
    assert (esc.status, esc.decision) == ("resolved", "reassign")


def test_the_lead_call_outcome_keep_continues_and_a_manager_may_not_record_it(
        session, customer, manager, lead):
    save_record(session, customer.id, "contact_log", actor=manager, data={
        "institution_sms_at": T0.isoformat(), "manager_sms_at": T0.isoformat(),
        "call_at": T0.isoformat()})
    advance_prospect(session, customer.id, "no_meeting", actor=manager)
    task = tasks(session, customer)["lead_call"]
    from pipeline.errors import Forbidden, Invalid

    with pytest.raises(Forbidden):
        services.record_lead_call(session, task.id, actor=manager, outcome="keep")
    with pytest.raises(Invalid) as exc:
        services.record_lead_call(session, task.id, actor=lead, outcome="maybe")
    assert "outcome" in exc.value.details
    services.record_lead_call(session, task.id, actor=lead, outcome="keep")
    session.expire_all()
    esc = session.scalars(select(Escalation).where(Escalation.prospect_id == customer.id)).one()
    assert esc.decision == "continue"
    assert session.get(Prospect, customer.id).owner_id == manager.id
    assert tasks(session, customer)["lead_call"].outcome == "keep"


def test_allocating_from_the_book_and_importing_with_a_manager_queue_the_sms(session,
                                                                           factory, manager):
    from pipeline.customers import allocation
    from pipeline.customers.services import import_customers

    boss = factory.user("supervisor")
    header = "customer_no,name,id_number,phone,birthday,assets,potential,tier,manager\n"
    rows = (f"C1,冯一,,13100000001,,650000,high,,\n"
            f"C2,陈二,,13100000002,,650000,high,,{manager.email}\n"
            f"C3,褚三,,,,650000,high,,{manager.email}\n")
    import_customers(session, (header + rows).encode(), kind="csv", actor=boss)
    by_name = {p.name: p for p in session.scalars(select(Prospect))}
    [imported] = messages(session, by_name["陈二"])
    assert imported.step == "institution_sms" and "陈二" in imported.body
    assert MANAGER_PHONE in imported.body and imported.phone == "13100000002"
    assert messages(session, by_name["褚三"]) == []  # no phone
    from pipeline.customers.models import BookCustomer

    book_id = session.scalars(select(BookCustomer.id)).one()
    allocation.allocate(session, {"customers": [book_id], "manager": manager.email},
                        actor=boss)
    allocated = session.scalars(select(Prospect).where(Prospect.name == "冯一")).one()
    [sms] = messages(session, allocated)
    assert sms.step == "institution_sms" and sms.phone == "13100000001"
