"""Audit writes that are not part of another service's transaction."""
from __future__ import annotations

from sqlalchemy.orm import Session

from pipeline.auth.models import User
from pipeline.auth.services import audit
from pipeline.db import unit_of_work
from pipeline.prospects.models import Prospect


def record_view(session: Session, actor: User, prospect: Prospect, *, full: bool,
                channel: str, ip: str | None = None, record: str | None = None,
                reason: str | None = None) -> None:
    """Audit that ``actor`` opened a prospect's page, or one of its records' form
    (``record``); ``full``: the personal data unmasked (``reason``: the reason a supervisor
    or an administrator stated to see it, kept as the entry's note).

    Call it after the visibility check, so the log holds what was actually shown. Its own
    transaction (anything pending in the session is committed with it).
    """
    with unit_of_work(session):
        audit(session, "prospect_viewed", actor=actor, target_type="prospect",
              target_id=prospect.id, ip=ip,
              detail={"personal_data": "full" if full else "masked", "channel": channel,
                      "owner_id": prospect.owner_id, "team_id": prospect.team_id,
                      **({"record": record} if record else {}),
                      **({"unmasked": True} if reason else {})},
              note=reason)
