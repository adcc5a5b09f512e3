"""The messages pages and API: the card's button and opt-out note, the preview and the
one click, the template editor, the lead's call, the touch report."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from pipeline import clock
from pipeline.messages import services
from pipeline.messages.models import SmsMessage, SmsTemplate
from pipeline.messages.outbox import send_pending
from pipeline.prospects.models import CadenceTask
from pipeline.prospects.services import advance_prospect, save_record
from tests.api.conftest import Api
from tests.conftest import T0
from tests.messages.conftest import MANAGER_PHONE, Recorder


def sign_in(client, user, locale="en"):
    client.post("/logout")
    r = client.post("/login", data={"email": user.email, "password": "secret-pass"})
    assert r.status_code == 302
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = locale
    client.post("/language", data={"locale": locale, "next": "/"})


def test_the_card_offers_the_manager_sms_and_says_when_the_customer_opted_out(
        client, session, factory, manager, customer):
    other = factory.prospect(manager, name="孙八", phone="13700001234")
    services.set_opt_out(session, other.id, actor=manager, opt_out=True)
    sign_in(client, manager)
    html = client.get("/board").get_data(as_text=True)
    assert f'/prospects/{customer.id}/sms?next=' in html
    card = html.split(f'id="card-{other.id}"')[1].split("</li>")[0]
    assert 'data-testid="sms-opt-out"' in card and "opted out" in card
    assert "sms-button" not in card
    services.send_step(session, customer.id, actor=manager)
    html = client.get("/board").get_data(as_text=True)
    card = html.split(f'id="card-{customer.id}"')[1].split("</li>")[0]
    assert "sms-button" not in card  # sent: the button is gone


def test_the_preview_then_one_click_sends(client, session, manager, customer):
    sign_in(client, manager)
    page = client.get(f"/prospects/{customer.id}/sms?next=/board").get_data(as_text=True)
    assert "王芳" in page and MANAGER_PHONE in page and 'data-testid="sms-send"' in page
    assert "2 SMS segments" in page or "1 SMS segment" in page
    r = client.post(f"/prospects/{customer.id}/sms", data={
        "version": str(customer.version), "next": "/board"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/board")
    [sms] = session.scalars(select(SmsMessage).where(
        SmsMessage.step == "manager_sms")).all()
    assert sms.sent_by_id == manager.id and sms.status == "queued"
    again = client.get(f"/prospects/{customer.id}/sms").get_data(as_text=True)
    assert 'data-testid="sms-queued"' in again


def test_the_page_asks_for_the_managers_phone_when_it_is_not_known(client, session, factory):
    owner = factory.user("manager", "Team B")
    p = factory.prospect(owner, name="周九", phone="13600001234")
    assert session.scalars(select(SmsMessage)).all() == []  # no phone to name: not sent
    sign_in(client, owner)
    page = client.get(f"/prospects/{p.id}/sms").get_data(as_text=True)
    assert 'name="manager_phone"' in page
    r = client.post(f"/prospects/{p.id}/sms", data={"manager_phone": "call me"})
    assert r.status_code == 200
    assert "Your phone number for customers is not a phone number." in r.get_data(as_text=True)
    assert session.scalars(select(SmsMessage)).all() == []
    r = client.post(f"/prospects/{p.id}/sms", data={"manager_phone": "13511112222",
                                                      "next": "/board"})
    assert r.status_code == 302
    sent = {m.step: m for m in session.scalars(select(SmsMessage))}
    assert set(sent) == {"manager_sms", "institution_sms"}  # the branch's waited for it
    assert "13511112222" in sent["manager_sms"].body


def test_the_api_previews_sends_and_lists(client, session, factory, manager, customer):
    api = Api(client, factory.token(manager))
    r = api.get(f"/api/v1/prospects/{customer.id}/sms/preview")
    body = r.get_json()
    assert r.status_code == 200 and body["step"] == "manager_sms" and body["queued"] is False
    assert body["encoding"] == "ucs2" and body["per_segment"] == 67 and body["segments"] == 2
    r = api.post(f"/api/v1/prospects/{customer.id}/sms", {"version": "1"})
    assert r.status_code == 422 and "version" in r.get_json()["error"]["details"]
    r = api.post(f"/api/v1/prospects/{customer.id}/sms", {"version": customer.version + 5})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "stale_version"
    r = api.post(f"/api/v1/prospects/{customer.id}/sms", {"version": customer.version})
    assert r.status_code == 201 and r.get_json()["status"] == "queued"
    r = api.post(f"/api/v1/prospects/{customer.id}/sms", {})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_sent"
    items = api.get(f"/api/v1/prospects/{customer.id}/sms").get_json()["items"]
    assert [i["step"] for i in items] == ["institution_sms", "manager_sms"]
    r = api.put(f"/api/v1/prospects/{customer.id}/sms-opt-out", {"opt_out": "yes"})
    assert r.status_code == 422 and "opt_out" in r.get_json()["error"]["details"]
    # Another manager's customer is not found; the lead sees it but may not send.
    lead = factory.user("team_lead", "Team A")
    r = Api(client, factory.token(lead)).post(f"/api/v1/prospects/{customer.id}/sms", {})
    assert r.status_code == 403


def test_the_template_editor_checks_placeholders_and_counts_segments(client, session,
                                                                     factory, manager):
    sup = factory.user("supervisor")
    sign_in(client, manager)
    assert client.get("/messages/templates").status_code == 403
    sign_in(client, sup)
    listing = client.get("/messages/templates").get_data(as_text=True)
    assert "/messages/templates/seven_step/manager_sms" in listing
    url = "/messages/templates/seven_step/manager_sms"
    page = client.get(url).get_data(as_text=True)
    assert "{manager_phone}" in page and "SMS segments" in page
    r = client.post(url, data={"action": "save", "zh_CN": "您好{customer_nam}，我是{manager_name}。",
                               "en": "Hello {customer_name}"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "unknown placeholder {customer_nam}" in html
    assert session.scalars(select(SmsTemplate)).all() == []
    too_long = "您好{customer_name}，" + "请" * 300
    r = client.post(url, data={"action": "save", "zh_CN": too_long, "en": "Hello"})
    assert "at most 3 are allowed" in r.get_data(as_text=True)
    r = client.post(url, data={"action": "check", "zh_CN": "您好{customer_name}", "en": "Hi"})
    assert 'data-testid="segments-zh_CN">1 SMS segment' in r.get_data(as_text=True)
    r = client.post(url, data={"action": "save", "zh_CN": "您好{customer_name}，我是{manager_name}。",
                               "en": "Hello {customer_name}, I am {manager_name}."})
    assert r.status_code == 302
    rows = {t.locale: t.text for t in session.scalars(select(SmsTemplate))}
    assert rows == {"zh_CN": "您好{customer_name}，我是{manager_name}。",
                    "en": "Hello {customer_name}, I am {manager_name}."}
    # The edited text is the one sent.
    p = factory.prospect(manager, name="吴十", phone="13300001234")
    services.send_step(session, p.id, actor=manager)
    sms = session.scalars(select(SmsMessage).where(SmsMessage.step == "manager_sms")).one()
    assert sms.body == f"您好吴十，我是{manager.name}。"
    # Back to the file's text.
    client.post(url, data={"action": "reset"})
    assert session.scalars(select(SmsTemplate)).all() == []


def test_the_template_api_refuses_an_unknown_placeholder_naming_the_language(
        client, factory):
    api = Api(client, factory.token(factory.user("supervisor")))
    r = api.put("/api/v1/message-templates/seven_step/institution_sms",
                {"text": {"en": "Hi {name}"}})
    assert r.status_code == 422 and list(r.get_json()["error"]["details"]) == ["en"]
    assert "unknown placeholder {name}" in r.get_json()["error"]["details"]["en"][0]
    r = api.put("/api/v1/message-templates/seven_step/nope", {"text": {"en": "Hi"}})
    assert r.status_code == 404
    items = api.get("/api/v1/message-templates").get_json()["items"]
    assert {i["key"] for i in items} >= {"institution_sms", "manager_sms", "call_script",
                                         "lead_call_script"}


def test_the_lead_records_the_call_on_its_page(client, session, factory, manager, lead,
                                               customer):
    other = factory.user("manager", "Team A")
    save_record(session, customer.id, "contact_log", actor=manager, data={
        "institution_sms_at": T0.isoformat(), "manager_sms_at": T0.isoformat(),
        "call_at": T0.isoformat()})
    advance_prospect(session, customer.id, "no_meeting", actor=manager)
    task = session.scalars(select(CadenceTask).where(CadenceTask.key == "lead_call")).one()
    sign_in(client, lead, "zh_CN")
    page = client.get(f"/messages/lead-calls/{task.id}").get_data(as_text=True)
    assert "团队主管" in page and "更换专属客户经理" in page and "致电结果" in page
    assert "请在" in page and "之间致电" in page
    r = client.post(f"/messages/lead-calls/{task.id}", data={
        "outcome": "change", "new_owner": str(other.id), "note": "客户要求"})
    assert r.status_code == 302
    session.expire_all()
    assert session.get(CadenceTask, task.id).outcome == "change"
    from pipeline.prospects.models import Prospect

    assert session.get(Prospect, customer.id).owner_id == other.id


def test_the_touch_report(client, session, factory, manager, lead, customer):
    send_pending(session, Recorder())
    clock.set_now(T0 + timedelta(hours=24))
    services.send_step(session, customer.id, actor=manager)
    send_pending(session, Recorder())
    clock.set_now(T0 + timedelta(hours=80))
    save_record(session, customer.id, "contact_log", actor=manager, data={
        "call_at": (T0 + timedelta(hours=79)).isoformat(),
        "meeting_booked_at": (T0 + timedelta(days=5)).isoformat()})
    replied = factory.prospect(manager, name="郑一", phone="13200001234")
    send_pending(session, Recorder())
    services.record_reply(session, "13200001234", "好")
    api = Api(client, factory.token(lead))
    body = api.get("/api/v1/reports/messages").get_json()
    [row] = [r for r in body["managers"] if r["owner_id"] == manager.id]
    assert (row["sms_sent"], row["replies"], row["calls_after_no_reply"]) == (3, 1, 1)
    assert (row["meetings_after_call"], row["meetings_after_sms"], row["touches"]) == (1, 0, 4)
    assert row["meetings_per_touch"] == 0.25
    r = api.get("/api/v1/reports/messages?from=2026-03-03T00:00:00Z")
    [row] = [r for r in r.get_json()["managers"] if r["owner_id"] == manager.id]
    assert row["sms_sent"] == 2  # the manager's SMS and the second customer's
    assert replied.id
    assert api.get("/api/v1/reports/messages?from=soon").status_code == 422
    sign_in(client, lead)
    page = client.get("/reports/messages").get_data(as_text=True)
    assert manager.name in page and "Calls after no reply" in page
    assert 'aria-current="page">First-contact touches' in page  # a tab of the reports
    page = client.get("/reports/messages?from=2026-03-03&to=2026-03-31").get_data(as_text=True)
    row = page.split(manager.name)[1].split("</tr>")[0]
    assert "<td>2</td>" in row  # two SMS sent from the 3rd (Shanghai) on
    page = client.get("/reports/messages?from=2026-03-31&to=2026-03-03").get_data(as_text=True)
    assert "That period is not valid" in page


def test_the_prospect_page_links_the_sms_shows_the_script_and_the_reply(
        client, session, factory, manager, lead, customer):
    sign_in(client, manager)
    page = client.get(f"/prospects/{customer.id}").get_data(as_text=True)
    assert f"/prospects/{customer.id}/sms?next=" in page and "Send the SMS" in page
    assert 'data-testid="call-script"' in page and "Did you receive our text message" in page
    send_pending(session, Recorder())
    clock.set_now(T0 + timedelta(hours=5))
    services.record_reply(session, "13800138000", "ok")
    page = client.get(f"/prospects/{customer.id}").get_data(as_text=True)
    assert "Not needed: the customer replied" in page
    assert 'data-testid="call-script"' not in page
    save_record(session, customer.id, "contact_log", actor=manager, data={
        "manager_sms_at": (T0 + timedelta(hours=4)).isoformat()})
    advance_prospect(session, customer.id, "no_meeting", actor=manager)
    task = session.scalars(select(CadenceTask).where(CadenceTask.key == "lead_call")).one()
    sign_in(client, lead)
    page = client.get(f"/prospects/{customer.id}").get_data(as_text=True)
    assert f"/messages/lead-calls/{task.id}" in page


def test_the_branch_queue_shows_the_branch_steps_and_requeues_a_failed_sms(
        client, session, factory, manager, customer):
    from pipeline.messages.gateways import GatewayError

    nophone = factory.prospect(manager, name="无号码")
    send_pending(session, Recorder(GatewayError("http_400", permanent=True)))
    sup = factory.user("supervisor")
    items = {i.prospect_id: i for i in services.branch_queue(session, sup)}
    assert (items[customer.id].status, items[customer.id].last_error) == ("failed", "http_400")
    assert (items[nophone.id].status, items[nophone.id].last_error) == ("not_sent", "no_phone")
    sign_in(client, manager)
    assert client.get("/messages/branch-queue").status_code == 403
    sign_in(client, sup)
    page = client.get("/messages/branch-queue").get_data(as_text=True)
    assert "The customer has no phone number." in page and "http_400" in page
    r = client.post(f"/messages/sms/{items[customer.id].message_id}/retry")
    assert r.status_code == 302
    send_pending(session, Recorder())
    items = {i.prospect_id: i for i in services.branch_queue(session, sup)}
    assert customer.id not in items  # sent: the branch's step is done


def test_the_openapi_document_describes_the_messages_endpoints(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json
    validate(doc)
    for path in ("/api/v1/prospects/{prospect_id}/sms", "/api/v1/sms/receipts",
                 "/api/v1/sms/inbound", "/api/v1/tasks/{task_id}/lead-call",
                 "/api/v1/reports/messages", "/api/v1/prospects/{prospect_id}/pause-contact"):
        assert path in doc["paths"], path


def test_the_branch_sms_waiting_for_the_managers_phone_goes_once_it_is_given(
        client, session, factory):
    owner = factory.user("manager", "Team C")
    waiting = factory.prospect(owner, name="等号码", phone="13600005678")
    other = factory.prospect(owner, name="点击", phone="13600005679")
    assert session.scalars(select(SmsMessage)).all() == []
    services.send_step(session, other.id, actor=owner, manager_phone_="13511113333")
    steps = sorted((m.prospect_id, m.step) for m in session.scalars(select(SmsMessage)))
    assert steps == sorted([(waiting.id, "institution_sms"), (other.id, "institution_sms"),
                            (other.id, "manager_sms")])
