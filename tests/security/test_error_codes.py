"""Every error code the app can answer is documented in the OpenAPI document, and every
documented code is one the app can answer."""
from __future__ import annotations

import ast
from pathlib import Path

from werkzeug.exceptions import default_exceptions

import pipeline
from pipeline.api.error_codes import ERROR_CODES
from pipeline.errors import _code_of

PACKAGE = Path(pipeline.__file__).parent
# HTTP errors werkzeug raises itself, whatever the views do: an unknown path, a method the
# path does not take, a body over MAX_CONTENT_LENGTH.
ROUTING = (404, 405, 413)
# The codes the shared API contract names (API.md).
CONTRACT = ("duplicate_customer", "over_capacity", "call_cap")


def _text(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) \
        else None


def codes_in_the_code() -> dict[str, set[str]]:
    """Each error code written in the package, with the files that write it: ``code=``
    arguments, ``code`` class attributes (``status, code = 409, "..."`` included), the
    codes given to ``error_response`` and ``envelope``, and the name of every HTTP error
    an ``abort(N)`` raises."""
    found: dict[str, set[str]] = {}

    def add(code: str | None, path: Path) -> None:
        if code:
            found.setdefault(code, set()).add(str(path.relative_to(PACKAGE)))

    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "code":
                add(_text(node.value), path)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == "code":
                        add(_text(node.value), path)
                    elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                        for name, value in zip(target.elts, node.value.elts, strict=False):
                            if isinstance(name, ast.Name) and name.id == "code":
                                add(_text(value), path)
            elif isinstance(node, ast.Call):
                called = getattr(node.func, "id", getattr(node.func, "attr", None))
                if called in ("error_response", "envelope"):
                    texts = [t for a in node.args if (t := _text(a))]
                    add(texts[0] if texts else None, path)
                elif called == "abort" and node.args and isinstance(node.args[0], ast.Constant):
                    add(_code_of(default_exceptions[node.args[0].value]()), path)
    for status in ROUTING:
        add(_code_of(default_exceptions[status]()), PACKAGE / "errors.py")
    return found


def test_the_collector_finds_codes_of_every_kind():
    found = codes_in_the_code()
    # a code= argument, a class attribute, a tuple assignment, error_response, abort(403),
    # werkzeug's own 405
    for code in ("stale_version", "event_not_allowed", "throttled", "database_busy",
                 "forbidden", "method_not_allowed"):
        assert code in found, code


def test_every_code_the_app_answers_is_documented_and_no_other(client):
    found = codes_in_the_code()
    undocumented = {c: sorted(files) for c, files in found.items() if c not in ERROR_CODES}
    assert undocumented == {}, undocumented
    assert sorted(set(ERROR_CODES) - set(found)) == []  # nothing documented that is not answered
    assert set(CONTRACT) <= set(ERROR_CODES)
    doc = client.get("/api/v1/openapi.json").json
    code = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]
    assert sorted(code["enum"]) == sorted(ERROR_CODES)
    for name in ERROR_CODES:
        assert name in code["description"]


def test_every_operation_documents_the_answers_any_request_can_get(client):
    doc = client.get("/api/v1/openapi.json").json
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict):  # the path's own parameters
                continue
            responses = operation["responses"]
            assert {"400", "401", "503"} <= set(responses), (method, path)
            assert "Retry-After" in responses["503"]["headers"]
            if "requestBody" in operation:
                assert "413" in responses, (method, path)
            body = operation.get("requestBody", {}).get("content", {}).get(
                "application/json", {}).get("schema", {})
            if "$ref" in body:
                body = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
            if any(p.get("name") == "workflow" for p in operation.get("parameters", ())) \
                    or "workflow" in body.get("properties", {}):
                assert "404" in responses, (method, path)  # unknown_workflow
