"""Personal data in stage records: masked in every answer to who may not see it in full,
the audit telling the truth, and every record edit leaving a trace."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from pipeline import workflows
from pipeline.auth.models import AuditEntry
from pipeline.prospects.models import StageRecord
from pipeline.prospects.privacy import mask, personal_fields

ID = "11010519491231002X"
MOBILE = "13900001111"
ADDRESS = "北京市朝阳区建国路88号"


def personal_keys() -> list[str]:
    """The info sheet's personal fields, as the workflow file marks them."""
    wf = workflows.engine(workflows.DEFAULT_KEY).workflow
    keys = sorted(personal_fields(wf.record("info_sheet")))
    assert len(keys) >= 3  # ID number, mobile, address at least
    return keys


def values_for(keys: list[str]) -> dict[str, str]:
    """A valid value for each personal field (any other one is a text)."""
    known = {"id_number": ID, "mobile": MOBILE, "home_phone": "010-65123456",
             "work_phone": "021-55667788"}
    return {k: known.get(k, ADDRESS) for k in keys}


def bearer(factory, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def entries(session, action: str) -> list[AuditEntry]:
    """The entries of ``action`` (record saves: of the info sheet only)."""
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                           .order_by(AuditEntry.id))
    return [e for e in rows if action != "record_saved" or e.detail["record"] == "info_sheet"]


@pytest.fixture
def team(factory):
    return {"owner": factory.user("manager", "Team A"),
            "lead": factory.user("team_lead", "Team A"),
            "peer": factory.user("manager", "Team A"),
            "supervisor": factory.user("supervisor"),
            "admin": factory.user("admin")}


@pytest.fixture
def filled(client, factory, team):
    """A customer in the learn stage whose owner saved the personal fields."""
    p = factory.prospect(team["owner"])
    data = values_for(personal_keys())
    r = client.put(f"/api/v1/prospects/{p.id}/records/info_sheet", json=data,
                   headers=bearer(factory, team["owner"]))
    assert r.status_code == 200 and r.json["data"] == {**r.json["data"], **data}
    return p, data


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_records_are_masked_for_who_may_not_see_them(client, factory, team, filled, session,
                                                     role):
    p, data = filled
    r = client.get(f"/api/v1/prospects/{p.id}", headers=bearer(factory, team[role]))
    assert r.status_code == 200
    shown = r.json["records"]["info_sheet"]["data"]
    for key, value in data.items():
        assert shown[key] == mask(value) and shown[key] != value
    assert ID not in r.get_data(as_text=True) and MOBILE not in r.get_data(as_text=True)
    [view] = entries(session, "prospect_viewed")
    assert (view.actor_id, view.detail["personal_data"]) == (team[role].id, "masked")


@pytest.mark.parametrize("role", ["owner", "lead"])
def test_the_owner_and_the_owner_s_lead_see_them_in_full(client, factory, team, filled,
                                                         session, role):
    p, data = filled
    r = client.get(f"/api/v1/prospects/{p.id}", headers=bearer(factory, team[role]))
    shown = r.json["records"]["info_sheet"]["data"]
    assert {k: shown[k] for k in data} == data
    views = entries(session, "prospect_viewed")
    # The owner reading their own customer is not logged; the lead's full view is.
    assert [(v.actor_id, v.detail["personal_data"]) for v in views] == (
        [] if role == "owner" else [(team["lead"].id, "full")])


def test_a_save_s_echo_is_masked_and_a_masked_value_sent_back_keeps_the_real_one(
        client, factory, team, filled, session):
    p, data = filled
    headers = bearer(factory, team["supervisor"])
    shown = client.get(f"/api/v1/prospects/{p.id}", headers=headers).json
    masked = {k: shown["records"]["info_sheet"]["data"][k] for k in data}
    r = client.put(f"/api/v1/prospects/{p.id}/records/info_sheet",
                   json={**masked, "employer": "国企"}, headers=headers)
    assert r.status_code == 200
    assert {k: r.json["data"][k] for k in data} == masked  # the echo is masked too
    assert r.json["data"]["employer"] == "国企"
    session.expire_all()
    row = session.scalars(select(StageRecord).where(StageRecord.prospect_id == p.id,
                                                    StageRecord.record_key == "info_sheet")
                          ).one()
    assert {k: row.data[k] for k in data} == data  # the real values are kept
    [first, second] = entries(session, "record_saved")
    assert second.detail == {"record": "info_sheet", "fields": ["employer"],
                             "personal_fields": [],
                             "changes": {"employer": {"old": None, "new": "国企"}}}


def test_every_record_edit_is_audited_with_its_editor_fields_and_old_and_new_values(
        client, factory, team, filled, session, caplog):
    p, data = filled
    keys = sorted(data)
    new_id = "110101199001011237"
    caplog.set_level(logging.DEBUG)
    r = client.put(f"/api/v1/prospects/{p.id}/records/info_sheet",
                   json={"id_number": new_id, "family": "已婚"},
                   headers=bearer(factory, team["lead"]))
    assert r.status_code == 200
    # Saving the same values again changes nothing and writes nothing.
    r = client.put(f"/api/v1/prospects/{p.id}/records/info_sheet", json={"family": "已婚"},
                   headers=bearer(factory, team["lead"]))
    assert r.status_code == 200
    saves = entries(session, "record_saved")
    assert [(e.actor_id, e.target_id, e.detail["fields"], e.detail["personal_fields"])
            for e in saves] == [
        (team["owner"].id, p.id, keys, keys),
        (team["lead"].id, p.id, ["family", "id_number"], ["id_number"])]
    # Each changed field's value before and after; a personal one masked by the one policy.
    assert saves[0].detail["changes"] == {k: {"old": None, "new": mask(v)}
                                          for k, v in data.items()}
    assert saves[1].detail["changes"] == {
        "family": {"old": None, "new": "已婚"},
        "id_number": {"old": mask(ID), "new": mask(new_id)}}
    text = repr([(e.detail, e.note) for e in saves])
    for secret in (ID, new_id, MOBILE, ADDRESS):
        assert secret not in text
        assert secret not in caplog.text  # nor in the app's log
    assert mask(new_id) != new_id and mask(new_id) in text


def test_the_audit_log_page_shows_a_save_s_old_and_new_values_personal_ones_masked(
        client, factory, team, filled, session):
    p, data = filled
    r = client.put(f"/api/v1/prospects/{p.id}/records/info_sheet",
                   json={"mobile": "13700002222", "employer": "国企"},
                   headers=bearer(factory, team["owner"]))
    assert r.status_code == 200
    assert client.post("/login", data={"email": team["supervisor"].email,
                                       "password": "secret-pass"}).status_code == 302
    page = client.get("/audit", query_string={"action": "record_saved",
                                              "prospect": p.id}).get_data(as_text=True)
    for shown in (mask(ID), mask(MOBILE), mask("13700002222"), "国企"):
        assert shown in page
    for secret in (ID, MOBILE, "13700002222", ADDRESS):
        assert secret not in page


def test_the_log_page_masks_personal_values_an_entry_holds_in_full():
    """Entries are masked when written; the page masks again whatever an entry names as
    personal (written by hand, or by an older release)."""
    from pipeline.audit.views import summary

    detail = {"record": "info_sheet", "fields": ["id_number", "family"],
              "personal_fields": ["id_number"],
              "changes": {"id_number": {"old": None, "new": ID},
                          "family": {"old": "单身", "new": "已婚"}}}
    shown = summary(detail)
    assert ID not in shown and mask(ID) in shown and "单身" in shown and "已婚" in shown


def test_the_record_page_hides_personal_fields_and_a_lead_s_view_is_audited(
        client, factory, team, filled, session):
    p, data = filled
    for who, shows in ((team["owner"], True), (team["lead"], True), (team["peer"], False),
                       (team["supervisor"], False)):
        assert client.post("/login", data={"email": who.email, "password": "secret-pass"}
                           ).status_code == 302
        r = client.get(f"/prospects/{p.id}/records/info_sheet")
        if who is team["peer"]:
            assert r.status_code == 404  # another manager's customer
        else:
            assert r.status_code == 200
            assert (ID in r.get_data(as_text=True)) is shows
        client.post("/logout")
    views = entries(session, "prospect_viewed")
    assert [(v.actor_id, v.detail["personal_data"], v.detail.get("record")) for v in views] \
        == [(team["lead"].id, "full", "info_sheet"),
            (team["supervisor"].id, "masked", "info_sheet")]


def test_a_supervisor_unmasks_with_a_stated_reason_and_the_audit_keeps_it(
        client, factory, team, filled, session):
    p, data = filled
    url = f"/api/v1/prospects/{p.id}"
    reason = "customer asked to correct the ID number on file"
    r = client.get(url, query_string={"reason": reason}, headers=bearer(factory,
                                                                       team["supervisor"]))
    assert r.status_code == 200
    assert {k: r.json["records"]["info_sheet"]["data"][k] for k in data} == data
    r = client.get(url, query_string={"reason": "why"}, headers=bearer(factory,
                                                                       team["supervisor"]))
    assert r.status_code == 422 and list(r.json["error"]["details"]) == ["reason"]
    peer = factory.user("manager", "Team A")
    r = client.get(url, query_string={"reason": reason}, headers=bearer(factory, peer))
    assert r.status_code == 404  # another manager's customer does not exist for them
    [view] = entries(session, "prospect_viewed")
    assert (view.actor_id, view.detail["personal_data"], view.detail["unmasked"],
            view.note) == (team["supervisor"].id, "full", True, reason)
