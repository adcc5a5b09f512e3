from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api

STEPS = ["receive", "calm", "apologise", "investigate", "resolve", "inform", "follow_up"]
# Each step's record, complete.
RECORDS: dict[str, tuple[str, dict[str, Any]]] = {
    "receive": ("receipt", {"received_via": "counter", "taken_at": "2026-03-02T01:05:00Z",
                            "isolated": True}),
    "calm": ("customer_account", {"statement": "redemption paid late",
                                  "demand": "pay now and explain"}),
    "apologise": ("apology", {"apologised_at": "2026-03-02T01:20:00Z",
                              "words": "We are sorry for the trouble."}),
    "investigate": ("investigation", {"who": "teller", "what": "order not sent",
                                      "when": "last Friday", "where": "the hall",
                                      "why": "system change", "cause_category": "system"}),
    "resolve": ("solution", {"proposal": "pay at once with interest"}),
    "inform": ("customer_told", {"told_at": "2026-03-03T01:00:00Z", "answer": "accepted"}),
    "follow_up": ("follow_up_contact", {"contacted_at": "2026-03-05T01:00:00Z",
                                        "satisfaction": "satisfied"}),
}


@pytest.fixture
def api_for(client, factory):
    def make(user) -> Api:  # noqa: ANN001
        return Api(client, factory.token(user))
    return make
