"""The allocation pages and API: the filtered, masked book; allocation with each manager's
count shown and a clear error over the cap; claims approved and refused; the move of a
leaving manager's customers; who may do what; both languages."""
from __future__ import annotations

from sqlalchemy import func, select

from pipeline.customers import allocation
from pipeline.customers.models import BookCustomer, CustomerClaim
from pipeline.escalations.models import Handover
from pipeline.prospects.models import Prospect
from tests.customers.test_allocation import book, fill, ids, row


def sign_in(client, user) -> None:
    client.post("/login", data={"email": user.email, "password": "secret-pass"})


def test_the_page_filters_the_book_and_masks_the_numbers(client, session, factory):
    boss = factory.user("supervisor")
    li = factory.user("manager")
    book(session, row(1, "East", assets="650000"), row(2, "West", assets="40000",
                                                        potential="low"))
    sign_in(client, boss)
    page = client.get("/allocation", headers={"Accept-Language": "en"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and html.count('data-testid="book-row"') == 2
    assert "110101198001020001" not in html and "13900000001" not in html
    assert "139****0001" in html
    assert f"{li.name} (0/{allocation.cap()})" in html
    east = client.get("/allocation?area=East").get_data(as_text=True)
    assert east.count('data-testid="book-row"') == 1 and "C000001" in east
    rich = client.get("/allocation?assets_from=100000").get_data(as_text=True)
    assert rich.count('data-testid="book-row"') == 1 and "C000002" not in rich
    bad = client.get("/allocation?assets_from=lots", headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and "Must be a number" in bad.get_data(as_text=True)
    zh = client.get("/allocation", headers={"Accept-Language": "zh-CN"})
    assert "未分配客户" in zh.get_data(as_text=True)


def test_allocate_from_the_page_and_a_clear_error_over_the_cap(client, session, factory,
                                                               monkeypatch):
    boss = factory.user("supervisor")
    li = factory.user("manager")
    monkeypatch.setattr(allocation, "_cap", lambda: 2)
    fill(factory, li, 1)
    book(session, row(1), row(2), row(3))
    sign_in(client, boss)
    over = client.post("/allocation/allocate", data={
        "customers": [str(i) for i in ids(session, 1, 2)], "manager": str(li.id)},
        headers={"Accept-Language": "en"})
    html = over.get_data(as_text=True)
    assert over.status_code == 422
    assert "The manager maintains 1 of 2 customers: 2 more would pass the cap." in html
    assert f"{li.name} (1/2)" in html
    assert session.scalar(select(func.count()).select_from(BookCustomer)) == 3
    done = client.post("/allocation/allocate", data={
        "customers": [str(i) for i in ids(session, 1)], "manager": str(li.id),
        "back": "/allocation?tier=gold"})
    assert done.status_code == 302 and done.headers["Location"].endswith(
        "/allocation?tier=gold")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.customer_no == "C000001", Prospect.owner_id == li.id)) == 1
    again = client.post("/allocation/allocate", data={
        "customers": [str(i) for i in ids(session, 2)] + ["999999"],
        "manager": str(li.id)}, headers={"Accept-Language": "en"})
    assert again.status_code == 409
    assert "allocated meanwhile" in again.get_data(as_text=True)
    none = client.post("/allocation/allocate", data={"manager": ""},
                       headers={"Accept-Language": "en"})
    assert none.status_code == 422
    assert "This field is required." in none.get_data(as_text=True)


def test_a_manager_claims_and_the_supervisor_decides_on_the_pages(client, session, factory):
    boss = factory.user("supervisor")
    li, wu = factory.user("manager"), factory.user("manager")
    book(session, row(1), row(2))
    first, second = ids(session, 1, 2)
    sign_in(client, li)
    page = client.get("/allocation", headers={"Accept-Language": "en"})
    assert 'data-testid="claim"' in page.get_data(as_text=True)
    assert client.post("/allocation/allocate", data={"customers": [str(first)],
                                                      "manager": str(li.id)}).status_code == 403
    r = client.post("/allocation/claim", data={"customers": [str(first), str(second)],
                                                "note": "neighbours"})
    assert r.status_code == 302
    assert client.get("/allocation/move").status_code == 403
    client.post("/logout")
    sign_in(client, boss)
    claims = client.get("/allocation/claims", headers={"Accept-Language": "en"})
    assert claims.get_data(as_text=True).count('data-testid="claim-row"') == 2
    assert f"{li.name} (0/{allocation.cap()})" in claims.get_data(as_text=True)
    rows = session.scalars(select(CustomerClaim).order_by(CustomerClaim.id)).all()
    assert client.post(f"/allocation/claims/{rows[0].id}/approve").status_code == 302
    empty = client.post(f"/allocation/claims/{rows[1].id}/refuse", data={
        f"r{rows[1].id}-note": ""}, headers={"Accept-Language": "en"})
    assert empty.status_code == 422
    assert "This field is required." in empty.get_data(as_text=True)
    assert client.post(f"/allocation/claims/{rows[1].id}/refuse", data={
        f"r{rows[1].id}-note": "Known to Team B"}).status_code == 302
    session.expire_all()
    assert [c.status for c in session.scalars(select(CustomerClaim).order_by(
        CustomerClaim.id))] == ["approved", "refused"]
    assert session.scalars(select(Prospect.owner_id)).all() == [li.id]
    assert wu.id


def test_the_move_page_moves_or_says_how_many_places_are_missing(client, session, factory,
                                                                 monkeypatch):
    boss = factory.user("supervisor")
    old, a = factory.user("manager"), factory.user("manager")
    monkeypatch.setattr(allocation, "_cap", lambda: 3)
    fill(factory, a, 2)
    for i in range(2):
        factory.prospect(old, name=f"Mine {i}")
    sign_in(client, boss)
    assert client.get("/allocation/move").status_code == 200
    short = client.post("/allocation/move", data={"leaving": str(old.id),
                                                   "receivers": [str(a.id)]},
                        headers={"Accept-Language": "en"})
    assert short.status_code == 422
    assert "lack 1 places under the cap of 3" in short.get_data(as_text=True)
    b = factory.user("manager")
    done = client.post("/allocation/move", data={"leaving": str(old.id),
                                                  "receivers": [str(a.id), str(b.id)],
                                                  "deactivate": "y"})
    assert done.status_code == 302
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Handover)) == 2
    assert session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.owner_id == old.id)) == 0


def test_the_api_allocates_claims_and_moves(client, session, factory, monkeypatch):
    boss = factory.user("supervisor")
    li, wu = factory.user("manager"), factory.user("manager")
    book(session, row(1, "East"), row(2), row(3))
    first, second, third = ids(session, 1, 2, 3)
    boss_h = {"Authorization": f"Bearer {factory.token(boss)}"}
    li_h = {"Authorization": f"Bearer {factory.token(li)}"}
    listed = client.get("/api/v1/book?area=East", headers=li_h).get_json()
    assert [i["customer_no"] for i in listed["items"]] == ["C000001"]
    assert "*" in listed["items"][0]["phone"] and listed["areas"] == ["East"]
    bad = client.get("/api/v1/book?tier=bronze", headers=li_h)
    assert bad.status_code == 422 and "tier" in bad.get_json()["error"]["details"]
    r = client.post("/api/v1/book/allocations", json={"customers": [first],
                                                      "manager": li.email}, headers=boss_h)
    assert r.status_code == 201 and r.get_json()["allocated"][0]["customer_id"] == first
    r = client.post("/api/v1/book/allocations", json={"customers": [first],
                                                      "manager": wu.email}, headers=boss_h)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_allocated"
    r = client.post("/api/v1/book/allocations", json={"customers": [second],
                                                      "manager": li.email}, headers=li_h)
    assert r.status_code == 403
    monkeypatch.setattr(allocation, "_cap", lambda: 1)
    r = client.post("/api/v1/book/allocations", json={"customers": [second],
                                                      "manager": li.email}, headers=boss_h)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "over_capacity"
    assert r.get_json()["error"]["details"]["count"] == 1
    monkeypatch.setattr(allocation, "_cap", lambda: 250)
    r = client.post("/api/v1/book/claims", json={"customers": [second, third]}, headers=li_h)
    assert r.status_code == 201 and len(r.get_json()["claims"]) == 2
    pending = client.get("/api/v1/book/claims", headers=boss_h).get_json()["items"]
    assert {p["customer_no"] for p in pending} == {"C000002", "C000003"}
    assert "*" in pending[0]["customer"]["id_number"]
    by_no = {p["customer_no"]: p["id"] for p in pending}
    r = client.post(f"/api/v1/book/claims/{by_no['C000002']}/approve", headers=boss_h)
    assert r.status_code == 200 and r.get_json()["prospect_id"]
    r = client.post(f"/api/v1/book/claims/{by_no['C000003']}/refuse", json={"note": ""},
                    headers=boss_h)
    assert r.status_code == 422 and list(r.get_json()["error"]["details"]) == ["note"]
    r = client.post(f"/api/v1/book/claims/{by_no['C000003']}/refuse",
                    json={"note": "no"}, headers=boss_h)
    assert r.status_code == 200 and r.get_json()["status"] == "refused"
    r = client.post("/api/v1/book/moves", json={"leaving": li.email,
                                                 "receivers": [wu.email]}, headers=boss_h)
    assert r.status_code == 200
    assert r.get_json() == {"leaving": li.id, "moved": 2,
                            "to": [{"manager": wu.id, "count": 2}], "handovers": 2,
                            "deactivated": False}


def test_the_audit_log_names_allocations(client, session, factory):
    boss = factory.user("supervisor")
    li = factory.user("manager")
    book(session, row(1))
    sign_in(client, boss)
    client.post("/allocation/allocate", data={"customers": [str(i) for i in ids(session, 1)],
                                              "manager": str(li.id)})
    page = client.get("/audit", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "分配客户" in page


def test_the_navigation_counts_pending_claims_for_the_supervisor(client, session, factory):
    boss = factory.user("supervisor")
    li = factory.user("manager")
    book(session, row(1), row(2))
    allocation.claim(session, {"customers": ids(session, 1, 2)}, actor=li)
    sign_in(client, boss)
    html = client.get("/allocation/claims").get_data(as_text=True)
    assert '<span class="badge" data-testid="pending_claims">2</span>' in html
    client.post("/logout")
    sign_in(client, li)
    assert 'data-testid="pending_claims"' not in client.get("/allocation").get_data(
        as_text=True)
