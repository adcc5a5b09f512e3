"""The complaint report page's period, on SQLite and PostgreSQL: it opens on the current
month (in the bank's time zone), a period of days is chosen, and both days empty is every
complaint since the first."""
from __future__ import annotations

import re

from sqlalchemy import select

from pipeline import clock
from pipeline.auth.models import User
from tests.complaints.test_report import DAY, history  # noqa: F401 (a fixture)
from tests.conftest import T0
from tests.prospects.test_views import sign_in


def _received(html: str, by: str = "category") -> int:
    """The complaints received in the page's total row of one table."""
    table = html.split(f'data-testid="report-{by}"', 1)[1].split("</table>", 1)[0]
    found = re.search(r'<tr class="total"><th scope="row">[^<]*</th>\s*'
                      r'<td class="num">(\d+)</td>', table)
    assert found, table
    return int(found.group(1))


def _supervisor(client, session):  # noqa: ANN001, ANN202
    boss = session.scalars(select(User).where(User.role == "supervisor")).one()
    sign_in(client, boss)
    return client


def test_the_report_opens_on_the_current_month(history, client, session):  # noqa: F811
    client = _supervisor(client, session)
    # The clock is on 1 April (Shanghai): March's three complaints are not this month's.
    html = client.get("/complaints/report").get_data(as_text=True)
    assert 'value="2026-04-01"' in html and 'name="to" value="2026-04-01"' in html
    assert _received(html) == 0 and _received(html, "manager") == 0
    assert 'data-testid="report-all-time"' in html
    # In March, all three; the next day, only the first is still a month's.
    clock.set_now(T0 + 2 * DAY)
    html = client.get("/complaints/report").get_data(as_text=True)
    assert 'value="2026-03-01"' in html and _received(html) == 3


def test_a_chosen_period_and_all_time(history, client, session):  # noqa: F811
    client = _supervisor(client, session)
    march = client.get("/complaints/report?from=2026-03-01&to=2026-03-31").get_data(
        as_text=True)
    assert _received(march) == 3 and "fees" in march and "service" in march
    # One day, both ends included: 2 March (Shanghai) has only the first complaint.
    one = client.get("/complaints/report?from=2026-03-02&to=2026-03-02").get_data(
        as_text=True)
    assert _received(one) == 1 and _received(one, "cause") == 1
    # From a day on, open-ended; up to a day, from the first complaint.
    assert _received(client.get("/complaints/report?from=2026-03-03").get_data(
        as_text=True)) == 2
    assert _received(client.get("/complaints/report?to=2026-03-03").get_data(
        as_text=True)) == 2
    every = client.get("/complaints/report?from=&to=").get_data(as_text=True)
    assert _received(every) == 3 and 'data-testid="report-all-time"' not in every
    # The recurring cause is counted over the period too.
    assert "2 complaints" in march and "2 complaints" not in one


def test_a_bad_period_shows_every_complaint_with_a_message(history, client, session):  # noqa: F811
    client = _supervisor(client, session)
    for args in ("from=someday", "from=2026-03-05&to=2026-03-01", "to=0001-01-01",
                 "from=9999-12-31"):
        r = client.get(f"/complaints/report?{args}")
        html = r.get_data(as_text=True)
        assert r.status_code == 200, args
        assert "That period is not valid; showing every complaint." in html, args
        assert _received(html) == 3, args


def test_the_period_speaks_chinese(history, client, session):  # noqa: F811
    client = _supervisor(client, session)
    client.post("/language", data={"locale": "zh_CN", "next": "/"})
    html = client.get("/complaints/report?from=x").get_data(as_text=True)
    for words in ("受理日期自", "全部时间", "该期间无效，显示全部投诉。"):
        assert words in html, words
