"""Server-rendered SVG charts of the funnel. Each chart is an image with a title and a
description; the page shows the same figures in a table beside it (the accessible form),
so the SVG itself is hidden from screen readers' reading of numbers, not from sight."""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 640
ROW = 34
LABEL_W = 150
PAD = 8


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def funnel_chart(rows: Sequence[tuple[str, int, int, float | None]], *, title: str,
                 desc: str, chart_id: str = "funnel-chart") -> Markup:
    """Horizontal bars per stage: ``rows`` = (stage name, entered, advanced, conversion).

    The pale bar is how many entered, the dark part how many of them advanced."""
    top = max([r[1] for r in rows] + [1])
    span = WIDTH - LABEL_W - 130
    height = PAD * 2 + ROW * len(rows)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" '
              f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
              f'aria-labelledby="{chart_id}-title {chart_id}-desc">'),
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for i, (name, entered, advanced, conversion) in enumerate(rows):
        y = PAD + i * ROW
        w_in = span * entered / top
        w_adv = span * advanced / top
        # Centre the bars: a funnel narrows towards the later stages.
        x_in = LABEL_W + (span - w_in) / 2
        x_adv = LABEL_W + (span - w_adv) / 2
        parts.append(f'<text x="{LABEL_W - 6}" y="{y + ROW / 2 + 4:.1f}" '
                     f'text-anchor="end" class="chart-label">{escape(name)}</text>')
        parts.append(f'<rect x="{x_in:.1f}" y="{y + 3}" width="{w_in:.1f}" '
                     f'height="{ROW - 6}" class="bar-entered"/>')
        parts.append(f'<rect x="{x_adv:.1f}" y="{y + 3}" width="{w_adv:.1f}" '
                     f'height="{ROW - 6}" class="bar-advanced"/>')
        pct = "–" if conversion is None else f"{conversion * 100:.0f}%"
        parts.append(f'<text x="{WIDTH - 124}" y="{y + ROW / 2 + 4:.1f}" '
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
    height = PAD * 2 + ROW * len(rows)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" '
              f'viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
              f'aria-labelledby="{chart_id}-title {chart_id}-desc">'),
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for i, (name, median, p90, limit) in enumerate(rows):
        y = PAD + i * ROW
        mid = y + ROW / 2
        parts.append(f'<text x="{LABEL_W - 6}" y="{mid + 4:.1f}" text-anchor="end" '
                     f'class="chart-label">{escape(name)}</text>')
        if median is not None:
            parts.append(f'<rect x="{LABEL_W}" y="{y + 7}" '
                         f'width="{span * min(median, top) / top:.1f}" '
                         f'height="{ROW - 14}" class="bar-median"/>')
        if p90 is not None:
            x = LABEL_W + span * min(p90, top) / top
            parts.append(f'<line x1="{LABEL_W}" x2="{x:.1f}" y1="{mid}" y2="{mid}" '
                         f'class="whisker"/><line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 9}" '
                         f'y2="{y + ROW - 9}" class="whisker"/>')
        if limit:
            x = LABEL_W + span * limit / top
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 2}" y2="{y + ROW - 2}" '
                         f'class="limit"/>')
        parts.append(f'<text x="{WIDTH - 104}" y="{mid + 4:.1f}" class="chart-value">'
                     f'{escape(_fmt(median))} / {escape(_fmt(p90))} {escape(unit)}</text>')
    parts.append("</svg>")
    # Every text in it went through escape().
    return Markup("".join(parts))  # nosec B704
