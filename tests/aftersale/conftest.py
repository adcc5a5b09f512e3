from __future__ import annotations

import pytest

from tests.api.conftest import Api


@pytest.fixture
def api_for(client, factory):
    def make(user) -> Api:  # noqa: ANN001
        return Api(client, factory.token(user))
    return make
