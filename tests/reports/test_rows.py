"""The report pages' long tables written in Python: the daily totals' rows (each
manager's, each team's total, the branch's) and the many-option select, which renders
as WTForms' own select does."""
from __future__ import annotations

from datetime import date

from wtforms import Form, SelectField, widgets

from pipeline.forms import option
from pipeline.reports.queries import DayTotals, ManagerDay
from pipeline.reports.rows import ManyOptions, daily_totals_rows, memo


def _totals(working_day: bool = True) -> DayTotals:
    return DayTotals(date(2026, 3, 2), working_day, [
        ManagerDay(1, "Li <Lei>", "Team & A", calls=10, meetings=1, contacts=12, won=1),
        ManagerDay(2, "Wang", "Team & A", calls=30, meetings=3, contacts=33, lost=2),
        ManagerDay(3, "Zhao", None, calls=5, created=4)])


def test_each_manager_each_team_and_the_branch(app):
    with app.test_request_context():
        html = str(daily_totals_rows(_totals(), branch_view=True))
        team_view = str(daily_totals_rows(_totals(), branch_view=False))
    assert html.count('data-row="manager"') == 3 and html.count('data-row="team-total"') == 2
    assert html.count("<tbody>") == 2 and html.count("<tfoot>") == 1
    assert "Li &lt;Lei&gt;" in html and "Team &amp; A" in html and "<Lei>" not in html
    # Team A: 40 calls of a norm of 2 × 20, 4 meetings of 2 × 2.
    team_a = html.split('data-row="team-total"')[1].split("</tr>")[0]
    assert '40 <span class="muted">/ 40</span>' in team_a and "100.0%" in team_a
    assert '4 <span class="muted">/ 4</span>' in team_a
    branch = html.split("<tfoot>")[1]
    assert '45 <span class="muted">/ 60</span>' in branch and "75.0%" in branch
    assert "<td>–</td>" in html  # the manager without a team
    assert "<tfoot>" not in team_view and team_view.count('data-row="manager"') == 3


def test_a_day_off_shows_no_share(app):
    with app.test_request_context():
        html = str(daily_totals_rows(_totals(working_day=False), branch_view=False))
    assert '<span class="muted">/ 0</span>' in html and "%" not in html


def test_many_options_render_as_wtforms_select():
    class Plain(Form):
        who = SelectField(choices=[option(3, "Li & <b>"), option(4, 'Wang "W"'), option(5)],
                          widget=widgets.Select())

    class Fast(Form):
        who = SelectField(choices=[option(3, "Li & <b>"), option(4, 'Wang "W"'), option(5)],
                          widget=ManyOptions())

    for data in ({"who": "4"}, {}):
        plain, fast = Plain(data=data), Fast(data=data)
        assert str(fast.who(class_="x")) == str(plain.who(class_="x"))
    assert "selected" in str(Fast(data={"who": "4"}).who())


def test_memo_answers_each_key_once():
    calls = []

    def name(key):  # noqa: ANN001, ANN202
        calls.append(key)
        return f"<{key}>"

    named = memo(name)
    assert [named("gold"), named("gold"), named(None), named("gold")] == [
        "<gold>", "<gold>", "<None>", "<gold>"]
    assert calls == ["gold", None]


def test_memo_writes_lazy_texts_as_they_were(app):
    from flask_babel import lazy_gettext

    with app.test_request_context():
        named = memo(lambda key: lazy_gettext("A & B"))
        value = named("x")
        assert str(value) == "A & B" and value.__html__() == "A & B"
