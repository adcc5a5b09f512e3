"""The HTTP gateway against a local SMS platform the test starts, the signed callbacks,
and the worker's retries."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from pipeline import clock
from pipeline.escalations import rules
from pipeline.messages.gateways import (
    GatewayError,
    HttpGateway,
    LogGateway,
    Sms,
    gateway_for,
    sign,
    verify,
)
from pipeline.messages.models import SmsMessage, SmsReply
from pipeline.messages.outbox import MAX_ATTEMPTS, send_pending
from pipeline.prospects.models import CadenceTask
from tests.conftest import T0
from tests.messages.conftest import CUSTOMER_PHONE, Recorder

KEY, SECRET = "platform-key", "platform-secret"


class Platform:
    """A bank's SMS platform: answers each request with the next status of ``script``
    (then 200), and keeps what it received."""

    def __init__(self, *script: int) -> None:
        self.script, self.received = list(script), []
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                platform.received.append((dict(self.headers), body))
                status = platform.script.pop(0) if platform.script else 200
                answer = json.dumps({"message_id": f"P-{len(platform.received)}"}).encode() \
                    if status == 200 else b"{}"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def platform():
    p = Platform(500)
    yield p
    p.close()


def test_a_500_is_retried_with_backoff_then_sent(session, customer, platform):
    gateway = HttpGateway(platform.url, KEY, SECRET)
    assert send_pending(session, gateway).as_dict() == {"sent": 0, "retried": 1, "failed": 0}
    [sms] = session.scalars(select(SmsMessage)).all()
    session.refresh(sms)
    assert (sms.status, sms.attempts, sms.last_error) == ("queued", 1, "http_500")
    assert sms.next_attempt_at == T0 + rules.retry_delay(1)
    assert send_pending(session, gateway).as_dict() == {"sent": 0, "retried": 0, "failed": 0}
    clock.set_now(sms.next_attempt_at)
    assert send_pending(session, gateway).as_dict() == {"sent": 1, "retried": 0, "failed": 0}
    session.refresh(sms)
    assert (sms.status, sms.attempts, sms.last_error, sms.gateway_id) == \
        ("sent", 2, None, "P-2")
    # What the platform got: the number and text as JSON, with the key and a signature.
    headers, body = platform.received[-1]
    payload = json.loads(body)
    assert payload == {"id": sms.id, "to": CUSTOMER_PHONE, "text": sms.body}
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["X-Signature"] == sign(SECRET, headers["X-Timestamp"], body)
    step = session.scalars(select(CadenceTask).where(CadenceTask.key == "institution_sms")).one()
    assert step.done_at == sms.sent_at


def test_a_refusal_fails_at_once_and_the_log_holds_no_number(session, customer, caplog):
    platform = Platform(400)
    try:
        assert send_pending(session, HttpGateway(platform.url, KEY, SECRET)).failed == 1
    finally:
        platform.close()
    sms = session.scalars(select(SmsMessage)).one()
    session.refresh(sms)
    assert (sms.status, sms.last_error, sms.failed_at) == ("failed", "http_400", T0)
    assert CUSTOMER_PHONE not in caplog.text and sms.body not in caplog.text


def test_attempts_are_given_up_after_the_last_one(session, customer):
    gateway = Recorder(*[GatewayError("timeout")] * MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS):
        send_pending(session, gateway)
        sms = session.scalars(select(SmsMessage)).one()
        session.refresh(sms)
        clock.set_now(sms.next_attempt_at + timedelta(seconds=1))
    assert (sms.status, sms.attempts, sms.last_error) == ("failed", MAX_ATTEMPTS, "timeout")
    assert gateway.sent == []


def test_an_unreachable_platform_is_retried(session, customer):
    gateway = HttpGateway("http://127.0.0.1:9/sms", KEY, SECRET, timeout=2)
    assert send_pending(session, gateway).retried == 1
    sms = session.scalars(select(SmsMessage)).one()
    session.refresh(sms)
    assert sms.last_error == "unreachable"


def test_the_configuration_chooses_the_gateway():
    assert isinstance(gateway_for({}), LogGateway)
    assert isinstance(gateway_for({"PIPELINE_SMS_GATEWAY": "http", "PIPELINE_SMS_URL": "u",
                                   "PIPELINE_SMS_KEY": "k", "PIPELINE_SMS_SECRET": "s"}),
                      HttpGateway)
    with pytest.raises(ValueError, match="PIPELINE_SMS_SECRET"):
        gateway_for({"PIPELINE_SMS_GATEWAY": "http", "PIPELINE_SMS_URL": "u",
                     "PIPELINE_SMS_KEY": "k"})


def test_the_log_gateway_logs_neither_number_nor_text(caplog):
    caplog.set_level("INFO", logger="pipeline.sms")
    assert LogGateway().send(Sms(7, CUSTOMER_PHONE, "你好 secret")) == "log-7"
    assert "7" in caplog.text and CUSTOMER_PHONE not in caplog.text and "secret" not in caplog.text


def test_signatures():
    stamp = str(int(time.time()))
    good = sign(SECRET, stamp, b"{}")
    assert verify(SECRET, stamp, good, b"{}")
    assert not verify(SECRET, stamp, good, b"{ }")
    assert not verify("other", stamp, good, b"{}")
    assert not verify(SECRET, str(int(time.time()) - 3600), sign(SECRET, str(int(
        time.time()) - 3600), b"{}"), b"{}")
    assert not verify(None, stamp, good, b"{}")


# ------------------------------------------------------------------ the callbacks

def signed(client, url, payload, secret=SECRET):
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    return client.post(url, data=body, headers={
        "Content-Type": "application/json", "X-Timestamp": stamp,
        "X-Signature": sign(secret, stamp, body)})


@pytest.fixture
def with_secret(app):
    app.config["PIPELINE_SMS_SECRET"] = SECRET
    yield
    app.config.pop("PIPELINE_SMS_SECRET", None)


def test_a_delivery_receipt_marks_the_message_delivered(client, session, customer,
                                                        with_secret):
    send_pending(session, Recorder())
    sms = session.scalars(select(SmsMessage)).one()
    r = signed(client, "/api/v1/sms/receipts", {"message_id": sms.gateway_id,
                                                "status": "delivered"})
    assert r.status_code == 200 and r.get_json()["status"] == "delivered"
    session.refresh(sms)
    assert (sms.status, sms.delivered_at) == ("delivered", T0)
    # Unsigned, or signed with another secret: refused, nothing changes.
    assert client.post("/api/v1/sms/receipts", json={"message_id": sms.gateway_id,
                                                      "status": "failed"}).status_code == 401
    r = signed(client, "/api/v1/sms/receipts", {"message_id": sms.gateway_id,
                                                "status": "failed"}, secret="wrong")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "bad_signature"
    r = signed(client, "/api/v1/sms/receipts", {"message_id": sms.gateway_id,
                                                "status": "read"})
    assert r.status_code == 422 and "status" in r.get_json()["error"]["details"]
    r = signed(client, "/api/v1/sms/receipts", {"message_id": "nope", "status": "delivered"})
    assert r.status_code == 404


def test_an_inbound_reply_is_recorded_and_cancels_the_call(client, session, customer,
                                                           with_secret):
    send_pending(session, Recorder())
    clock.set_now(T0 + timedelta(hours=3))
    r = signed(client, "/api/v1/sms/inbound", {"from": CUSTOMER_PHONE, "text": "收到",
                                               "message_id": "in-9"})
    assert r.status_code == 201
    assert r.get_json() == {"id": r.get_json()["id"], "prospect_id": customer.id,
                            "opt_out": False}
    reply = session.scalars(select(SmsReply)).one()
    assert (reply.body, reply.received_at) == ("收到", T0 + timedelta(hours=3))
    call = session.scalars(select(CadenceTask).where(CadenceTask.key == "call")).one()
    assert call.cancelled_at == T0 + timedelta(hours=3)
    r = signed(client, "/api/v1/sms/inbound", {"text": "收到"})
    assert r.status_code == 422 and "from" in r.get_json()["error"]["details"]
