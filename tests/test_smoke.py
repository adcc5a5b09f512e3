def test_walk(factory, session):
    p = factory.prospect(stage="after_sale")
    assert p.stage == "after_sale" and p.status == "won"


def test_login_page(client, factory):
    factory.user(email="m@bank.test")
    r = client.get("/login")
    assert r.status_code == 200
    r = client.post("/login", data={"email": "m@bank.test", "password": "secret-pass"})
    assert r.status_code == 302
