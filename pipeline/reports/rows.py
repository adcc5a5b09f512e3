"""Long tables and lists of the report pages written in Python: a branch's daily totals
have a thousand managers' rows (each a template macro call and eight sums before), its
manager choice a thousand options. The HTML is the templates' and WTForms' own,
character for character."""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup, escape
from wtforms import widgets

from pipeline.reports.queries import DayTotals, ManagerDay, SheetLine

# Each row begins as the template's macro began: a line of indentation, then the row.
_TOTALS_ROW = "\n      " + """
      <tr class="%(kind)s" data-row="%(kind)s">
        <td>%(team)s</td><th scope="row">%(name)s</th>
        <td class="num">%(calls)d <span class="muted">/ %(call_norm)d</span></td>
        <td class="num">%(share)s</td>
        <td class="num">%(meetings)d <span class="muted">/ %(meeting_norm)d</span></td>
        <td class="num">%(contacts)d</td>
        <td class="num">%(created)d</td>
        <td class="num">%(advanced)d</td>
        <td class="num">%(won)d</td>
        <td class="num">%(lost)d</td>
        <td class="num">%(back)d</td>
      </tr>"""
_SUMMED = ("calls", "meetings", "contacts", "created", "advanced", "won", "lost", "back")


def _row(totals: DayTotals, team: str, name: str, rows: list[ManagerDay], kind: str) -> str:
    n = len(rows)
    if n == 1:  # a manager's own row
        m = rows[0]
        sums = {"calls": m.calls, "meetings": m.meetings, "contacts": m.contacts,
                "created": m.created, "advanced": m.advanced, "won": m.won, "lost": m.lost,
                "back": m.back}
    else:
        sums = {f: sum(getattr(m, f) for m in rows) for f in _SUMMED}
    call_norm = totals.call_norm * n
    share = "%.1f%%" % (sums["calls"] / call_norm * 100) if call_norm else "–"
    return _TOTALS_ROW % {"kind": kind, "team": escape(team), "name": escape(name),
                          "call_norm": call_norm, "meeting_norm": totals.meeting_norm * n,
                          "share": share, **sums}


def daily_totals_rows(totals: DayTotals, branch_view: bool, *, teams_only: bool = False
                      ) -> Markup:
    """The totals table's bodies: each team's managers (not with ``teams_only``) and the
    team's total, then the branch's total in the footer (a branch's view)."""
    out = []
    for team, rows in totals.teams():
        label = team or "–"
        out.append("\n    <tbody>\n      ")
        if not teams_only:
            out.extend(_row(totals, label, m.name, [m], "manager") for m in rows)
        out.append("\n      ")
        out.append(_row(totals, label, _("Team total"), rows, "team-total"))
        out.append("\n    </tbody>\n    ")
    out.append("\n    ")
    if branch_view:
        out.append("\n    <tfoot>")
        out.append(_row(totals, _("Branch total"), "", totals.managers, "branch-total"))
        out.append("</tfoot>\n    ")
    return Markup("".join(out))


# One prospect's line of a manager's daily sheet, as the template wrote it (a manager has a
# few hundred prospects: written here, one escape per text).
_SHEET_ROW = """
    <tr data-prospect="%d"%s>
      <th scope="row">%s</th>
      <td>%s</td>
      <td>%s</td>
      <td>%s</td>
      <td class="num">%s</td>
      <td class="%s" data-testid="stage-clock">%s</td>
      <td>%s</td>
      <td>%s</td>
    </tr>
  """


def daily_sheet_rows(lines: list[SheetLine], *, tier_name: Any, stage_name: Any,
                     status_name: Any, time_left: Any, describe_changes: Any,
                     describe_contacts: Any, workflow_key: str) -> Markup:
    """The daily sheet's table rows, one per prospect: its name, tier, stage and status,
    days in the stage, the stage clock, and the day's changes and contacts."""
    out = []
    for line in lines:
        if line.clock:
            clock_text, clock_class = time_left(line.clock.due_at, line.clock.status,
                                                line.clock.as_of)
        else:
            clock_text, clock_class = "", ""
        out.append(_SHEET_ROW % (
            line.prospect_id, ' class="changed"' if line.changes else "", escape(line.name),
            escape(tier_name(line.tier)), escape(stage_name(line.stage)),
            escape(status_name(line.status)),
            "–" if line.days_in_stage is None else f"{line.days_in_stage:.1f}",
            escape(clock_class), escape(clock_text or "–"),
            escape(describe_changes(line.changes, workflow_key) or "–"),
            escape(describe_contacts(line.contacts) or "–")))
    return Markup("".join(out))


class ManyOptions(widgets.Select):
    """A select of many plain options (a branch's thousand managers): the same HTML as
    WTForms' select, each option written directly."""

    @classmethod
    def render_option(cls, choice: Any, **kwargs: Any) -> Markup:
        if kwargs or choice.render_kw or isinstance(choice.value, bool):
            return super().render_option(choice, **kwargs)
        selected = "selected " if choice.selected else ""
        return Markup(f'<option {selected}value="{escape(choice.value)}">'
                      f'{escape(choice.label or choice.value)}</option>')


def memo(name: Any) -> Any:
    """``name(key)`` answered once per key (a sheet's hundreds of lines share a few tiers,
    stages and statuses); a lazy text is resolved then, and written as it was (Markup)."""
    known: dict[Any, Any] = {}

    def named(key: Any) -> Any:
        if key not in known:
            value = name(key)
            known[key] = Markup(value.__html__()) if hasattr(value, "__html__") else value
        return known[key]
    return named
