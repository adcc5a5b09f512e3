"""CSV and XLSX downloads of the reports, with headers and names in the user's language.

A download is a :class:`Heading` (the report's title, the branch, the period) and a list of
:class:`Section` s, one table each:

- CSV: a zip of CSV files, one table per file (``01-Funnel.csv``, ...), each a header line
  and its rows, so that every file opens as one clean table; UTF-8 with a byte-order mark so
  that spreadsheet programs read Chinese correctly.
- XLSX: one worksheet per table: the title row, the branch, the period, then the header row
  (repeated on every printed page) and the rows; integers, one-decimal days and percentages
  in their number formats; printed landscape, fitted to the page's width; the sheet's name
  fits Excel's 31 characters, cut between words.

Each column has a format (:data:`INT`, :data:`DAYS`, :data:`PCT`, :data:`TEXT`): a rate is a
share (0.716) in the data, "71.6%" in CSV and a percentage-formatted number in XLSX. Text
that a spreadsheet would take for a formula (a reason typed as ``=...``) is kept as text in
both.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response
from flask_babel import get_locale
from flask_babel import gettext as _

from pipeline import clock, labels, workflows
from pipeline.reports import queries

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
MIMETYPES = {
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS = {"csv": "zip", "xlsx": "xlsx"}

# Column formats.
INT, DAYS, PCT, TEXT = "int", "days", "pct", "text"
XLSX_FORMATS = {INT: "#,##0", DAYS: "0.0", PCT: "0.0%"}
SHEET_NAME_MAX = 31  # Excel's limit
HEADER_ROW = 4  # title, branch, period, then the header


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    # One per column (INT, DAYS, PCT or TEXT); None: as the values come.
    formats: list[str] | None = None

    def format_of(self, column: int) -> str | None:
        if self.formats is None or column >= len(self.formats):
            return None
        return self.formats[column]


@dataclass
class Heading:
    """What every sheet of a download says above its table."""

    title: str
    branch: str
    period: str


def branch_name() -> str:
    """The branch the reports are of, from the customer workflow's file, in the reader's
    language ("" when the file names none)."""
    messages = workflows.workflow().messages
    return messages.branch.get(str(get_locale() or "zh_CN")) if messages else ""


def percent(value: float | None) -> str:
    """A share as the pages and CSV show it: 0.7161 -> "71.6%"."""
    return "" if value is None else f"{value * 100:.1f}%"


def _local(value: datetime, tz: str) -> datetime:
    return value.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _csv_value(value: Any, fmt: str | None, tz: str) -> Any:
    if value is None:
        return ""
    if fmt == PCT and isinstance(value, (int, float)):
        return percent(value)
    if fmt == DAYS and isinstance(value, (int, float)):
        return f"{value:.1f}"
    if isinstance(value, datetime):
        return _local(value, tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(section: Section, *, tz: str) -> bytes:
    """One table: its header line and rows."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(section.headers)
    for row in section.rows:
        writer.writerow([_csv_value(v, section.format_of(c), tz) for c, v in enumerate(row)])
    return buf.getvalue().encode("utf-8-sig")


_FILE_BAD = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def to_csv_zip(sections: Sequence[Section], *, tz: str) -> bytes:
    """A zip of CSV files, one per table, numbered in the report's order and named by the
    table's title."""
    out = io.BytesIO()
    stamp = _local(clock.now(), tz).timetuple()[:6]
    # Stored, not compressed: the tables are small, and the files stay readable as they are.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for i, s in enumerate(sections, start=1):
            name = _FILE_BAD.sub(" ", s.title).strip() or "table"
            info = zipfile.ZipInfo(f"{i:02d}-{name}.csv", date_time=stamp)
            zf.writestr(info, to_csv(s, tz=tz))
    return out.getvalue()


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_name(title: str, used: set[str]) -> str:
    """A worksheet name from ``title`` within Excel's 31 characters: cut at the last space
    that fits (with "…"), or between characters where the title has no spaces (Chinese);
    unique in the workbook ignoring case (as Excel compares)."""
    name = " ".join(_SHEET_BAD.sub(" ", title).split()).strip("'") or "Sheet"

    def cut(text: str, room: int) -> str:
        if len(text) <= room:
            return text
        head = text[:room - 1]
        if " " in head and text[room - 1] != " ":
            head = head.rsplit(" ", 1)[0]
        return head.rstrip() + "…"

    candidate, n = cut(name, SHEET_NAME_MAX), 1
    while candidate.lower() in used:
        n += 1
        suffix = f" ({n})"
        candidate = cut(name, SHEET_NAME_MAX - len(suffix)) + suffix
    used.add(candidate.lower())
    return candidate


def to_xlsx(sections: Sequence[Section], *, tz: str, heading: Heading | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    heading = heading or Heading("", branch_name(), "")
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for s in sections:
        ws = wb.create_sheet(sheet_name(s.title, used))
        title = f"{heading.title} · {s.title}" if heading.title else s.title
        ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=14)
        ws.cell(row=2, column=1, value=_("Branch: %(name)s", name=heading.branch))
        ws.cell(row=3, column=1, value=_("Period: %(period)s", period=heading.period))
        for c, header in enumerate(s.headers, start=1):
            cell = ws.cell(row=HEADER_ROW, column=c, value=header)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for r, row in enumerate(s.rows, start=HEADER_ROW + 1):
            for c, value in enumerate(row, start=1):
                if isinstance(value, datetime):
                    value = _local(value, tz)
                cell = ws.cell(row=r, column=c, value=value)
                fmt = s.format_of(c - 1)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text, never a formula
                elif isinstance(value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(value, date):
                    cell.number_format = "yyyy-mm-dd"
                elif fmt in XLSX_FORMATS and isinstance(value, (int, float)):
                    cell.number_format = XLSX_FORMATS[fmt]
        for c, header in enumerate(s.headers, start=1):
            width = max([len(str(header))] + [len(str(row[c - 1])) for row in s.rows
                                              if c - 1 < len(row)])
            ws.column_dimensions[get_column_letter(c)].width = min(max(width + 2, 8), 60)
        ws.freeze_panes = ws.cell(row=HEADER_ROW + 1, column=1)
        ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0  # as many pages down as it takes
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def download(sections: Sequence[Section], fmt: str, filename: str, *, tz: str,
             heading: Heading | None = None) -> Response:
    """``fmt`` "csv": a zip of one CSV per table; "xlsx": one workbook."""
    if fmt == "csv":
        body = to_csv_zip(sections, tz=tz)
    else:
        body = to_xlsx(sections, tz=tz, heading=heading)
    return Response(body, mimetype=MIMETYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{filename}.{EXTENSIONS[fmt]}"',
        "Cache-Control": "no-store"})


# ---------------------------------------------------------------- the reports as sections

def lost_category_name(key: str, workflow_key: str = workflows.DEFAULT_KEY) -> str:
    """A lost reason category's name from the workflow file, in the reader's language;
    "Other" for a loss without a category the workflow lists."""
    for c in workflows.workflow(workflow_key).lost_reasons:
        if c.key == key:
            return c.name.get(str(get_locale() or "zh_CN"))
    return _("Other")


def describe_notes(notes: list[tuple[str, int]], limit: int | None = None) -> str:
    """The free-text reasons beside a category: "text (n)" where given more than once,
    most frequent first; with ``limit``, the first ones and how many more."""
    shown = notes if limit is None else notes[:limit]
    text = "; ".join(f"{note} ({n})" if n > 1 else note for note, n in shown)
    if limit is not None and len(notes) > limit:
        text += "; " + _("%(n)s more", n=len(notes) - limit)
    return text


def funnel_sections(figures: list[queries.StageFigures], cohorts: list[queries.Cohort],
                    lost: list[queries.LostReason],
                    escalations: list[queries.EscalationFigures],
                    workflow_key: str = workflows.DEFAULT_KEY) -> list[Section]:
    stage_keys = workflows.workflow(workflow_key).stage_keys
    funnel = Section(_("Funnel"), [
        _("Stage"), _("Entered"), _("Re-entries"), _("In it now"), _("Advanced"), _("Lost"),
        _("Went back"), _("Conversion to next stage"), _("Conversion to won"),
        _("Stalled (escalated)"), _("Median days in stage"), _("90th percentile days"),
        _("Visits timed")],
        formats=[TEXT, INT, INT, INT, INT, INT, INT, PCT, PCT, PCT, DAYS, DAYS, INT])
    for f in figures:
        funnel.rows.append([labels.stage_name(f.key, workflow_key), f.entered, f.reentered,
                            f.current, f.advanced, f.lost, f.back, f.conversion,
                            f.won_conversion, f.stalled_share, f.median_days, f.p90_days,
                            f.days_count])
    cohort = Section(_("Cohorts"), [_("Month of first contact"), _("Prospects"),
                                    *[labels.stage_name(k, workflow_key) for k in stage_keys],
                                    _("Lost now")],
                     formats=[TEXT] + [INT] * (len(stage_keys) + 2))
    for c in cohorts:
        cohort.rows.append([c.month, c.started, *[c.reached[k] for k in stage_keys],
                            c.lost_now])
    reasons = Section(_("Lost reasons"), [_("Stage"), _("Team"), _("Reason category"),
                                          _("Prospects"), _("Notes")],
                      formats=[TEXT, TEXT, TEXT, INT, TEXT])
    for r in lost:
        reasons.rows.append([labels.stage_name(r.stage, workflow_key), r.team or "",
                             lost_category_name(r.category, workflow_key), r.count,
                             describe_notes(r.notes)])
    esc = Section(_("Escalations"), [_("Decision"), _("Kind of escalation"), _("Escalations"),
                                     _("Average days to decide")],
                  formats=[TEXT, TEXT, INT, DAYS])
    for e in escalations:
        esc.rows.append([labels.label(labels.DECISION_STATES, e.decision),
                         labels.label(labels.ESCALATION_KINDS, e.kind), e.count,
                         e.avg_days_to_decide])
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


def share(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` as a share (None when there is no whole)."""
    return round(part / whole, 4) if whole else None


def daily_sections(sheet: queries.DailySheet, manager_name: str,
                   workflow_key: str = workflows.DEFAULT_KEY,
                   totals: queries.DayTotals | None = None, *, branch: bool = True
                   ) -> list[Section]:
    summary = Section(_("Customer management progress sheet"),
                      [_("Manager"), _("Day"), _("Calls"), _("Call norm"), _("Meetings"),
                       _("Meeting norm"), _("All contacts"), _("Advanced"), _("Won"),
                       _("Lost"), _("New prospects")],
                      formats=[TEXT, TEXT] + [INT] * 9)
    summary.rows.append([manager_name, sheet.day, sheet.calls, sheet.call_norm,
                         sheet.meetings, sheet.meeting_norm, sheet.contacts,
                         sheet.events.get("advance", 0), sheet.events.get("win", 0),
                         sheet.events.get("lost", 0), sheet.events.get("create", 0)])
    lines = Section(_("Prospects"), [_("Customer"), _("Tier"), _("Stage"), _("Status"),
                                     _("In stage since"), _("Days in stage"), _("Due"),
                                     _("Days left"), _("Changed today"), _("Contacts today")],
                    formats=[TEXT, TEXT, TEXT, TEXT, TEXT, DAYS, TEXT, DAYS, TEXT, TEXT])
    for line in sheet.lines:
        # Due and days left: the stage clock the prospect page reads (negative: overdue).
        running = line.clock is not None and line.clock.days_left is not None
        lines.rows.append([line.name, labels.label(labels.TIERS, line.tier),
                           labels.stage_name(line.stage, workflow_key),
                           labels.label(labels.STATUSES, line.status), line.entered_at,
                           line.days_in_stage, line.clock.due_at if running else None,
                           line.clock.days_left if running else None,
                           describe_changes(line.changes, workflow_key),
                           describe_contacts(line.contacts)])
    out = [summary, lines]
    if totals is not None:
        out.append(day_totals_section(totals, branch=branch))
    return out


def day_totals_section(totals: queries.DayTotals, *, branch: bool = True) -> Section:
    """Every manager in view with the day's figures, a subtotal per team and the total of
    the branch (``branch``) or of the one team in view."""
    title = _("Branch totals of the day") if branch else _("Team totals of the day")
    section = Section(title, [
        _("Team"), _("Manager"), _("Calls"), _("Call norm"), _("Calls against the norm"),
        _("Meetings"), _("Meeting norm"), _("All contacts"), _("New prospects"),
        _("Advanced"), _("Won"), _("Lost"), _("Went back")],
        formats=[TEXT, TEXT, INT, INT, PCT, INT, INT, INT, INT, INT, INT, INT, INT])

    def line(team: str, name: str, rows: list[queries.ManagerDay]) -> list[Any]:
        n = len(rows)
        calls = totals.total("calls", rows)
        return [team, name, calls, totals.call_norm * n, share(calls, totals.call_norm * n),
                totals.total("meetings", rows), totals.meeting_norm * n,
                totals.total("contacts", rows), totals.total("created", rows),
                totals.total("advanced", rows), totals.total("won", rows),
                totals.total("lost", rows), totals.total("back", rows)]

    for team, rows in totals.teams():
        for m in rows:
            section.rows.append(line(team or "", m.name, [m]))
        section.rows.append(line(team or "", _("Team total"), rows))
    if branch:
        section.rows.append(line(_("Branch total"), "", totals.managers))
    return section


def weekly_sections(fig: queries.WeeklyFigures, team_name: str, summary: str | None
                    ) -> list[Section]:
    head = Section(_("CRM weekly work log"), [_("Team"), _("Week of"), _("Working days"),
                                             _("Summary")], formats=[TEXT, TEXT, INT, TEXT])
    head.rows.append([team_name, fig.week_start, fig.working_days, summary or ""])
    per = _managers_section([(team_name, fig)], with_team=False)
    decided = _decided_section([fig])
    return [head, per, decided]


def weekly_branch_sections(figures: list[tuple[Any, queries.WeeklyFigures]],
                           summaries: dict[int, str], week_start: date) -> list[Section]:
    """The weekly work log of every team: each team's managers and subtotal, the branch's
    total; the escalations decided in the branch; each team lead's summary."""
    working = figures[0][1].working_days if figures else 0
    head = Section(_("CRM weekly work log"), [_("Team"), _("Week of"), _("Working days"),
                                             _("Summary")], formats=[TEXT, TEXT, INT, TEXT])
    for team, _fig in figures:
        head.rows.append([team.name, week_start, working, summaries.get(team.id, "")])
    per = _managers_section([(team.name, fig) for team, fig in figures], with_team=True)
    decided = _decided_section([fig for _team, fig in figures])
    return [head, per, decided]


WEEK_FIGURES = ("created", "advanced", "won", "lost", "back", "escalated", "calls",
                "meetings")


def _managers_section(figures: list[tuple[str, queries.WeeklyFigures]], *, with_team: bool
                      ) -> Section:
    team_col = [_("Team")] if with_team else []
    section = Section(_("Managers"), [
        *team_col, _("Manager"), _("New prospects"), _("Advanced"), _("Won"), _("Lost"),
        _("Went back"), _("Escalated"), _("Calls"), _("Call norm"), _("Calls against the norm"),
        _("Meetings"), _("Meeting norm"), _("Meetings against the norm")],
        formats=[TEXT] * len(team_col) + [TEXT] + [INT] * 8 + [PCT, INT, INT, PCT])

    def line(team: str, name: str, rows: list[queries.ManagerWeek],
             fig: queries.WeeklyFigures) -> list[Any]:
        sums = {k: sum(getattr(m, k) for m in rows) for k in WEEK_FIGURES}
        calls_norm, meet_norm = fig.call_norm * len(rows), fig.meeting_norm * len(rows)
        return [*([team] if with_team else []), name,
                *[sums[k] for k in ("created", "advanced", "won", "lost", "back", "escalated",
                                    "calls")],
                calls_norm, share(sums["calls"], calls_norm), sums["meetings"], meet_norm,
                share(sums["meetings"], meet_norm)]

    everyone: list[queries.ManagerWeek] = []
    for team, fig in figures:
        for m in fig.managers:
            section.rows.append(line(team, m.name, [m], fig))
        section.rows.append(line(team, _("Team total"), fig.managers, fig))
        everyone += fig.managers
    if with_team and figures:
        section.rows.append(line(_("Branch total"), "", everyone, figures[0][1]))
    return section


def _decided_section(figures: list[queries.WeeklyFigures]) -> Section:
    decided = Section(_("Escalations decided"), [_("Decision"), _("Escalations")],
                      formats=[TEXT, INT])
    for key in ("continue", "reassign", "abandon"):
        decided.rows.append([labels.label(labels.DECISION_STATES, key),
                             sum(f.decided.get(key, 0) for f in figures)])
    return decided
