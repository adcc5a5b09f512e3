"""What a board card shows of messages: the manager's SMS button, and that the customer
opted out of SMS. Answered for a page of cards at once (two small queries)."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import workflows
from pipeline.messages.models import SmsMessage


def _click_steps(workflow_key: str, stage: str) -> tuple[str, ...]:
    wf = workflows.workflow(workflow_key)
    if wf.messages is None:
        return ()
    return tuple(s.key for s in wf.stage(stage).cadence if s.send == "click")


class CardMarks:
    """The messages part of a column of cards, for :class:`CardWriter`: which of the
    viewer's own active cards still have their click-sent SMS to send (one query, only
    for a stage that has such a step)."""

    def __init__(self, session: Session, prospects: list[Any], user_id: int,
                 back_to: str) -> None:
        from flask import url_for

        self.user_id = user_id
        own = [p for p in prospects if p.owner_id == user_id and p.status == "active"
               and not p.sms_opt_out and _click_steps(p.workflow_key, p.stage)]
        steps = {k for p in own for k in _click_steps(p.workflow_key, p.stage)}
        self.sent: set[tuple[int, int]] = {tuple(r) for r in session.execute(
            select(SmsMessage.prospect_id, SmsMessage.clock_no).where(
                SmsMessage.prospect_id.in_([p.id for p in own]), SmsMessage.step.in_(steps)))
        } if own else set()
        self.own = {p.id for p in own}
        head, _marker, tail = url_for("messages.send_sms", prospect_id=_MARKER,
                                      next=back_to).partition(str(_MARKER))
        self.head, self.tail = escape(head), escape(tail)
        self.note = escape(_("No SMS: the customer opted out"))
        self.button = escape(_("Manager SMS"))

    def html(self, p: Any) -> str:
        """The card's lines: the opt-out note, or the SMS button for the owner."""
        if p.sms_opt_out:
            return (f'  <div class="kcard-note muted" data-testid="sms-opt-out">{self.note}'
                    f'</div>\n')
        if p.id not in self.own or (p.id, p.clock_no) in self.sent:
            return ""
        return (f'  <a class="button small secondary kcard-sms" data-testid="sms-button" '
                f'href="{self.head}{p.id}{self.tail}">{self.button}</a>\n')


_MARKER = 918273645546372811
