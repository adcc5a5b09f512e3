"""Names shown for the history's codes (events, statuses, tiers, decisions, kinds) in the
user's language. Stage names come from the workflow itself."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from pipeline import workflows
from pipeline.web import current_locale

EVENTS = {
    "create": _l("Created"),
    "advance": _l("Advanced"),
    "win": _l("Won"),
    "lose": _l("Lost"),
    "back": _l("Sent back"),
    "pause": _l("Paused"),
    "resume": _l("Resumed"),
    "reopen": _l("Reopened"),
    "no_meeting": _l("No meeting booked"),
    "reassign": _l("Reassigned"),
    "decision_continue": _l("Lead decided: continue"),
    "decision_reassign": _l("Lead decided: reassign"),
    "decision_abandon": _l("Lead decided: abandon"),
}
STATUSES = {"active": _l("Active"), "paused": _l("Paused"), "won": _l("Won"),
            "lost": _l("Lost")}
TIERS = {"diamond": _l("Diamond"), "black_gold": _l("Black gold"), "platinum": _l("Platinum"),
         "gold": _l("Gold")}
DECISIONS = {"continue": _l("Continue"), "reassign": _l("Reassign"), "abandon": _l("Abandon"),
             "open": _l("Not decided yet")}
KINDS = {"stage_overdue": _l("Stage overdue"), "no_meeting": _l("No meeting booked"),
         "contact_overdue": _l("After-sale contact overdue")}
CONTACTS = {"call": _l("Call"), "sms": _l("SMS"), "visit": _l("Visit"),
            "meeting": _l("Meeting"), "wechat": _l("WeChat"), "email": _l("E-mail")}


def label(table: dict, key: str | None) -> str:
    if key is None:
        return ""
    return str(table[key]) if key in table else key


def stage_name(key: str | None, workflow_key: str = workflows.DEFAULT_KEY) -> str:
    if not key:
        return ""
    try:
        return workflows.workflow(workflow_key).stage(key).name.get(current_locale())
    except (KeyError, AttributeError):
        return key
