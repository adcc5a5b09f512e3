"""Test data built through the real services, so every row is one the product could make."""
from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from pipeline import clock
from pipeline.auth.models import User
from pipeline.auth.services import create_user, issue_token
from pipeline.prospects.models import Prospect
from pipeline.prospects.services import advance_prospect, create_prospect, save_record

ORDER = ["first_contact", "learn", "decision_maker", "needs", "allocation", "close", "after_sale"]

INFO_70 = {k: "x" for k in (
    "full_name", "family", "employer", "position", "education", "product_history", "insurance",
    "fixed_assets", "income_spending", "debts", "other_banks", "interests", "children", "cars",
    "property", "taboos", "background", "value_assessment", "wishes", "difficulties",
    "complaints")}
INFO_70["age"] = 40
INFO_70["risk_preference"] = "C3"  # 23 of 31 fields: 74 %; the checklist takes its level

COMPLETE: dict[str, tuple[str, dict[str, Any]]] = {
    # As of the tests' T0 (2026-03-02 01:00 UTC): the touches done, the meeting ahead. The
    # factory writes the same log relative to the clock instead (contact_log).
    "first_contact": ("contact_log", {"institution_sms_at": "2026-03-01T01:00:00Z",
                                      "manager_sms_at": "2026-03-02T00:00:00Z",
                                      "call_at": "2026-03-02T01:00:00Z",
                                      "meeting_booked_at": "2026-03-06T02:00:00Z"}),
    "learn": ("info_sheet", INFO_70),
    "decision_maker": ("decision_maker", {"identified": True, "name": "Wang Fang",
                                          "relation": "spouse", "met": True}),
    "needs": ("needs_sheet", {"life_stage": "young_family", "needs": ["education"]}),
    "allocation": ("proposals", {"options": ["fund plan", "deposit plan"], "chosen": 0}),
    "close": ("closing_checklist", {"recommended": True, "risk_disclosed": True,
                                    "confirmed": True, "signed": True, "ledger": True,
                                    "customer_risk_level": "C3", "product_risk_level": "R3"}),
}


def contact_log(now: Any) -> dict[str, str]:
    """A complete first-contact log as of ``now``: the three touches done, a meeting booked."""
    return {"institution_sms_at": (now - timedelta(days=1)).isoformat(),
            "manager_sms_at": (now - timedelta(hours=1)).isoformat(),
            "call_at": now.isoformat(),
            "meeting_booked_at": (now + timedelta(days=4, hours=1)).isoformat()}


class Factory:
    _n = itertools.count(1)

    def __init__(self, session) -> None:  # noqa: ANN001
        self.session = session

    def user(self, role: str = "manager", team: str | None = "Team A", *,
             email: str | None = None, password: str | None = "secret-pass") -> User:
        n = next(self._n)
        if role in ("supervisor", "admin"):
            team = None
        return create_user(self.session, email or f"{role}{n}@bank.test", role=role, team=team,
                           password=password, name=f"{role} {n}")

    def token(self, user: User) -> str:
        return issue_token(self.session, user.email)

    def prospect(self, owner: User | None = None, stage: str = "first_contact", *,
                 name: str = "Li Lei", tier: str = "gold", step: timedelta | None = None,
                 **extra: Any) -> Prospect:
        """A prospect walked to ``stage`` through the services (``step`` apart per stage)."""
        owner = owner or self.user()
        p = create_prospect(self.session, actor=owner,
                            data={"name": name, "tier": tier, **extra})
        for current in ORDER[:ORDER.index(stage)]:
            if step:
                clock.set_now(clock.now() + step)
            self.complete(p, current, owner)
            advance_prospect(self.session, p.id, "win" if current == "close" else "advance",
                             actor=owner)
        return p

    def complete(self, prospect: Prospect, stage: str, actor: User) -> None:
        key, data = COMPLETE[stage]
        if stage == "first_contact":
            data = contact_log(clock.now())
        save_record(self.session, prospect.id, key, actor=actor, data=data)
