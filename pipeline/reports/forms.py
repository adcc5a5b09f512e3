"""Filter forms of the report pages (read from the query string, no CSRF: they only read)
and the weekly summary form."""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from pipeline import labels
from pipeline.errors import NotFound
from pipeline.forms import option
from pipeline.reports.services import SUMMARY_MAX


def _int_or_none(value: object) -> int | None:
    if value in (None, "", "None"):
        return None
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None




SANE_DATES = (date(1900, 1, 1), date(2999, 12, 31))
WTFORMS_BAD_DATE = "Not a valid date value."  # WTForms' own message, in WTForms' catalogues


def sane_date(_form: object, field: DateField) -> None:
    """Within the years a record can have: the day after 9999-12-31 does not exist."""
    if field.data is not None and not SANE_DATES[0] <= field.data <= SANE_DATES[1]:
        raise ValidationError(field.gettext(WTFORMS_BAD_DATE))


class _QueryForm(FlaskForm):
    class Meta:
        csrf = False


class FunnelFilterForm(_QueryForm):
    team = SelectField(_l("Team"), coerce=_int_or_none, validators=[Optional()],
                       validate_choice=False)
    owner = SelectField(_l("Manager"), coerce=_int_or_none, validators=[Optional()],
                        validate_choice=False)
    tier = SelectField(_l("Tier"), validators=[Optional()])
    start = DateField(_l("From"), validators=[Optional(), sane_date])
    end = DateField(_l("To"), validators=[Optional(), sane_date])

    def __init__(self, *args, teams=(), managers=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.team.choices = [option("", _l("All"))] + [option(t.id, t.name) for t in teams]
        self.owner.choices = [option("", _l("All"))] + [option(u.id, u.name)
                                                         for u in managers]
        self.tier.choices = [option("", _l("All"))] + [option(k, v)
                                                        for k, v in labels.TIERS.items()]

    def validate_end(self, field) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            from wtforms.validators import ValidationError
            raise ValidationError(_l("The end of the period is before its start."))


ALL_TEAMS = "all"  # every team's totals: the weekly log and the daily sheet of a branch


def chosen_team(teams: list, wanted: object, own: int | None, manager: object = None
                ) -> tuple[object, bool]:
    """The team a supervisor's page of many managers shows (the touch report, the daily
    sheet, the after-sale report, the allocation form), and whether it is every team's
    totals (``wanted`` is :data:`ALL_TEAMS`) instead. ``wanted``: the team asked for (its
    id, as a number or the address's text), else the team of ``manager`` when one is
    asked for (every team's totals when that team is not in view), else ``own``, else the
    first. Without any team: no team and not every team's totals (every manager, as one
    list). A team asked for that is not in view is not found."""
    if not teams:
        return None, False
    if wanted == ALL_TEAMS:
        return None, True
    by_id = {t.id: t for t in teams}
    if wanted not in (None, ""):
        key = int(wanted) if isinstance(wanted, str) and wanted.isdigit() else wanted
        if key not in by_id:
            raise NotFound(_("No such team among those you may see."))
        return by_id[key], False
    if manager is not None:
        team_id = getattr(manager, "team_id", None)
        return (by_id[team_id], False) if team_id in by_id else (None, True)
    return by_id.get(own) or teams[0], False


def _team_or_all(value: object) -> int | str | None:
    return ALL_TEAMS if value == ALL_TEAMS else _int_or_none(value)


class DailyFilterForm(_QueryForm):
    team = SelectField(_l("Team"), coerce=_team_or_all, validators=[Optional()],
                       validate_choice=False)
    manager = SelectField(_l("Manager"), coerce=_int_or_none, validators=[Optional()],
                          validate_choice=False)
    day = DateField(_l("Day"), validators=[Optional()])

    def __init__(self, *args, managers=(), teams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.manager.choices = [option(u.id, u.name) for u in managers]
        everyone = [option(ALL_TEAMS, _l("All teams"))] if len(teams) > 1 else []
        self.team.choices = everyone + [option(t.id, t.name) for t in teams]


class WeeklyFilterForm(_QueryForm):
    team = SelectField(_l("Team"), coerce=_team_or_all, validators=[Optional()],
                       validate_choice=False)
    week = DateField(_l("Week of"), validators=[Optional()])

    def __init__(self, *args, teams=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        everyone = [option(ALL_TEAMS, _l("All teams"))] if len(teams) > 1 else []
        self.team.choices = everyone + [option(t.id, t.name) for t in teams]


class WeeklySummaryForm(FlaskForm):
    team = HiddenField()
    week = HiddenField()
    summary = TextAreaField(_l("Summary of the week"),
                            validators=[Length(max=SUMMARY_MAX)],
                            description=_l("What went well, what stalled, and what the team "
                                           "will do next week."))
