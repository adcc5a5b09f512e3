"""The package is the product: a wheel built from the source distribution, installed into a
fresh virtualenv and run outside the checkout, migrates, seeds the demo and serves every
page from its own templates, static files, workflows and compiled catalogues — in Chinese
without an English string left, and in English."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
# What a source checkout holds that the package build does not read.
NOT_BUILT = {".git", ".venv", "build", "dist", "instance", "bench", "docs", "tests",
             ".pytest_cache", ".ruff_cache"}
PAGES = ("/board", "/my-day", "/reports/funnel")
# The English UI strings of those pages, none of which may be left on a Chinese page.
ENGLISH = ["Bank pipeline", "Board", "My day", "Funnel", "Reports", "Inbox", "Sign out",
           "Customer manager", "New prospect", "Search", "Tier", "Status", "Filter",
           "Overdue only", "First contact", "Learn the customer", "Needs discovery",
           "After-sale", "Platinum", "Calls today", "Tasks due today", "Stage funnel",
           "Conversion by stage", "Time in stage", "Lost reasons"]
CHINESE = ["看板", "我的今天", "漏斗", "报表", "退出登录", "初次接触", "了解熟悉客户",
           "售后管理"]
# Text that is the same in both languages by design.
BOTH_LANGUAGES = {"English", "中文", "CSV", "Excel (XLSX)"}

# Runs in the installed virtualenv: signs in, switches the language with the header's
# form, and prints every page's visible text together with where the app found its files.
PROBE = textwrap.dedent('''
    import json, re, sys
    from html.parser import HTMLParser

    import pipeline
    from pipeline import create_app, resources

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.nodes, self.skip = [], 0
        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("script", "style")
        def handle_endtag(self, tag):
            self.skip -= tag in ("script", "style")
        def handle_data(self, data):
            if not self.skip and data.strip():
                self.nodes.append(" ".join(data.split()))

    def csrf(html):
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)

    app = create_app()
    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    signed_in = client.post("/login", data={"csrf_token": csrf(login),
                                            "email": "manager1@demo.bank",
                                            "password": "demo-password"})
    pages = {"signed_in": signed_in.status_code}
    for locale in ("zh_CN", "en"):
        board = client.get("/board").get_data(as_text=True)
        switched = client.post("/language", data={"csrf_token": csrf(board),
                                                  "locale": locale, "next": "/board"})
        pages[locale] = {"switched": switched.status_code}
        for url in sys.argv[1:]:
            response = client.get(url)
            text = Text()
            text.feed(response.get_data(as_text=True))
            pages[locale][url] = {"status": response.status_code, "text": text.nodes}
    css = client.get("/static/app.css")
    print(json.dumps({
        "prefix": sys.prefix,
        "pipeline": pipeline.__file__,
        "templates": app.jinja_loader.searchpath,
        "static": app.static_folder,
        "static_ok": css.status_code == 200
                     and css.data == (resources.STATIC_DIR / "app.css").read_bytes(),
        "workflows": str(resources.WORKFLOWS_DIR),
        "migrations": str(resources.MIGRATIONS_DIR),
        "catalogues": sorted(str(p) for d in resources.translation_dirs()
                             for p in d.glob("*/LC_MESSAGES/messages.mo")),
        "pages": pages,
    }, ensure_ascii=False))
''')


def _run(*args: str | Path, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Build sdist and wheel from a copy of the checkout (a concurrent build cannot clash
    with it), install the wheel into a new virtualenv and run the app from an empty folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.egg-info", "*.mo")
    for entry in ROOT.iterdir():
        if entry.name in NOT_BUILT or ignore(str(ROOT), [entry.name]):
            continue
        if entry.is_dir():
            shutil.copytree(entry, source / entry.name, ignore=ignore)
        else:
            shutil.copy2(entry, source / entry.name)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIPELINE_", "FLASK_", "PYTHON"))
           and k not in ("DATABASE_URL", "VIRTUAL_ENV")}
    # sdist, then the wheel from the unpacked sdist: proves the sdist carries what the build needs
    _run(sys.executable, "-m", "build", "--outdir", tmp / "dist", source, cwd=tmp, env=env)
    (wheel,) = (tmp / "dist").glob("*.whl")

    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp, env=env)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel,
         cwd=tmp, env=env)

    work = tmp / "run"
    work.mkdir()
    env.update(DATABASE_URL=f"sqlite:///{work / 'pipeline.sqlite3'}",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    flask = [venv / "bin" / "flask", "--app", "pipeline"]
    out = {"upgrade": _run(*flask, "db", "upgrade", cwd=work, env=env),
           "seed": _run(*flask, "pipeline", "seed-demo", "--prospects", "20", cwd=work, env=env),
           "check": _run(*flask, "workflow", "check", cwd=work, env=env)}
    (work / "probe.py").write_text(PROBE, encoding="utf-8")
    out["probe"] = json.loads(_run(python, "probe.py", *PAGES, cwd=work, env=env))
    out["venv"] = str(venv.resolve())
    return out


def test_installed_package_uses_its_own_files(installed: dict) -> None:
    probe = installed["probe"]
    site = Path(probe["pipeline"]).resolve().parent.parent
    assert Path(probe["prefix"]).resolve() == Path(installed["venv"])
    assert site.is_relative_to(installed["venv"]) and site.name == "site-packages"
    assert not site.is_relative_to(ROOT)
    shipped = site / "pipeline" / "_data"
    assert [Path(p) for p in probe["templates"]] == [shipped / "templates"]
    assert Path(probe["static"]) == shipped / "static" and probe["static_ok"]
    assert Path(probe["workflows"]) == shipped / "workflows"
    assert Path(probe["migrations"]) == shipped / "migrations"
    assert (shipped / "migrations" / "env.py").is_file()
    assert (shipped / "migrations" / "script.py.mako").is_file()
    assert f"ok: {shipped / 'workflows' / 'seven_step.yaml'}" in installed["check"]
    # the catalogues were compiled by the build: the copy it built from had no .mo
    catalogues = [Path(p) for p in probe["catalogues"]]
    assert {p.parts[-3] for p in catalogues} == {"zh_CN", "en"}
    assert all(p.is_relative_to(site / "pipeline") for p in catalogues)
    assert len(catalogues) == 2 * len(list(ROOT.glob("pipeline/**/translations/zh_CN")))
    assert json.loads(installed["seed"])["created"] is True


def _text(installed: dict, locale: str) -> str:
    pages = installed["probe"]["pages"][locale]
    return "\n".join(node for url in PAGES for node in pages[url]["text"])


def test_installed_app_serves_chinese_without_english_left(installed: dict) -> None:
    pages = installed["probe"]["pages"]
    assert pages["signed_in"] == 302
    assert pages["zh_CN"]["switched"] == 302 and pages["en"]["switched"] == 302
    for url in PAGES:
        zh, en = pages["zh_CN"][url], pages["en"][url]
        assert zh["status"] == 200 and en["status"] == 200, url
        # any text with Latin letters shown identically in both languages was not translated
        untranslated = {t for t in set(zh["text"]) & set(en["text"])
                        if any("a" <= c.lower() <= "z" for c in t)} - BOTH_LANGUAGES
        assert not untranslated, (url, sorted(untranslated))
    zh = _text(installed, "zh_CN")
    assert [s for s in ENGLISH if s in zh] == []
    assert [s for s in CHINESE if s not in zh] == []


def test_installed_app_serves_english(installed: dict) -> None:
    en = _text(installed, "en")
    assert [s for s in ENGLISH if s not in en] == []
    assert [s for s in CHINESE if s in en] == []
