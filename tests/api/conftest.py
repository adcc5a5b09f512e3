from __future__ import annotations

import pytest


class Api:
    """A tiny JSON client with a bearer token."""

    def __init__(self, client, token: str) -> None:  # noqa: ANN001
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, url: str, **kw):  # noqa: ANN003, ANN201
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url: str, body=None, **kw):  # noqa: ANN001, ANN003, ANN201
        return self.client.post(url, json=body, headers=self.headers, **kw)

    def put(self, url: str, body=None, **kw):  # noqa: ANN001, ANN003, ANN201
        return self.client.put(url, json=body, headers=self.headers, **kw)

    def patch(self, url: str, body=None, **kw):  # noqa: ANN001, ANN003, ANN201
        return self.client.patch(url, json=body, headers=self.headers, **kw)

    def raw(self, method: str, url: str, data: bytes):  # noqa: ANN201
        return self.client.open(url, method=method, data=data,
                                headers={**self.headers, "Content-Type": "application/json"})


@pytest.fixture
def api_for(client, factory):
    def make(user) -> Api:  # noqa: ANN001
        return Api(client, factory.token(user))
    return make
