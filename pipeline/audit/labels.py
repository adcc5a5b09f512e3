"""What each audited action is called on the page."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

ACTIONS = {
    "login": _l("Signed in"),
    "login_failed": _l("Failed sign-in"),
    "login_throttled": _l("Sign-in refused (too many failures)"),
    "prospect_viewed": _l("Viewed a prospect"),
    "prospect_reassigned": _l("Reassigned a prospect"),
    "escalation_decision": _l("Escalation decision"),
    "report_exported": _l("Exported a report"),
    "weekly_summary_saved": _l("Saved a weekly summary"),
}
