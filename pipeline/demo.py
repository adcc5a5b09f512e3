"""Demo branch: a supervisor, teams with leads, managers, and prospects spread over every
stage and over the last months, built through the same services as real use."""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pipeline import clock
from pipeline.auth.models import User
from pipeline.auth.services import create_user
from pipeline.prospects.models import Prospect
from pipeline.prospects.services import advance_prospect, create_prospect, save_record

DEMO_PASSWORD = "demo-password"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红婷浩宇晨欣怡"
TEAMS = ("Team A", "Team B", "Team C")

STAGE_RECORDS: dict[str, tuple[str, dict[str, Any]]] = {
    "first_contact": ("contact_log", {}),
    "learn": ("info_sheet", {}),
    "decision_maker": ("decision_maker", {"identified": True, "name": "配偶", "relation": "spouse",
                                          "met": True}),
    "needs": ("needs_sheet", {"life_stage": "young_family", "needs": ["education", "home"]}),
    "allocation": ("proposals", {"options": ["基金定投", "零存整取", "保险"], "chosen": 1}),
    "close": ("closing_checklist", {"recommended": True, "risk_disclosed": True,
                                    "confirmed": True, "signed": True, "ledger": True,
                                    "customer_risk_level": "C3", "product_risk_level": "R2"}),
}
INFO = {"full_name": "x", "sex": "female", "age": 41, "mobile": "13800138000",
        "family": "married, one child", "employer": "国企", "position": "经理",
        "education": "本科", "product_history": "定期存款", "assets_cash": 500000.0,
        "insurance": "重疾险", "fixed_assets": "住房一套", "risk_preference": "C3",
        "income_spending": "稳定", "interests": "羽毛球", "children": "一子", "cars": "一辆",
        "property": "一套", "taboos": "无", "background": "本地人", "value_assessment": "高",
        "wishes": "子女教育"}


def _records_for(stage: str, when) -> tuple[str, dict[str, Any]]:  # noqa: ANN001
    key, data = STAGE_RECORDS[stage]
    if stage == "first_contact":
        data = {"institution_sms_at": when.isoformat(),
                "manager_sms_at": (when + timedelta(days=1)).isoformat(),
                "call_at": (when + timedelta(days=3)).isoformat(),
                "meeting_booked_at": (when + timedelta(days=5)).isoformat()}
    elif stage == "learn":
        data = INFO
    return key, data


def seed_demo_branch(session: Session, *, prospects: int = 2000, seed: int = 7) -> dict:
    """Create the demo branch (once: a second run adds nothing). Returns a summary."""
    if session.scalar(select(func.count()).select_from(User)):
        return {"created": False, "reason": "the database already has users"}
    rng = random.Random(seed)
    supervisor = create_user(session, "supervisor@demo.bank", role="supervisor",
                             password=DEMO_PASSWORD, name="支行行长 周")
    managers: list[User] = []
    for t, team in enumerate(TEAMS):
        create_user(session, f"lead{t + 1}@demo.bank", role="team_lead", team=team,
                    password=DEMO_PASSWORD, name=f"团队主管 {SURNAMES[t]}")
        for m in range(4):
            managers.append(create_user(
                session, f"manager{t * 4 + m + 1}@demo.bank", role="manager", team=team,
                password=DEMO_PASSWORD, name=f"客户经理 {SURNAMES[t * 4 + m + 3]}{GIVEN[m]}"))
    real_now = clock.now()
    stages = list(STAGE_RECORDS) + ["after_sale"]
    counts: dict[str, int] = {}
    for i in range(prospects):
        owner = managers[i % len(managers)]
        start = real_now - timedelta(days=rng.uniform(0, 150))
        target = rng.choices(range(len(stages)), weights=[30, 18, 10, 12, 8, 7, 15])[0]
        with clock.travel(start):
            p = create_prospect(session, actor=owner, data={
                "name": rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                "tier": rng.choices(["diamond", "black_gold", "platinum", "gold"],
                                    weights=[5, 10, 30, 55])[0],
                "id_number": f"1101011980{rng.randrange(10**8):08d}",
                "phone": f"13{rng.randrange(10**9):09d}"})
        when = start
        for stage in stages[:target]:
            when = min(when + timedelta(days=rng.uniform(2, 16)), real_now)
            with clock.travel(when):
                key, data = _records_for(stage, when)
                save_record(session, p.id, key, actor=owner, data=data)
                advance_prospect(session, p.id, "win" if stage == "close" else "advance",
                                 actor=owner)
        roll = rng.random()
        with clock.travel(min(when + timedelta(days=1), real_now)):
            if p.status == "active" and roll < 0.07:
                advance_prospect(session, p.id, "lose", actor=owner,
                                 reason=rng.choice(["客户已在他行购买", "客户无意向",
                                                    "联系不上客户"]))
            elif p.status == "active" and roll < 0.11:
                advance_prospect(session, p.id, "pause", actor=owner,
                                 reason="客户表现出厌烦情绪")
        counts[p.stage] = counts.get(p.stage, 0) + 1
    overdue = session.scalar(select(func.count()).select_from(Prospect).where(
        Prospect.status == "active", Prospect.due_at < real_now))
    return {"created": True, "prospects": prospects, "by_stage": counts, "overdue": overdue,
            "supervisor": supervisor.email, "password": DEMO_PASSWORD}
