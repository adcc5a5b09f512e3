"""What the product's codes are called, in the reader's language: one table per kind of
code, for every page, form, report and export.

The codes themselves (tiers, statuses, events, contact kinds…) are defined by the
workflow definition (:mod:`pipeline.engine.definition`); a test checks that every code has
its name here. Names are lazy strings, translated when shown; stage, record and field
names come from the workflow file itself (:func:`stage_name`).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from pipeline import workflows

TIERS = {"diamond": _l("Diamond"), "black_gold": _l("Black gold"),
         "platinum": _l("Platinum"), "gold": _l("Gold")}
STATUSES = {"active": _l("Active"), "paused": _l("Paused"), "won": _l("Won"),
            "lost": _l("Lost")}
POTENTIALS = {"high": _l("High potential"), "low": _l("Low potential")}
CONTACT_KINDS = {"call": _l("Call"), "sms": _l("SMS"), "visit": _l("Visit"),
                 "meeting": _l("Meeting"), "wechat": _l("WeChat"), "email": _l("E-mail")}
CONTACT_OUTCOMES = {"reached": _l("Reached the customer"), "no_answer": _l("No answer"),
                    "meeting_booked": _l("Meeting booked"), "declined": _l("Declined"),
                    "call_back": _l("Call back later"), "other": _l("Other")}
# Values the workflow's choices and suggestions use (the keys stay in the data).
VALUES = {
    "male": _l("Male"), "female": _l("Female"),
    "single": _l("Single"), "newly_married": _l("Newly married"),
    "young_family": _l("Young family"), "mature_family": _l("Mature family"),
    "empty_nest": _l("Empty nest"), "retired": _l("Retired"),
    "marriage": _l("Marriage"), "home": _l("Home"), "car": _l("Car"),
    "education": _l("Education"), "retirement": _l("Retirement"), "medical": _l("Medical"),
    "wealth_growth": _l("Wealth growth"), "inheritance": _l("Inheritance"),
}

# ---------------------------------------------------------------- events

# What firing an event does, as its button says it.
EVENT_ACTIONS = {"advance": _l("Advance"), "win": _l("Won: move to after-sale"),
                 "lose": _l("Mark lost"), "no_meeting": _l("No meeting booked"),
                 "back": _l("Back a stage"), "pause": _l("Pause"), "resume": _l("Resume"),
                 "reopen": _l("Reopen"), "extend": _l("Extend the time limit"),
                 "new_round": _l("New need: start a new round"),
                 "leave": _l("Customer left")}
# A prospect's history on its page: the actions, and the rows decisions and creation write.
PROSPECT_HISTORY = {**EVENT_ACTIONS, "create": _l("Created"),
                    "decision_continue": _l("Team lead: continue"),
                    "reassign": _l("Reassigned"), "tier_change": _l("Tier changed"),
                    "extend": _l("Time limit extended"), "assign": _l("Handler assigned")}
# History rows in reports and exports.
HISTORY = {
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
    "tier_change": _l("Tier changed"),
    "extend": _l("Time limit extended"),
    "assign": _l("Handler assigned"),
    "new_round": _l("New round for a new need"),
    "leave": _l("Customer left"),
}
# History rows within a line of the escalation queue.
QUEUE_HISTORY = {
    "create": _l("created"), "advance": _l("advanced"), "win": _l("won"), "lose": _l("lost"),
    "no_meeting": _l("no meeting booked"), "back": _l("sent back"), "pause": _l("paused"),
    "resume": _l("resumed"), "reopen": _l("reopened"),
    "decision_continue": _l("decision: continue"), "reassign": _l("reassigned"),
    "tier_change": _l("tier changed"),
    "extend": _l("time limit extended"), "assign": _l("handler assigned"),
    "new_round": _l("new round for a new need"),
    "leave": _l("customer left"),
}

# ---------------------------------------------------------------- tasks and escalations

ASSIGNEES = {"institution": _l("the branch"), "owner": _l("customer manager"),
             "team_lead": _l("team lead")}
DECISIONS = {"continue": _l("Continue"), "reassign": _l("Reassign"), "abandon": _l("Abandon")}
DECISION_STATES = {**DECISIONS, "open": _l("Not decided yet")}
ESCALATION_KINDS = {"stage_overdue": _l("Stage overdue"), "no_meeting": _l("No meeting booked"),
                    "contact_overdue": _l("After-sale contact overdue"),
                    "complaint_overdue": _l("Complaint overdue"),
                    "retention_overdue": _l("Retention not done in time")}

# The after-sale work (the workflow file names the task kinds themselves).
CUSTOMER_EVENTS = {"maturity": _l("Maturity"), "large_outflow": _l("Large outflow"),
                   "tier_drop": _l("Tier drop"), "repayment_due": _l("Repayment due")}
RETENTION_OUTCOMES = {"retained": _l("Retained"), "partly_retained": _l("Partly retained"),
                      "left": _l("Customer left")}

# ---------------------------------------------------------------- the audit log

AUDIT_ACTIONS = {
    "login": _l("Signed in"),
    "login_failed": _l("Failed sign-in"),
    "login_throttled": _l("Sign-in refused (too many failures)"),
    "prospect_viewed": _l("Viewed a prospect"),
    "prospect_reassigned": _l("Reassigned a prospect"),
    "escalation_decision": _l("Escalation decision"),
    "report_exported": _l("Exported a report"),
    "weekly_summary_saved": _l("Saved a weekly summary"),
    "customers_imported": _l("Imported the customer book"),
    "customer_allocated": _l("Allocated a customer"),
    "claim_refused": _l("Refused a customer claim"),
    "customers_moved": _l("Moved a leaving manager's customers"),
    "customer_events_imported": _l("Imported customer events"),
    "call_cap_override": _l("Called over the monthly cap"),
    "campaign_created": _l("Started a campaign"),
    "record_saved": _l("Edited a record"),
    "logout": _l("Signed out"),
    "token_issued": _l("Issued an API token"),
    "token_revoked": _l("Revoked an API token"),
    "audit_purged": _l("Purged old audit entries"),
}


def label(table: Mapping[str, Any], key: str | None) -> str:
    """``key``'s name in ``table`` in the reader's language; an unknown key as it is."""
    if key is None:
        return ""
    return str(table[key]) if key in table else key


def history_text(table: Mapping[str, Any], event: str,
                 data: Mapping[str, Any] | None = None,
                 people: Mapping[int, str] | None = None) -> str:
    """A history row's name in ``table``; a tier change says from which tier to which, and
    whether it was set by hand (its ``data``); a change of owner from whom to whom, by the
    names in ``people`` (user id -> name)."""
    if data and people is not None and data.get("to_owner"):
        return _("%(event)s: from %(old)s to %(new)s", event=label(table, event),
                 old=people.get(data.get("from_owner"), "—"),
                 new=people.get(data["to_owner"], "—"))
    if event == "tier_change" and data and data.get("from") and data.get("to"):
        text = _("Tier changed from %(old)s to %(new)s", old=label(TIERS, data["from"]),
                 new=label(TIERS, data["to"]))
        return _("%(change)s (set by hand)", change=text) if data.get("manual") else text
    return label(table, event)


def choices(table: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(key, name) pairs of ``keys`` in their order, for a select field (:func:`options`)."""
    return [(key, table[key]) for key in keys]


def stage_name(key: str | None, workflow_key: str = workflows.DEFAULT_KEY) -> str:
    """A stage's name from its workflow file, in the reader's language."""
    if not key:
        return ""
    try:
        return workflows.workflow(workflow_key).stage(key).name.get(str(get_locale()
                                                                        or "zh_CN"))
    except (KeyError, AttributeError):
        return key
