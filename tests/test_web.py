"""The layout's small pieces: the icon every browser asks for."""
from __future__ import annotations


def test_the_icon_is_served_without_signing_in(client):
    page = client.get("/favicon.ico")
    assert page.status_code == 301
    icon = client.get(page.headers["Location"])
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml"
    assert b"<svg" in icon.data


def test_every_page_links_the_icon(client):
    page = client.get("/login")
    assert b'rel="icon"' in page.data
