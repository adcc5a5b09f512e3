"""``/api/v1/tokens``: the caller's own API tokens (list, revoke)."""
from __future__ import annotations

from flask import jsonify, request

from pipeline.api.views import api_user, bp
from pipeline.auth.services import revoke_token, tokens_of
from pipeline.db import get_session
from pipeline.errors import NotFound, parse_id


@bp.get("/tokens")
def list_tokens():  # noqa: ANN201
    """The caller's tokens, newest first: never the token itself, only what it is for,
    when it was issued, expires and was last used, and whether it still works."""
    return jsonify({"items": [t.as_dict() for t in tokens_of(get_session(), api_user())]})


@bp.delete("/tokens/<token_id>")
def delete_token(token_id: str):  # noqa: ANN201
    """Revoke one of the caller's tokens (this one included); anybody else's is a 404."""
    try:
        number = parse_id(token_id, "token")
    except NotFound:
        raise NotFound("no such token", code="unknown_token") from None
    info = revoke_token(get_session(), number, actor=api_user(), ip=request.remote_addr)
    return jsonify(info.as_dict())
