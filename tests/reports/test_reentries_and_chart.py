"""The funnel counts each prospect once per stage, re-entries apart; the charts' stage names
are wrapped to fit their column in both languages."""
from __future__ import annotations

import re

from pipeline import workflows
from pipeline.reports import charts, queries
from pipeline.reports.queries import Filters
from tests.reports.conftest import day, walk


def test_back_and_forth_counts_the_prospect_once(session, factory, history):
    m = factory.user("manager", "Team A")
    sup = factory.user("supervisor")
    # Learn entered three times (twice after going back), decision_maker twice.
    history.prospect(m, walk(("create", "first_contact", 0), ("advance", "learn", 1),
                             ("advance", "decision_maker", 2), ("back", "learn", 3),
                             ("advance", "decision_maker", 4), ("back", "learn", 5),
                             ("lose", "learn", 6, "无意向")), name="Q1")
    history.prospect(m, walk(("create", "first_contact", 0), ("advance", "learn", 2)),
                     name="Q2")
    f = {x.key: x for x in queries.funnel(session, sup, Filters())}
    learn = f["learn"]
    assert (learn.entered, learn.reentered, learn.current) == (2, 2, 1)
    # Q1 advanced (twice) and was lost: once each; the share is of prospects, not visits.
    assert (learn.advanced, learn.lost, learn.back) == (1, 1, 0)
    assert learn.conversion == 0.5
    dm = f["decision_maker"]
    assert (dm.entered, dm.reentered, dm.back, dm.advanced) == (1, 1, 1, 0)
    assert dm.conversion == 0.0
    assert (f["first_contact"].entered, f["first_contact"].reentered) == (2, 0)
    # A period that holds only the second and third entries into learn: one prospect, one
    # of its entries is a re-entry within the period.
    f = {x.key: x for x in queries.funnel(session, sup, Filters(start=day(2.5), end=day(6)))}
    assert (f["learn"].entered, f["learn"].reentered) == (1, 1)
    # every visit is still timed
    assert queries.funnel(session, sup, Filters())[1].days_count == 4


def _label_lines(svg: str) -> list[list[str]]:
    return [re.findall(r"<tspan[^>]*>([^<]*)</tspan>", t)
            for t in re.findall(r'<text text-anchor="end" class="chart-label">(.*?)</text>', svg)]


def test_stage_names_fit_their_column_in_both_languages():
    names = []
    for engine in workflows.all_engines().values():
        for stage in engine.workflow.stages:
            names += [stage.name.get("en"), stage.name.get("zh_CN")]
    names.append("Identify the decision maker and the decision path of the family")
    for name in names:
        lines = charts.wrap_label(name)
        assert all(charts.text_width(line) <= charts.LABEL_W - 10 for line in lines), name
        assert " ".join(lines).replace(" ", "") == name.replace(" ", "")
    long = "Identify the decision maker and the decision path of the family"
    rows = [("First contact", 10, 8, 0.8), (long, 8, 4, 0.5), ("识别决策人", 4, 1, 0.25)]
    svg = str(charts.funnel_chart(rows, title="t", desc="d"))
    labels = _label_lines(svg)
    assert labels[0] == ["First contact"] and labels[2] == ["识别决策人"]
    assert len(labels[1]) > 1 and " ".join(labels[1]) == long  # wrapped, nothing cut
    # the rows grow with the wrapped label: no label line runs into the next row
    height = int(re.search(r'viewBox="0 0 \d+ (\d+)"', svg).group(1))
    assert height >= charts.PAD * 2 + 3 * len(labels[1]) * charts.LINE
    assert "(80.0%)" in svg and "(25.0%)" in svg
    svg = str(charts.time_chart([(long, 2.0, 3.0, 5)], title="t", desc="d", unit="days"))
    assert " ".join(_label_lines(svg)[0]) == long
