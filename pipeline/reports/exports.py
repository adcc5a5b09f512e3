"""CSV and XLSX downloads of the reports, with headers and names in the user's language.

A download is a list of :class:`Section` s: in CSV one after the other (title line, header
line, rows, blank line), in XLSX one worksheet each. CSV is UTF-8 with a byte-order mark so
that spreadsheet programs read Chinese correctly. Text that a spreadsheet would take for a
formula (a reason typed as ``=...``) is kept as text in both.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from flask_babel import gettext as _

from pipeline import labels, workflows
from pipeline.reports import queries

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MIMETYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)


def _local(value: datetime, tz: str) -> datetime:
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _csv_value(value: Any, tz: str) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _local(value, tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(sections: Sequence[Section], *, tz: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for i, s in enumerate(sections):
        if i:
            writer.writerow([])
        writer.writerow([s.title])
        writer.writerow(s.headers)
        for row in s.rows:
            writer.writerow([_csv_value(v, tz) for v in row])
    return buf.getvalue().encode("utf-8-sig")


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def to_xlsx(sections: Sequence[Section], *, tz: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for s in sections:
        name = _SHEET_BAD.sub(" ", s.title)[:31] or "Sheet"
        while name in used:
            name = name[:28] + f"~{len(used)}"
        used.add(name)
        ws = wb.create_sheet(name)
        ws.append(s.headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(s.rows, start=2):
            for c, value in enumerate(row, start=1):
                if isinstance(value, datetime):
                    value = _local(value, tz)
                cell = ws.cell(row=r, column=c, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text, never a formula
                if isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(value, date):
                    cell.number_format = "yyyy-mm-dd"
        for c, header in enumerate(s.headers, start=1):
            width = max([len(str(header))] + [len(str(row[c - 1])) for row in s.rows
                                              if c - 1 < len(row)])
            ws.column_dimensions[ws.cell(row=1, column=c).column_letter].width = \
                min(max(width + 2, 8), 60)
        ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def download(sections: Sequence[Section], fmt: str, filename: str, *, tz: str) -> Response:
    body = to_csv(sections, tz=tz) if fmt == "csv" else to_xlsx(sections, tz=tz)
    return Response(body, mimetype=MIMETYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{filename}.{fmt}"',
        "Cache-Control": "no-store"})


# ---------------------------------------------------------------- the reports as sections

def funnel_sections(figures: list[queries.StageFigures], cohorts: list[queries.Cohort],
                    lost: list[queries.LostReason],
                    escalations: list[queries.EscalationFigures],
                    workflow_key: str = workflows.DEFAULT_KEY) -> list[Section]:
    stage_keys = workflows.workflow(workflow_key).stage_keys
    funnel = Section(_("Funnel"), [
        _("Stage"), _("Entered"), _("Re-entries"), _("In it now"), _("Advanced"), _("Lost"), _("Went back"),
        _("Conversion to next stage"), _("Conversion to won"), _("Stalled (escalated)"),
        _("Median days in stage"), _("90th percentile days"), _("Visits timed")])
    for f in figures:
        funnel.rows.append([labels.stage_name(f.key, workflow_key), f.entered, f.reentered,
                            f.current,
                            f.advanced, f.lost, f.back, f.conversion, f.won_conversion,
                            f.stalled_share, f.median_days, f.p90_days, f.days_count])
    cohort = Section(_("Cohorts"), [_("Month of first contact"), _("Prospects"),
                                    *[labels.stage_name(k, workflow_key) for k in stage_keys],
                                    _("Lost now")])
    for c in cohorts:
        cohort.rows.append([c.month, c.started, *[c.reached[k] for k in stage_keys],
                            c.lost_now])
    reasons = Section(_("Lost reasons"), [_("Stage"), _("Team"), _("Reason"), _("Prospects")])
    for r in lost:
        reasons.rows.append([labels.stage_name(r.stage, workflow_key), r.team or "", r.reason,
                             r.count])
    esc = Section(_("Escalations"), [_("Decision"), _("Kind of escalation"), _("Escalations"),
                                     _("Average days to decide")])
    for e in escalations:
        esc.rows.append([labels.label(labels.DECISION_STATES, e.decision),
                         labels.label(labels.ESCALATION_KINDS, e.kind), e.count, e.avg_days_to_decide])
    return [funnel, cohort, reasons, esc]


def describe_changes(changes: list[dict[str, Any]], workflow_key: str) -> str:
    out = []
    for ch in changes:
        text = labels.history_text(labels.HISTORY, ch["event"], ch.get("data"))
        if ch["from_stage"] and ch["from_stage"] != ch["to_stage"]:
            text += (f": {labels.stage_name(ch['from_stage'], workflow_key)} → "
                     f"{labels.stage_name(ch['to_stage'], workflow_key)}")
        if ch.get("reason"):
            text += f" ({ch['reason']})"
        out.append(text)
    return "; ".join(out)


def describe_contacts(contacts: dict[str, int]) -> str:
    return ", ".join(f"{labels.label(labels.CONTACT_KINDS, k)} {n}" for k, n in sorted(
        contacts.items()))


def daily_sections(sheet: queries.DailySheet, manager_name: str,
                   workflow_key: str = workflows.DEFAULT_KEY) -> list[Section]:
    summary = Section(_("Customer management progress sheet"),
                      [_("Manager"), _("Day"), _("Calls"), _("Call norm"), _("Meetings"),
                       _("Meeting norm"), _("All contacts"), _("Advanced"), _("Won"),
                       _("Lost"), _("New prospects")])
    summary.rows.append([manager_name, sheet.day, sheet.calls, sheet.call_norm,
                         sheet.meetings, sheet.meeting_norm, sheet.contacts,
                         sheet.events.get("advance", 0), sheet.events.get("win", 0),
                         sheet.events.get("lost", 0), sheet.events.get("create", 0)])
    lines = Section(_("Prospects"), [_("Customer"), _("Tier"), _("Stage"), _("Status"),
                                     _("In stage since"), _("Days in stage"),
                                     _("Changed today"), _("Contacts today")])
    for line in sheet.lines:
        lines.rows.append([line.name, labels.label(labels.TIERS, line.tier),
                           labels.stage_name(line.stage, workflow_key),
                           labels.label(labels.STATUSES, line.status), line.entered_at,
                           line.days_in_stage, describe_changes(line.changes, workflow_key),
                           describe_contacts(line.contacts)])
    return [summary, lines]


def weekly_sections(fig: queries.WeeklyFigures, team_name: str, summary: str | None
                    ) -> list[Section]:
    head = Section(_("CRM weekly work log"), [_("Team"), _("Week of"), _("Working days"),
                                             _("Summary")])
    head.rows.append([team_name, fig.week_start, fig.working_days, summary or ""])
    per = Section(_("Managers"), [
        _("Manager"), _("New prospects"), _("Advanced"), _("Won"), _("Lost"), _("Went back"),
        _("Escalated"), _("Calls"), _("Call norm"), _("Meetings"), _("Meeting norm")])
    for m in fig.managers:
        per.rows.append([m.name, m.created, m.advanced, m.won, m.lost, m.back, m.escalated,
                         m.calls, fig.call_norm, m.meetings, fig.meeting_norm])
    per.rows.append([_("Team total"), fig.total("created"), fig.total("advanced"),
                     fig.total("won"), fig.total("lost"), fig.total("back"),
                     fig.total("escalated"), fig.total("calls"),
                     fig.call_norm * len(fig.managers), fig.total("meetings"),
                     fig.meeting_norm * len(fig.managers)])
    decided = Section(_("Escalations decided"), [_("Decision"), _("Escalations")])
    for key in ("continue", "reassign", "abandon"):
        decided.rows.append([labels.label(labels.DECISION_STATES, key), fig.decided.get(key, 0)])
    return [head, per, decided]
