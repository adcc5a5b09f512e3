"""Helpers of the messages tests: a manager with a phone, a customer with one, a gateway
that records what it is given."""
from __future__ import annotations

import pytest

from pipeline.messages.gateways import GatewayError
from pipeline.messages.services import set_manager_phone

MANAGER_PHONE = "13900001111"
CUSTOMER_PHONE = "13800138000"


class Recorder:
    """A gateway that keeps what it sends (or fails with the codes it is given first)."""

    name = "recorder"

    def __init__(self, *failures: GatewayError) -> None:
        self.sent, self.failures = [], list(failures)

    def send(self, sms):  # noqa: ANN001, ANN201
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(sms)
        return f"gw-{sms.id}"


@pytest.fixture
def manager(session, factory):
    user = factory.user("manager", "Team A")
    set_manager_phone(session, user, MANAGER_PHONE)
    session.commit()
    return user


@pytest.fixture
def lead(factory, manager):
    return factory.user("team_lead", "Team A")  # leads Team A


@pytest.fixture
def customer(factory, manager):
    return factory.prospect(manager, name="王芳", phone=CUSTOMER_PHONE)
