"""Hand-built histories for the report tests: prospects and their stage-event rows inserted
directly, at known times, so every figure can be worked out by hand."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from pipeline.auth.models import User
from pipeline.escalations.models import Escalation
from pipeline.prospects.models import Contact, Prospect, StageEvent
from pipeline.reports import visits
from tests.conftest import T0

# Day 0 of the story; "now" (T0, the suite's fixed clock) is day 20.
D0 = T0 - timedelta(days=20)


def day(n: float) -> datetime:
    return D0 + timedelta(days=n)


class History:
    """Writes prospects with a given history (``steps``: (event, to_stage, to_status, day,
    reason[, data])); the prospect row ends in the last step's state."""

    def __init__(self, session) -> None:
        self.session = session
        self._esc = 0

    def prospect(self, owner: User, steps: list[tuple], *, name: str = "P",
                 tier: str = "gold", owners: dict[int, User] | None = None) -> Prospect:
        event, stage, status, when, reason = steps[-1][:5]
        p = Prospect(name=name, tier=tier, owner_id=owner.id, team_id=owner.team_id,
                     stage=stage, status=status, stage_entered_at=day(when),
                     clock_started_at=day(when), paused_at=day(when) if status == "paused"
                     else None, lost_reason=reason if status == "lost" else None,
                     created_at=day(steps[0][3]), updated_at=day(when))
        self.session.add(p)
        self.session.flush()
        prev_stage = prev_status = None
        for seq, (event, stage, status, when, reason, *data) in enumerate(steps, start=1):
            who = (owners or {}).get(seq, owner)
            self.session.add(StageEvent(
                prospect_id=p.id, seq=seq, event=event, from_stage=prev_stage,
                to_stage=stage, from_status=prev_status, to_status=status,
                actor_id=who.id, owner_id=who.id, team_id=who.team_id, at=day(when),
                reason=reason, data=data[0] if data else None))
            prev_stage, prev_status = stage, status
        self.session.flush()
        visits.rebuild(self.session, [p.id])  # rows written around the services
        return p

    def escalation(self, p: Prospect, stage: str, opened: float, *, decision: str | None = None,
                   decided: float | None = None, kind: str = "stage_overdue") -> Escalation:
        self._esc += 1
        e = Escalation(prospect_id=p.id, kind=kind, level=1,
                       status="resolved" if decision else "open", stage=stage,
                       clock_no=self._esc, dedupe_key=f"test:{p.id}:{self._esc}",
                       team_id=p.team_id, owner_id=p.owner_id, opened_at=day(opened),
                       decision=decision, decided_at=day(decided) if decided is not None
                       else None)
        self.session.add(e)
        self.session.flush()
        visits.rebuild(self.session, [p.id])
        return e

    def contact(self, p: Prospect, user: User, kind: str, at: datetime) -> None:
        self.session.add(Contact(prospect_id=p.id, user_id=user.id, kind=kind, at=at))
        self.session.flush()


@pytest.fixture
def history(session) -> History:
    return History(session)


def walk(*steps: Any) -> list[tuple]:
    """(event, stage, day[, reason[, data]]) → history steps with statuses worked out."""
    out = []
    for step in steps:
        event, stage, when, *rest = step
        reason = rest[0] if rest else None
        status = {"lose": "lost", "win": "won", "pause": "paused"}.get(event, "active")
        out.append((event, stage, status, when, reason, *rest[1:2]))
    return out


@pytest.fixture
def story(factory, history):
    """Four prospects in two teams (see test_funnel.py for the figures worked out by hand)."""
    m1 = factory.user("manager", "Team A")
    m2 = factory.user("manager", "Team B")
    lead_a = factory.user("team_lead", "Team A")
    sup = factory.user("supervisor")
    p1 = history.prospect(m1, walk(("create", "first_contact", 0), ("advance", "learn", 2),
                                   ("advance", "decision_maker", 5), ("back", "learn", 6),
                                   ("advance", "decision_maker", 10)), name="P1")
    p2 = history.prospect(m1, walk(("create", "first_contact", 1), ("advance", "learn", 5),
                                   ("lose", "learn", 8, "客户无意向")), name="P2",
                          tier="diamond")
    p3 = history.prospect(m2, walk(("create", "first_contact", 3),
                                   ("lose", "first_contact", 4, "联系不上客户"),
                                   ("reopen", "first_contact", 6, "客户回电"),
                                   ("advance", "learn", 9)), name="P3")
    p4 = history.prospect(m2, walk(("create", "first_contact", 0), ("advance", "learn", 1),
                                   ("advance", "decision_maker", 2), ("advance", "needs", 3),
                                   ("advance", "allocation", 4), ("advance", "close", 5),
                                   ("win", "after_sale", 7)), name="P4")
    history.escalation(p1, "learn", 7, decision="continue", decided=8)
    history.escalation(p1, "decision_maker", 15)
    return {"m1": m1, "m2": m2, "lead_a": lead_a, "sup": sup, "p1": p1, "p2": p2, "p3": p3,
            "p4": p4}
