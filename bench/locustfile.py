"""Locust users for the load test (run by ``bench.server``): each signs in through the
login form (CSRF token and password check included) as a manager or a team lead, then
reads the board, prospect pages and the JSON API with the account's bearer token.

``BENCH_ACCOUNTS`` names a JSON file: ``[{"email", "password", "token", "role", "team",
"prospects": [ids]}, ...]``.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
from urllib.parse import quote

from locust import FastHttpUser, between, events, task

with open(os.environ["BENCH_ACCOUNTS"], encoding="utf-8") as _f:
    ACCOUNTS = json.load(_f)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_turn = itertools.count()
# Every request's time, for exact percentiles of the reads alone (sign-ins hash passwords,
# slowly by design, and would dominate the tail).
_times: list[tuple[str, float, bool]] = []


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None,
            **_kw) -> None:
    _times.append((name, response_time, exception is not None))


@events.quitting.add_listener
def _dump(**_kw) -> None:
    out = os.environ.get("BENCH_TIMES")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(_times, f)


class BankUser(FastHttpUser):
    wait_time = between(0.0, 0.2)

    def on_start(self) -> None:
        self.account = ACCOUNTS[next(_turn) % len(ACCOUNTS)]
        self.rng = random.Random(self.account["email"])
        self.auth = {"Authorization": f"Bearer {self.account['token']}"}
        page = self.client.get("/login", name="GET /login")
        match = CSRF.search(page.text or "")
        with self.client.post("/login", name="POST /login (sign in)", catch_response=True,
                              data={"csrf_token": match.group(1) if match else "",
                                    "email": self.account["email"],
                                    "password": self.account["password"]}) as response:
            # Signed in: the redirect lands on a page without the sign-in form.
            if response.status_code != 200 or 'name="password"' in (response.text or ""):
                response.failure(f"sign-in failed ({response.status_code})")

    def _pick(self) -> int:
        return self.rng.choice(self.account["prospects"])

    @task(3)
    def board(self) -> None:
        self.client.get("/board", name="GET /board")

    @task(3)
    def prospect_page(self) -> None:
        self.client.get(f"/prospects/{self._pick()}", name="GET /prospects/<id>")

    @task(2)
    def api_list(self) -> None:
        self.client.get("/api/v1/prospects?limit=50", headers=self.auth,
                        name="GET /api/v1/prospects")

    @task(2)
    def api_prospect(self) -> None:
        self.client.get(f"/api/v1/prospects/{self._pick()}", headers=self.auth,
                        name="GET /api/v1/prospects/<id>")

    @task(1)
    def api_funnel(self) -> None:
        if self.account["role"] == "team_lead":
            self.client.get(f"/api/v1/funnel?team={quote(self.account['team'])}",
                            headers=self.auth, name="GET /api/v1/funnel?team=")
        else:
            self.client.get("/api/v1/funnel", headers=self.auth, name="GET /api/v1/funnel (own)")
