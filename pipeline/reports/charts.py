"""Server-rendered SVG charts of the funnel. Each chart is an image with a title and a
description; the page shows the same figures in a table beside it (the accessible form),
so the SVG itself is hidden from screen readers' reading of numbers, not from sight."""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
ROW = 34
LABEL_W = 170
PAD = 8
FONT = 12  # px, as static/reports.css sets for .chart
LINE = 14  # px between the lines of a wrapped label


def text_width(text: str, size: float = FONT) -> float:
    """A generous estimate of the drawn width of ``text`` in a sans-serif font: a full-width
    (Chinese) character is one em, anything else at most 0.62 em."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.62
               for ch in text)


def wrap_label(text: str, width: float = LABEL_W - 10) -> list[str]:
    """``text`` in lines no wider than ``width``: broken between words, and between
    characters where a word alone is too wide (Chinese has no spaces)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if text_width(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = ""
        for ch in word:
            if text_width(line + ch) > width and line:
                lines.append(line)
                line = ""
            line += ch
    if line:
        lines.append(line)
    return lines or [""]


def _row_height(names: Sequence[str]) -> int:
    most = max([len(wrap_label(n)) for n in names] + [1])
    return max(ROW, most * LINE + 8)


def _label(name: str, y: float, row: float) -> str:
    """The stage's name right-aligned before the bars, wrapped and centred on its row."""
    lines = wrap_label(name)
    first = y + row / 2 + 4 - (len(lines) - 1) * LINE / 2
    spans = "".join(f'<tspan x="{LABEL_W - 6}" y="{first + i * LINE:.1f}">{escape(line)}</tspan>'
                    for i, line in enumerate(lines))
    return f'<text text-anchor="end" class="chart-label">{spans}</text>'


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def funnel_chart(rows: Sequence[tuple[str, int, int, float | None]], *, title: str,
                 desc: str, chart_id: str = "funnel-chart") -> Markup:
    """Horizontal bars per stage: ``rows`` = (stage name, entered, advanced, conversion).

    The pale bar is how many entered, the dark part how many of them advanced."""
    top = max([r[1] for r in rows] + [1])
    span = WIDTH - LABEL_W - 130
    row_h = _row_height([r[0] for r in rows])
    height = PAD * 2 + row_h * len(rows)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" '
              f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
              f'aria-labelledby="{chart_id}-title {chart_id}-desc">'),
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for i, (name, entered, advanced, conversion) in enumerate(rows):
        y = PAD + i * row_h
        w_in = span * entered / top
        w_adv = span * advanced / top
        # Centre the bars: a funnel narrows towards the later stages.
        x_in = LABEL_W + (span - w_in) / 2
        x_adv = LABEL_W + (span - w_adv) / 2
        parts.append(_label(name, y, row_h))
        parts.append(f'<rect x="{x_in:.1f}" y="{y + 3}" width="{w_in:.1f}" '
                     f'height="{row_h - 6}" class="bar-entered"/>')
        parts.append(f'<rect x="{x_adv:.1f}" y="{y + 3}" width="{w_adv:.1f}" '
                     f'height="{row_h - 6}" class="bar-advanced"/>')
        pct = "–" if conversion is None else f"{conversion * 100:.1f}%"
        parts.append(f'<text x="{WIDTH - 124}" y="{y + row_h / 2 + 4:.1f}" '
                     f'class="chart-value">{entered} → {advanced} ({pct})</text>')
    parts.append("</svg>")
    # Every text in it went through escape().
    return Markup("".join(parts))  # nosec B704


def time_chart(rows: Sequence[tuple[str, float | None, float | None, int | None]], *,
               title: str, desc: str, unit: str, chart_id: str = "time-chart") -> Markup:
    """Per stage a bar to the median days and a whisker to the 90th percentile; ``rows`` =
    (stage name, median, p90, limit days or None). A tick marks the stage's limit.

    The scale fits the stages that have a limit; a stage without one (after-sale lasts as
    long as the relationship) is drawn cut at the edge, its figures in the label."""
    limited = [r for r in rows if r[3]] or list(rows)
    top = max([r[2] or 0 for r in limited] + [r[3] or 0 for r in limited] + [1])
    span = WIDTH - LABEL_W - 110
    row_h = _row_height([r[0] for r in rows])
    height = PAD * 2 + row_h * len(rows)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" '
              f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
              f'aria-labelledby="{chart_id}-title {chart_id}-desc">'),
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for i, (name, median, p90, limit) in enumerate(rows):
        y = PAD + i * row_h
        mid = y + row_h / 2
        parts.append(_label(name, y, row_h))
        if median is not None:
            parts.append(f'<rect x="{LABEL_W}" y="{y + 7}" '
                         f'width="{span * min(median, top) / top:.1f}" '
                         f'height="{row_h - 14}" class="bar-median"/>')
        if p90 is not None:
            x = LABEL_W + span * min(p90, top) / top
            parts.append(f'<line x1="{LABEL_W}" x2="{x:.1f}" y1="{mid}" y2="{mid}" '
                         f'class="whisker"/><line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 9}" '
                         f'y2="{y + row_h - 9}" class="whisker"/>')
        if limit:
            x = LABEL_W + span * limit / top
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2}" y2="{y + row_h - 2}" '
                         f'class="limit"/>')
        parts.append(f'<text x="{WIDTH - 104}" y="{mid + 4:.1f}" class="chart-value">'
                     f'{escape(_fmt(median))} / {escape(_fmt(p90))} {escape(unit)}</text>')
    parts.append("</svg>")
    # Every text in it went through escape().
    return Markup("".join(parts))  # nosec B704
