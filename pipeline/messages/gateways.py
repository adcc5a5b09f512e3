"""SMS gateways: a small interface, the log gateway (the default) and an HTTP gateway for
a bank's SMS platform.

A gateway's :meth:`send` returns the platform's id of the message or raises
:class:`GatewayError` with a code (``http_500``, ``timeout``, ``refused``…) that says
nothing of the number or the text, and whether trying again may help.

The HTTP gateway posts ``{"id", "to", "text"}`` as JSON to ``PIPELINE_SMS_URL`` with the
headers ``Authorization: Bearer <PIPELINE_SMS_KEY>``, ``X-Timestamp`` (Unix seconds) and
``X-Signature``: the hex HMAC-SHA256, keyed with ``PIPELINE_SMS_SECRET``, of
``<timestamp>.<body>``. It expects a 2xx answer ``{"message_id": "..."}``. The platform
signs its callbacks (delivery receipts, replies) the same way; :func:`verify` checks them.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("pipeline.sms")

MAX_SKEW = 300  # seconds a signed callback's timestamp may differ from now


@dataclass(frozen=True)
class Sms:
    id: int  # the outbox row
    phone: str
    text: str


class GatewayError(Exception):
    """The gateway did not take the message: ``code`` says why (no personal data),
    ``permanent`` that trying again will not help."""

    def __init__(self, code: str, *, permanent: bool = False) -> None:
        super().__init__(code)
        self.code, self.permanent = code, permanent


class Gateway(Protocol):
    name: str

    def send(self, sms: Sms) -> str:
        """Hand ``sms`` over; the platform's id of it. Raises GatewayError."""
        ...  # pragma: no cover - a protocol


class LogGateway:
    """Sends nothing: logs the message's id only (never the number or the text)."""

    name = "log"

    def send(self, sms: Sms) -> str:
        log.info("sms %s not sent: no SMS gateway configured", sms.id)
        return f"log-{sms.id}"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with ``secret``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body,
                    hashlib.sha256).hexdigest()


def verify(secret: str | None, timestamp: str | None, signature: str | None, body: bytes,
           *, now: float | None = None) -> bool:
    """Whether a callback is signed with ``secret`` and its timestamp is recent."""
    if not secret or not timestamp or not signature:
        return False
    try:
        moment = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - moment) > MAX_SKEW:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class HttpGateway:
    name = "http"

    def __init__(self, url: str, key: str, secret: str, *, timeout: float = 10.0) -> None:
        self.url, self.key, self.secret, self.timeout = url, key, secret, timeout

    def send(self, sms: Sms) -> str:
        body = json.dumps({"id": sms.id, "to": sms.phone, "text": sms.text},
                          ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {self.key}",
            "X-Timestamp": stamp, "X-Signature": sign(self.secret, stamp, body)})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # nosec B310
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            raise GatewayError(f"http_{status}",
                               permanent=400 <= status < 500 and status not in (408, 429)
                               ) from None
        except TimeoutError:
            raise GatewayError("timeout") from None
        except (urllib.error.URLError, OSError):
            raise GatewayError("unreachable") from None
        try:
            message_id = json.loads(raw or b"{}").get("message_id")
        except (ValueError, AttributeError):
            message_id = None
        if not isinstance(message_id, str) or not message_id:
            raise GatewayError("bad_answer")
        return message_id


def gateway_for(config: Mapping) -> Gateway:
    """The gateway the configuration names: ``PIPELINE_SMS_GATEWAY=http`` with
    ``PIPELINE_SMS_URL``, ``PIPELINE_SMS_KEY`` and ``PIPELINE_SMS_SECRET``; else the log."""
    if (config.get("PIPELINE_SMS_GATEWAY") or "log") == "http":
        missing = [k for k in ("PIPELINE_SMS_URL", "PIPELINE_SMS_KEY", "PIPELINE_SMS_SECRET")
                   if not config.get(k)]
        if missing:
            raise ValueError(f"the HTTP SMS gateway needs {', '.join(missing)}")
        return HttpGateway(config["PIPELINE_SMS_URL"], config["PIPELINE_SMS_KEY"],
                           config["PIPELINE_SMS_SECRET"])
    return LogGateway()
