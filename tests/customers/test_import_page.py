"""The customer-book import page: a preview (dry run) lists every row error with its row
and column and writes nothing; a clean file previews, then imports in one go; only
supervisors and administrators see the page."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from pipeline.customers.models import BookCustomer
from pipeline.prospects.models import Prospect
from tests.customers.test_import import csv_file, line

URL = "/imports/customers"


def sign_in(client, user) -> None:
    client.post("/login", data={"email": user.email, "password": "secret-pass"})


def upload(client, data: bytes, name: str = "book.csv", language: str = "en"):
    return client.post(URL, data={"preview": "1", "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data",
                       headers={"Accept-Language": language})


def written(session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Prospect)),
            session.scalar(select(func.count()).select_from(BookCustomer)))


def test_the_preview_lists_every_error_and_writes_nothing(client, session, factory):
    boss = factory.user("supervisor")
    li = factory.user("manager", "Team A")
    sign_in(client, boss)
    page = client.get(URL)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.get_data(as_text=True)
    assert "/imports/customers/template.csv" in page.get_data(as_text=True)
    bad_phone = line(2, li.email).replace("13900000002", "12345")
    data = csv_file(line(1, li.email), bad_phone, line(3, "nobody@bank.test"), line(1))
    r = upload(client, data, "book.csv", "en")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert html.count('data-testid="import-error"') == 4
    for row, column in (("3", "phone"), ("4", "manager"), ("5", "customer_no"),
                        ("5", "id_number")):
        assert f"<td>{row}</td><td>{column}</td>" in html
    assert "The file has 4 errors; nothing was imported." in html
    assert 'data-testid="import-confirm"' not in html
    assert written(session) == (0, 0)


def test_a_clean_file_previews_then_imports(client, session, factory):
    boss = factory.user("admin")
    li = factory.user("manager", "Team A")
    sign_in(client, boss)
    data = csv_file(line(11, li.email), line(12, li.email), line(13))
    r = upload(client, data)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'data-testid="would-create">3<' in html
    assert 'data-testid="would-allocate">2<' in html
    assert 'data-testid="would-leave-unallocated">1<' in html
    assert 'data-testid="import-confirm"' in html and "import-error" not in html
    assert written(session) == (0, 0)  # the preview wrote nothing
    with client.session_transaction() as s:
        token = s["customer_import"]["token"]
    assert token in html
    en = {"Accept-Language": "en"}
    r = client.post(URL, data={"import": "1", "token": "x" * 32}, follow_redirects=True,
                    headers=en)
    assert "preview it again" in r.get_data(as_text=True) and written(session) == (0, 0)
    r = client.post(URL, data={"import": "1", "token": token}, follow_redirects=True,
                    headers=en)
    assert r.status_code == 200
    assert "Imported: 3 created, 0 updated, 2 allocated, 1 left unallocated." in \
        r.get_data(as_text=True)
    assert written(session) == (2, 1)
    # The kept file is gone with the token: importing it again is refused.
    r = client.post(URL, data={"import": "1", "token": token}, follow_redirects=True,
                    headers=en)
    assert "preview it again" in r.get_data(as_text=True)
    # The same file again: nothing to do.
    r = upload(client, data)
    assert 'data-testid="would-create">0<' in r.get_data(as_text=True)


def test_the_page_speaks_chinese(client, factory):
    sign_in(client, factory.user("supervisor"))
    html = client.get(URL, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "导入客户" in html and "预览" in html


def test_managers_and_team_leads_are_refused(client, session, factory):
    for role in ("manager", "team_lead"):
        user = factory.user(role, "Team A")
        sign_in(client, user)
        assert client.get(URL).status_code == 403
        r = upload(client, csv_file(line(21, user.email)))
        assert r.status_code == 403
        html = client.get("/board").get_data(as_text=True)
        assert URL + '"' not in html  # no nav entry
        client.post("/logout")
    assert written(session) == (0, 0)
