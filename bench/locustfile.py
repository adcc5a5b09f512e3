"""Locust users for the load test (run by ``bench.server``).

Every simulated user signs in through the login form (the page's CSRF token, the password
check), works a while, signs out through the menu's form and signs in again as the next
account of its pool, every ``BENCH_SIGN_IN_EVERY`` tasks: hundreds of sign-ins in a run,
not one per user. Each Locust user has accounts of its own (signing out ends every session
of an account, so two simulated users never share one).

- Managers: the board, prospect pages, My day, their complaints, the task list API, the
  prospect API, and writes: a contact logged through the prospect page's form, an advance through the API
  (a refused move, 409 or 422, is expected and not an error).
- Team leads: the team's board, the escalation queue, the funnel and the daily and weekly
  reports, the complaints, the touch report, prospect pages, the escalation and funnel APIs.
- Supervisors: a team's board, the escalation queue, the funnel, the daily, weekly,
  after-sale, touch and complaint reports, the complaints, the campaigns, the allocation
  page, the import page, the APIs.

A user waits ``BENCH_THINK`` ("low,high" seconds, drawn evenly) between two tasks.

``BENCH_ACCOUNTS`` names a JSON file: ``[{"email", "password", "token", "role", "team",
"teams", "prospects": [ids]}, ...]``. A request is an error when it answers 5xx or a
status the request did not expect, or when a page lands on the sign-in form.
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
    ACCOUNTS: list[dict] = json.load(_f)
SIGN_IN_EVERY = int(os.environ.get("BENCH_SIGN_IN_EVERY", "20"))
USERS = int(os.environ.get("BENCH_USERS", "12"))
# Seconds a user waits between two tasks, drawn evenly from "low,high".
THINK = tuple(float(x) for x in os.environ.get("BENCH_THINK", "0,0.2").split(","))
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SIGN_IN_FORM = 'name="password"'
# Every request's time and group, for exact percentiles per group (Locust's own rounds
# to its buckets): (name, milliseconds, failed, group).
_times: list[tuple[str, float, bool, str]] = []


def group_of(name: str) -> str:
    """``sign-in`` (the form's POST), ``write`` (a POST/PUT that changes data) or ``read``."""
    if name.startswith("POST /login"):
        return "sign-in"
    if name.startswith(("POST ", "PUT ", "PATCH ")):
        return "write"
    return "read"


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception=None,
            **_kw) -> None:
    _times.append((name, response_time, exception is not None, group_of(name)))


@events.quitting.add_listener
def _dump(**_kw) -> None:
    out = os.environ.get("BENCH_TIMES")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(_times, f)


def _pools() -> dict[str, list[list[dict]]]:
    """Per role, one list of accounts per Locust user of that role (round robin)."""
    out: dict[str, list[list[dict]]] = {}
    users = {"team_lead": LeadUser.fixed_count, "supervisor": SupervisorUser.fixed_count}
    users["manager"] = max(USERS - sum(users.values()), 1)
    for role, n in users.items():
        accounts = [a for a in ACCOUNTS if a["role"] == role]
        out[role] = [accounts[i::n] for i in range(n)] if accounts else []
    return out


_turns = {role: itertools.count() for role in ("manager", "team_lead", "supervisor")}


class BankUser(FastHttpUser):
    abstract = True
    role = ""
    wait_time = between(*THINK)

    def on_start(self) -> None:
        pools = _pools()[self.role]
        self.pool = pools[next(_turns[self.role]) % len(pools)]
        self.cycle = itertools.cycle(self.pool)
        self.csrf = ""
        self.tasks_done = 0
        self.sign_in(next(self.cycle))

    # ------------------------------------------------------------ sign-in and out

    def sign_in(self, account: dict) -> None:
        self.account = account
        self.rng = random.Random(account["email"])
        self.auth = {"Authorization": f"Bearer {account['token']}"}
        page = self.client.get("/login", name="GET /login")
        match = CSRF.search(page.text or "")
        with self.client.post("/login", name="POST /login (sign in)", catch_response=True,
                              allow_redirects=False,
                              data={"csrf_token": match.group(1) if match else "",
                                    "email": account["email"],
                                    "password": account["password"]}) as response:
            # Signed in: a redirect away from the sign-in form.
            if response.status_code != 302 or "/login" in response.headers.get("Location", ""):
                response.failure(f"sign-in failed ({response.status_code})")
                return
        self.page("/", "GET / (after sign-in)")

    def sign_out(self) -> None:
        with self.client.post("/logout", name="POST /logout", catch_response=True,
                              allow_redirects=False,
                              data={"csrf_token": self.csrf}) as response:
            if response.status_code != 302:
                response.failure(f"sign-out answered {response.status_code}")

    def on_task(self) -> None:
        self.tasks_done += 1
        if self.tasks_done % SIGN_IN_EVERY == 0:
            self.sign_out()
            self.sign_in(next(self.cycle))

    # ------------------------------------------------------------ helpers

    def page(self, path: str, name: str) -> str:
        """GET a page of the signed-in user; keeps its CSRF token for the next form."""
        with self.client.get(path, name=name, catch_response=True) as response:
            text = response.text or ""
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
            elif SIGN_IN_FORM in text:
                response.failure("landed on the sign-in form")
            if match := CSRF.search(text):
                self.csrf = match.group(1)
            return text

    def api(self, path: str, name: str) -> dict | None:
        with self.client.get(path, name=name, headers=self.auth,
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return None
            return response.json()

    def pick(self) -> int | None:
        ids = self.account["prospects"]
        return self.rng.choice(ids) if ids else None

    def team_query(self) -> str:
        teams = self.account.get("teams") or []
        return f"?team={quote(self.rng.choice(teams))}" if teams else ""


class ManagerUser(BankUser):
    role = "manager"

    @task(4)
    def board(self) -> None:
        self.page("/board", "GET /board (manager)")
        self.on_task()

    @task(4)
    def prospect_page(self) -> None:
        if (pid := self.pick()) is not None:
            self.page(f"/prospects/{pid}", "GET /prospects/<id>")
        self.on_task()

    @task(2)
    def my_day(self) -> None:
        self.page("/my-day", "GET /my-day")
        self.on_task()

    @task(2)
    def api_tasks(self) -> None:
        self.api("/api/v1/tasks?limit=50", "GET /api/v1/tasks")
        self.on_task()

    @task(2)
    def api_list(self) -> None:
        self.api("/api/v1/prospects?limit=50", "GET /api/v1/prospects")
        self.on_task()

    @task(2)
    def api_prospect(self) -> None:
        if (pid := self.pick()) is not None:
            self.api(f"/api/v1/prospects/{pid}", "GET /api/v1/prospects/<id>")
        self.on_task()

    @task(1)
    def complaints(self) -> None:
        self.page("/complaints", "GET /complaints (manager)")
        self.on_task()

    @task(1)
    def log_contact(self) -> None:
        """A visit logged through the prospect page's contact form."""
        if (pid := self.pick()) is not None:
            self.page(f"/prospects/{pid}", "GET /prospects/<id>")
            with self.client.post(f"/prospects/{pid}/contacts", name="POST /prospects/<id>/contacts",
                                  catch_response=True, allow_redirects=False,
                                  data={"csrf_token": self.csrf, "kind": "visit", "outcome": "",
                                        "at": "", "note": "load test", "callback_at": "",
                                        "override_reason": ""}) as response:
                if response.status_code != 302:
                    response.failure(f"{response.status_code}")
        self.on_task()

    @task(1)
    def advance(self) -> None:
        """The next stage through the API when the prospect's read offers it; a move the
        records or a concurrent change refuse (422, 409) is expected."""
        if (pid := self.pick()) is None:
            return self.on_task()
        doc = self.api(f"/api/v1/prospects/{pid}", "GET /api/v1/prospects/<id>")
        if doc and "advance" in (doc.get("available_events") or []):
            with self.client.post(f"/api/v1/prospects/{pid}/events", name="POST /api/v1/prospects/<id>/events",
                                  headers=self.auth, catch_response=True,
                                  json={"event": "advance", "version": doc.get("version")}
                                  ) as response:
                if response.status_code in (200, 409, 422):
                    response.success()
                else:
                    response.failure(f"{response.status_code}")
        self.on_task()


class LeadUser(BankUser):
    role = "team_lead"
    fixed_count = int(os.environ.get("BENCH_LEADS", "3"))

    @task(3)
    def board(self) -> None:
        self.page("/board", "GET /board (team lead)")
        self.on_task()

    @task(3)
    def escalations(self) -> None:
        self.page("/escalations", "GET /escalations (team lead)")
        self.on_task()

    @task(2)
    def prospect_page(self) -> None:
        if (pid := self.pick()) is not None:
            self.page(f"/prospects/{pid}", "GET /prospects/<id>")
        self.on_task()

    @task(1)
    def funnel(self) -> None:
        self.page("/reports/funnel", "GET /reports/funnel (team lead)")
        self.on_task()

    @task(1)
    def daily(self) -> None:
        self.page("/reports/daily", "GET /reports/daily (team lead)")
        self.on_task()

    @task(1)
    def weekly(self) -> None:
        self.page("/reports/weekly", "GET /reports/weekly (team lead)")
        self.on_task()

    @task(1)
    def complaints(self) -> None:
        self.page("/complaints", "GET /complaints (team lead)")
        self.on_task()

    @task(1)
    def touches(self) -> None:
        self.page("/reports/messages", "GET /reports/messages (team lead)")
        self.on_task()

    @task(1)
    def api_escalations(self) -> None:
        self.api("/api/v1/escalations?status=open&limit=50", "GET /api/v1/escalations")
        self.on_task()

    @task(1)
    def api_funnel(self) -> None:
        self.api(f"/api/v1/funnel?team={quote(self.account['team'])}",
                 "GET /api/v1/funnel?team=")
        self.on_task()


class SupervisorUser(BankUser):
    role = "supervisor"
    fixed_count = int(os.environ.get("BENCH_SUPERVISORS", "2"))

    @task(3)
    def board(self) -> None:
        self.page("/board" + self.team_query(), "GET /board?team= (supervisor)")
        self.on_task()

    @task(2)
    def escalations(self) -> None:
        self.page("/escalations", "GET /escalations (supervisor)")
        self.on_task()

    @task(1)
    def funnel(self) -> None:
        self.page("/reports/funnel", "GET /reports/funnel (supervisor)")
        self.on_task()

    @task(1)
    def daily(self) -> None:
        self.page("/reports/daily", "GET /reports/daily (supervisor)")
        self.on_task()

    @task(1)
    def weekly(self) -> None:
        self.page("/reports/weekly", "GET /reports/weekly (supervisor)")
        self.on_task()

    @task(1)
    def after_sale(self) -> None:
        self.page("/reports/after-sale", "GET /reports/after-sale")
        self.on_task()

    @task(1)
    def complaints(self) -> None:
        self.page("/complaints/report", "GET /complaints/report")
        self.on_task()

    @task(1)
    def allocation(self) -> None:
        self.page("/allocation", "GET /allocation")
        self.on_task()

    @task(1)
    def campaigns(self) -> None:
        self.page("/campaigns", "GET /campaigns")
        self.on_task()

    @task(1)
    def complaint_list(self) -> None:
        self.page("/complaints", "GET /complaints (supervisor)")
        self.on_task()

    @task(1)
    def touches(self) -> None:
        self.page("/reports/messages", "GET /reports/messages (supervisor)")
        self.on_task()

    @task(1)
    def import_page(self) -> None:
        self.page("/imports/customers", "GET /imports/customers")
        self.on_task()

    @task(1)
    def api_funnel(self) -> None:
        self.api("/api/v1/funnel" + self.team_query(), "GET /api/v1/funnel?team= (supervisor)")
        self.on_task()
