"""The JSON API fuzzed from its own OpenAPI document (schemathesis, in-process WSGI).

Every operation, as every role, with data seeded in two teams, valid and invalid requests:
no answer is a 5xx, every error has the documented shape, every schemathesis check passes
(but one that cannot apply, see NOT_HERE), reads change nothing, and no request from team A
changes team B's customers.
"""
from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy import func, select

from pipeline.auth.models import AuditEntry
from pipeline.prospects.models import Prospect, StageEvent, StageRecord

ROLES = ("manager", "team_lead", "supervisor", "admin")
# Per operation and role: ~400 requests per database, well under a minute. A longer hunt:
# PIPELINE_FUZZ_EXAMPLES=200 bash scripts/test.sh tests/security/test_fuzz.py
EXAMPLES = int(os.environ.get("PIPELINE_FUZZ_EXAMPLES", "12"))


def every_check() -> list:
    """Every check schemathesis has (its registry: any it adds later joins), but those that
    cannot apply here, each with why."""
    schemathesis.checks.load_all_checks()
    checks = schemathesis.checks.CHECKS.get_all()
    assert NOT_HERE <= {c.__name__ for c in checks}
    return [c for c in checks if c.__name__ not in NOT_HERE]


NOT_HERE = {
    # A schema-valid request may still be refused (422, 400): a range's order, rows that
    # must exist, the workflow's state, an ID number's checksum, a NUL in a string.
    "positive_data_acceptance",
}
CHECKS = every_check()


def snapshot(session, team_id: int | None = None) -> tuple:
    """Everything a request could change about the prospects (of one team)."""
    session.expire_all()
    where = [Prospect.team_id == team_id] if team_id is not None else []
    prospects = session.execute(
        select(Prospect.id, Prospect.stage, Prospect.status, Prospect.owner_id,
               Prospect.team_id, Prospect.version, Prospect.due_at, Prospect.name,
               Prospect.phone).where(*where).order_by(Prospect.id)).all()
    ids = [p.id for p in prospects]
    records = session.execute(select(StageRecord.prospect_id, StageRecord.record_key,
                                     StageRecord.data).where(StageRecord.prospect_id.in_(ids))
                              .order_by(StageRecord.prospect_id, StageRecord.record_key)).all()
    events = session.scalar(select(func.count()).select_from(StageEvent)
                            .where(StageEvent.prospect_id.in_(ids)))
    return prospects, [(r.prospect_id, r.record_key, r.data) for r in records], events


def assert_error_shape(response) -> None:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str)
    assert isinstance(body["error"]["details"], dict)


def make_fuzzer(strategy, headers: dict, role: str, seen: set):
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def fuzz(case):
        response = case.call(headers=headers)
        seen.add(response.status_code)
        assert response.status_code < 500, (role, case.method, case.formatted_path,
                                             response.text[:500])
        if response.status_code >= 400:
            assert_error_shape(response)
        case.validate_response(response, checks=CHECKS, headers=headers)

    return fuzz


def test_the_api_survives_fuzzing_by_every_role(app, session, factory):
    users = {
        "manager": factory.user("manager", "Team A"),
        "team_lead": factory.user("team_lead", "Team A"),
        "supervisor": factory.user("supervisor"),
        "admin": factory.user("admin"),
    }
    peer = factory.user("manager", "Team A")
    outsider = factory.user("manager", "Team B")
    own = factory.prospect(users["manager"], "needs", id_number="110101199001011237",
                           phone="13800138000")
    same_team = factory.prospect(peer, "learn")
    other_team = factory.prospect(outsider, "decision_maker", phone="13900139000")
    factory.prospect(outsider, "close")
    tokens = {role: factory.token(user) for role, user in users.items()}
    known_ids = [own.id, same_team.id, other_team.id, 999999]
    team_b = users["manager"].team_id and other_team.team_id

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    seen_statuses: set[int] = set()

    for operation in operations:
        for role in ROLES:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            # Valid requests, and invalid ones (negative_data_rejection: each must be
            # refused), all with the role's token (a negative case never drops it).
            strategies = [operation.as_strategy(headers=headers),
                          operation.as_strategy(GenerationMode.NEGATIVE, headers=headers)]
            if "{prospect_id}" in operation.path:
                strategies.append(st.sampled_from(known_ids).flatmap(
                    lambda pid, op=operation, h=headers: op.as_strategy(
                        headers=h, path_parameters={"prospect_id": str(pid)})))
            strategy = st.one_of(strategies)
            before_b = snapshot(session, team_b)
            before_all = snapshot(session) if operation.method.upper() == "GET" else None
            audit_before = session.scalar(select(func.count()).select_from(AuditEntry))

            make_fuzzer(strategy, headers, role, seen_statuses)()
            if role in ("manager", "team_lead"):
                assert snapshot(session, team_b) == before_b, (role, operation.label)
            if before_all is not None:
                assert snapshot(session) == before_all, (role, operation.label)
            if operation.method.upper() != "GET":
                # Writes may append sign-in or view entries, never remove any.
                assert session.scalar(select(func.count()).select_from(AuditEntry)) \
                    >= audit_before
    # The fuzzer got past authentication and validation, not only into 4xx answers.
    assert {200, 404, 422} <= seen_statuses, seen_statuses


# The checks of schemathesis's coverage phase (unsupported_method, allow_header_conformance,
# missing_required_header, ignored_auth on a missing token) act on requests its own runner
# makes; here the same questions are asked of every documented path directly.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "TRACE")


def test_every_path_refuses_other_methods_with_allow_and_requests_without_a_token(client):
    doc = client.get("/api/v1/openapi.json").json
    for template, operations in doc["paths"].items():
        path = template
        for name in [p[1:-1] for p in template.split("/") if p.startswith("{")]:
            path = path.replace("{" + name + "}", "seven_step" if name == "workflow" else "1")
        documented = {m.upper() for m in operations if m != "parameters"}
        for method in METHODS:
            r = client.open(path, method=method)
            if method in documented:
                # No token: 401 before anything else (a signed callback: no signature).
                assert r.status_code == 401, (method, template, r.status_code)
                assert r.json["error"]["code"] in ("unauthorized", "bad_signature")
            else:
                assert r.status_code == 405, (method, template, r.status_code)
                assert documented <= set(r.headers["Allow"].split(", ")), (method, template)
                assert r.json["error"]["code"] == "method_not_allowed"
