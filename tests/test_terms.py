"""The bank's Chinese terms, used the same way on every page.

Flask-Babel merges the core catalogue with each package's, and the workflow file names
stages, records and fields in both languages, so the wording is checked across all of them:
one Chinese rendering per English string, the bank's own term for each meaning, none of the
words that mean something else at a bank (逾期 is credit delinquency, 流失 an existing
customer leaving), and full-width punctuation in Chinese text.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "pipeline"
WORKFLOWS = ROOT / "workflows"
TEMPLATES = ROOT / "templates"
PROCESS = "客户关系管理标准化流程"

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "lazy_ngettext": (1, 2)}

# Words the bank does not use for these meanings. 流失 is allowed only where the English is
# about an existing customer leaving; 升级 only for a customer's tier going up.
FORBIDDEN = {
    "逾期": "overdue is 超期 (逾期 is credit delinquency)",
    "丢失": "a prospect not won is 未成交",
    "流失": "a prospect not won is 未成交 (流失 is an existing customer leaving)",
    "继续跟踪": "continue is 继续跟进",
    "重新开启": "reopen is 重新激活",
    "重新分配": "reassign is 更换客户经理",
    "升级": "escalate is 上报, an escalation 上报事项",
    "工作日记": "the work log is 工作日志",
    "电子邮箱": "e-mail is 邮件",
    "完整度": "completeness of the information sheet is 信息完整率",
    "七步流程": f"the process is {PROCESS}",
}
ALLOWED = {
    "流失": re.compile(r"\b(attrition|churn)\b|customers? (leaving|left)", re.I),
    "升级": re.compile(r"\bupgrade|tier (rise|went up)", re.I),
}

# The English says X: the Chinese must say Y (every catalogue, every plural form).
REQUIRED = [
    (r"\blost\b", "未成交"),
    (r"\bcontinue\b", "继续跟进"),
    (r"\breassign", "更换客户经理"),
    (r"\breopen", "重新激活"),
    (r"\bescalat", "上报"),
    (r"\boverdue\b|\bpast its due date\b", "超期"),
    (r"\bcompleteness\b|%\(\w+\)s complete\b", "信息完整率"),
    (r"\be-mail\b", "邮件"),
    (r"\bwork log\b", "工作日志"),
    (r"\bseven-step process\b|^(Bank )?pipeline$", PROCESS),
]
EXACT = {
    "Lost": "未成交",
    "lost": "未成交",
    "Lost reasons": "未成交原因",
    "Continue": "继续跟进",
    "Reassign": "更换客户经理",
    "Reopen": "重新激活",
    "Reopened": "重新激活",
    "reopened": "重新激活",
    "Escalations": "上报事项",
    "Stage overdue": "阶段超期",
    "Completeness": "信息完整率",
    "E-mail": "邮件",
    "Weekly work log": "周工作日志",
    "Bank pipeline": PROCESS,
}

# The same English word naming two different things: the workflow's stage "Close" (成交处理)
# and the dialog button "Close" (关闭); the information-sheet field "Education" (学历) and
# the customer need "Education" (子女教育). Workflow names never go through the catalogues,
# so these cannot collide on a page.
HOMONYMS = {("Close", "成交处理"), ("Education", "学历")}

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]|\{\w*\}")
HALF_WIDTH = ",.:;!?()"


def catalogues(locale: str = "zh_CN") -> list[Path]:
    found = sorted(PIPELINE.glob(f"**/translations/{locale}/LC_MESSAGES/messages.po"))
    assert len(found) >= 4  # the core catalogue and the packages'
    return found


def entries(locale: str = "zh_CN"):
    """(catalogue, msgids, msgstrs) of every message of every catalogue of ``locale``."""
    for po in catalogues(locale):
        with po.open("rb") as f:
            catalog = read_po(f)
        for m in catalog:
            if not m.id:
                continue
            ids = [m.id] if isinstance(m.id, str) else list(m.id)
            strings = [m.string] if isinstance(m.string, str) else list(m.string)
            yield po.relative_to(ROOT), ids, strings, m


def workflow_names() -> list[tuple[str, str, str]]:
    """(where, en, zh_CN) of every bilingual name and label of every workflow file."""
    out = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            if "en" in node and "zh_CN" in node:
                out.append((where, str(node["en"]), str(node["zh_CN"])))
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    files = sorted(WORKFLOWS.glob("*.yaml"))
    assert files
    for path in files:
        walk(yaml.safe_load(path.read_text(encoding="utf-8")), path.name)
    return out


def half_width_punctuation(text: str) -> list[str]:
    """ASCII , . : ; ! ? ( ) in Chinese text. Placeholders are left alone, as are a decimal
    point and punctuation between two ASCII letters or digits (a code such as 3:00)."""
    if not CJK.search(text):
        return []
    masked = PLACEHOLDER.sub("\0", text)
    bad = []
    for i, ch in enumerate(masked):
        if ch not in HALF_WIDTH:
            continue
        before = masked[i - 1] if i else ""
        after = masked[i + 1] if i + 1 < len(masked) else ""
        if before.isascii() and before.isalnum() and after.isascii() and after.isalnum():
            continue
        bad.append(masked[max(0, i - 4):i + 5].replace("\0", "…"))
    return bad


def forbidden_terms(text: str, english: str = "") -> list[str]:
    return [f"{term}: {why}" for term, why in FORBIDDEN.items()
            if term in text and not (term in ALLOWED and ALLOWED[term].search(english))]


# ------------------------------------------------------------------ one rendering per string

def test_every_package_catalogue_exists_in_both_languages():
    for locale in ("zh_CN", "en"):
        assert {p.parent.parent.parent for p in catalogues(locale)} == \
            {d for d in PIPELINE.glob("**/translations") if d.is_dir()}


def test_one_chinese_rendering_per_english_string_across_catalogues_and_workflows():
    seen: dict[str, dict[str, list[str]]] = {}
    for where, ids, strings, _m in entries():
        if strings[0]:
            seen.setdefault(ids[0], {}).setdefault(strings[0], []).append(str(where))
    for where, en, zh in workflow_names():
        if (en, zh) not in HOMONYMS:
            seen.setdefault(en, {}).setdefault(zh, []).append(where)
    clashes = {k: v for k, v in seen.items() if len(v) > 1}
    assert clashes == {}


def test_homonyms_listed_are_still_homonyms():
    names = {(en, zh) for _w, en, zh in workflow_names()}
    assert HOMONYMS <= names


# ------------------------------------------------------------------------ the bank's terms

def test_no_forbidden_term_in_the_chinese_catalogues():
    found = {}
    for where, ids, strings, _m in entries():
        for text in strings:
            bad = forbidden_terms(text, " ".join(ids))
            if bad:
                found[f"{where}: {ids[0]}"] = bad
    assert found == {}


def test_no_forbidden_term_in_the_workflows():
    found = {f"{w}: {en}": forbidden_terms(zh, en) for w, en, zh in workflow_names()}
    for path in WORKFLOWS.glob("*.yaml"):
        found[path.name] = forbidden_terms(path.read_text(encoding="utf-8"))
    assert {k: v for k, v in found.items() if v} == {}


def test_no_forbidden_term_in_templates_or_python():
    found = {}
    for path in [*TEMPLATES.glob("**/*.html"), *PIPELINE.glob("**/*.py")]:
        bad = forbidden_terms(path.read_text(encoding="utf-8"))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    assert found == {}


@pytest.mark.parametrize(("english", "chinese"), sorted(EXACT.items()))
def test_the_required_term_translates_the_string(english, chinese):
    renderings = {strings[0] for _w, ids, strings, _m in entries() if ids[0] == english}
    assert renderings == {chinese}


def test_every_string_about_a_term_uses_the_required_term():
    wrong = {}
    for where, ids, strings, _m in entries():
        english = " ".join(ids)
        for pattern, term in REQUIRED:
            if re.search(pattern, english, re.I) and not all(term in s for s in strings):
                wrong[f"{where}: {ids[0]}"] = (term, strings)
    assert wrong == {}


def test_the_workflow_names_the_process():
    wf = yaml.safe_load((WORKFLOWS / "seven_step.yaml").read_text(encoding="utf-8"))
    assert wf["name"]["zh_CN"] == PROCESS


# ---------------------------------------------------------------------------- punctuation

def test_half_width_punctuation_is_recognised():
    assert len(half_width_punctuation("放弃:请填写原因。")) == 1
    assert len(half_width_punctuation("您好!感谢,请稍候.")) == 3
    assert half_width_punctuation("时限(天)")
    assert half_width_punctuation("%(name)s:%(stage)s阶段")
    assert half_width_punctuation("剩余 %(num)d 天。") == []
    assert half_width_punctuation("本阶段时限已用去 80%%。3.5 天，3:00") == []
    assert half_width_punctuation("Excel (XLSX)") == []  # not Chinese


def test_chinese_catalogues_use_full_width_punctuation():
    found = {}
    for where, ids, strings, _m in entries():
        bad = [b for s in strings for b in half_width_punctuation(s)]
        if bad:
            found[f"{where}: {ids[0]}"] = bad
    assert found == {}


def test_workflow_chinese_names_use_full_width_punctuation():
    found = {f"{w}: {zh}": half_width_punctuation(zh) for w, _en, zh in workflow_names()}
    assert {k: v for k, v in found.items() if v} == {}


# ---------------------------------------------------------------------------- completeness

def test_every_chinese_entry_is_translated_and_settled():
    missing = [f"{w}: {ids[0]}" for w, ids, strings, m in entries()
               if not all(strings) or m.fuzzy]
    assert missing == []


def test_every_marked_string_has_a_chinese_translation():
    """Whatever the code and the templates mark for translation, some catalogue (they are
    merged at run time) translates it to Chinese."""
    translated = {ids[0] for _w, ids, strings, _m in entries() if all(strings)}
    marked = set()
    for folder, method in ((PIPELINE, [("**.py", "python")]),
                           (TEMPLATES, [("**.html", "jinja2")])):
        for _file, _line, message, _c, _ctx in extract_from_dir(str(folder), method,
                                                                keywords=KEYWORDS):
            marked.add(message if isinstance(message, str) else message[0])
    assert len(marked) > 300
    assert sorted(m for m in marked if m and m not in translated) == []


# ------------------------------------------------------------------ navigation and templates

def test_navigation_and_roles_come_from_the_catalogues():
    source = (PIPELINE / "web.py").read_text(encoding="utf-8")
    assert not CJK.search(source)
    marked = {message for _f, _l, message, _c, _ctx in extract_from_dir(
        str(PIPELINE), [("web.py", "python")], keywords=KEYWORDS)}
    assert {"Board", "Escalations", "Audit log", "Supervisor"} <= marked
    core = {}
    for locale in ("zh_CN", "en"):
        with (PIPELINE / "translations" / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
            core[locale] = read_po(f)
        assert sorted(m for m in marked if not (core[locale].get(m) and
                                                core[locale].get(m).string)) == []


def test_templates_hold_no_hard_coded_chinese():
    # The language switch names Chinese in Chinese, whatever the page's language.
    found = {}
    for path in TEMPLATES.glob("**/*.html"):
        text = path.read_text(encoding="utf-8").replace(">中文<", "><")
        if CJK.search(text):
            found[str(path.relative_to(ROOT))] = CJK.findall(text)
    assert found == {}


def nav_and_role(html: str) -> str:
    nav = re.search(r'<nav class="mainnav".*?</nav>', html, re.S)
    who = re.search(r'<span class="who">(.*?)</span>', html, re.S)
    assert nav and who
    return nav.group(0) + who.group(1)


@pytest.mark.parametrize(("locale", "words", "absent"), [
    ("zh_CN", ["看板", "上报事项", "漏斗", "报表", "消息", "审计日志", "支行行长"],
     ["Board", "Escalations", "升级", "Supervisor"]),
    ("en", ["Board", "Escalations", "Funnel", "Reports", "Inbox", "Audit log", "Supervisor"],
     ["看板", "上报事项", "支行行长"]),
])
def test_navigation_speaks_the_users_language(client, factory, locale, words, absent):
    supervisor = factory.user("supervisor")
    r = client.post("/login", data={"email": supervisor.email, "password": "secret-pass"})
    assert r.status_code == 302
    client.post("/language", data={"locale": locale, "next": "/"})
    html = nav_and_role(client.get("/reports/funnel").get_data(as_text=True))
    assert [w for w in words if w not in html] == []
    assert [w for w in absent if w in html] == []
