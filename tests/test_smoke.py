def test_walk(factory, session):
    p = factory.prospect(stage="after_sale")
    assert p.stage == "after_sale" and p.status == "won"
