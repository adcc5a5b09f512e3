"""The catalogues agree with each other, and the sign-in prompt speaks the user's language."""
from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent / "pipeline"


def test_one_chinese_term_per_english_string_across_catalogues():
    # Flask-Babel merges the packages' catalogues: two translations of one msgid would make
    # the page's wording depend on merge order.
    seen: dict[str, dict[str, list[str]]] = {}
    for po in sorted(ROOT.glob("**/translations/zh_CN/LC_MESSAGES/messages.po")):
        with po.open("rb") as f:
            for message in read_po(f):
                if not message.id or not message.string:
                    continue
                key = message.id if isinstance(message.id, str) else message.id[0]
                text = message.string if isinstance(message.string, str) else message.string[0]
                seen.setdefault(key, {}).setdefault(text, []).append(str(po.relative_to(ROOT)))
    clashes = {k: v for k, v in seen.items() if len(v) > 1}
    assert clashes == {}


def test_sign_in_prompt_is_translated(client):
    r = client.get("/board", headers={"Accept-Language": "zh-CN"}, follow_redirects=True)
    assert "请先登录。" in r.get_data(as_text=True)
    r = client.get("/board", headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "Please sign in to see this page." in r.get_data(as_text=True)
