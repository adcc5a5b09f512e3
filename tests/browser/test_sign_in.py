"""Signing in and out in a real browser."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_sign_in_and_out(page, live_factory, login):
    manager = live_factory.user("manager", "Team A")
    login(page, manager.email)
    assert manager.name in page.locator(".userbox").inner_text()
    page.locator(".userbox form button.linkbutton", has_text="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url


def test_wrong_password_is_refused(page, live_factory):
    manager = live_factory.user("manager", "Team A")
    page.goto("/login")
    page.fill("input[name=email]", manager.email)
    page.fill("input[name=password]", "not-the-password")
    page.click("form button[type=submit].primary")
    assert page.locator(".flash-error").is_visible()
    assert "/login" in page.url
