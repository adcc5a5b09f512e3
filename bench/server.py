"""The real server under load: gunicorn workers on 127.0.0.1 against the province, Locust
users signing in and reading boards, prospect pages and the API, while the deadline sweep
runs again and again from the command line."""
from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bench.common import Section, median, ms, percentile
from bench.generate import NOW, PASSWORD
from pipeline.auth.models import Team, User
from pipeline.auth.services import issue_token
from pipeline.db import make_engine
from pipeline.prospects.models import Prospect

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accounts(url: str, managers: int, leads: int) -> list[dict]:
    """Managers spread over the province and some team leads, each with an API token and
    prospect ids in their scope."""
    engine = make_engine(url)
    out = []
    with sessionmaker(bind=engine, expire_on_commit=False)() as session:
        all_managers = list(session.scalars(select(User).where(User.role == "manager")
                                            .order_by(User.id)))
        all_leads = list(session.scalars(select(User).where(User.role == "team_lead")
                                         .order_by(User.id)))
        step_m = max(len(all_managers) // managers, 1)
        step_l = max(len(all_leads) // leads, 1)
        chosen = all_managers[::step_m][:managers] + all_leads[::step_l][:leads]
        teams = dict(session.execute(select(Team.id, Team.name)).all())
        for user in chosen:
            scope = Prospect.owner_id == user.id if user.role == "manager" \
                else Prospect.team_id == user.team_id
            ids = list(session.scalars(select(Prospect.id).where(
                scope, Prospect.status.in_(("active", "paused", "won")))
                .order_by(Prospect.id).limit(60)))
            out.append({"email": user.email, "password": PASSWORD, "role": user.role,
                        "team": teams.get(user.team_id), "prospects": ids,
                        "token": issue_token(session, user.email)})
    engine.dispose()
    return out


def _wait_until_up(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/login", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("gunicorn did not answer in time")


class Sweeper(threading.Thread):
    """Runs ``flask --app wsgi pipeline sweep --now T --no-mail`` back to back, T moving on
    ten minutes a run, until stopped."""

    def __init__(self, url: str, start: datetime) -> None:
        super().__init__(daemon=True)
        self.url, self.moment = url, start
        self.stop = threading.Event()
        self.runs: list[tuple[float, dict]] = []
        self.failures = 0

    def run(self) -> None:
        env = {**os.environ, "DATABASE_URL": self.url}
        while not self.stop.is_set():
            self.moment += timedelta(minutes=10)
            started = time.perf_counter()
            done = subprocess.run(
                [str(BIN / "flask"), "--app", "wsgi", "pipeline", "sweep", "--now",
                 self.moment.isoformat(), "--no-mail"],
                check=False, cwd=ROOT, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                self.failures += 1
                print(done.stderr[-2000:], file=sys.stderr)
                continue
            self.runs.append((time.perf_counter() - started,
                              json.loads(done.stdout.strip().splitlines()[-1])))


def run(url: str, *, sweep_from: datetime, workers: int = 4, users: int = 12,
        seconds: int = 60, managers: int = 40, leads: int = 8) -> Section:
    section = Section("The real server under load (gunicorn + Locust, PostgreSQL province)")
    accounts = _accounts(url, managers, leads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    (tmp / "accounts.json").write_text(json.dumps(accounts), encoding="utf-8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": url, "PIPELINE_NOW": NOW.isoformat(),
           "PIPELINE_SECRET_KEY": "bench-load-secret", "BENCH_ACCOUNTS": str(tmp / "accounts.json"),
           "BENCH_TIMES": str(tmp / "times.json")}
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    sweeper = Sweeper(url, sweep_from)
    try:
        _wait_until_up(base, server)
        sweeper.start()
        locust = subprocess.run(
            [str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
             "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
             "--host", base, "--csv", str(tmp / "load"), "--only-summary",
             "--loglevel", "WARNING", "--exit-code-on-error", "0"],
            check=False, cwd=ROOT, env=env, capture_output=True, text=True)
        if locust.returncode != 0:
            raise RuntimeError("locust failed: " + locust.stderr[-2000:])
    finally:
        sweeper.stop.set()
        sweeper.join(timeout=120)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    with open(tmp / "load_stats.csv", encoding="utf-8") as f:
        stats = list(csv.DictReader(f))
    failures_file = tmp / "load_failures.csv"
    failures = []
    if failures_file.exists():
        with open(failures_file, encoding="utf-8") as f:
            failures = list(csv.DictReader(f))
    section.say(f"gunicorn {workers} sync workers on 127.0.0.1 (the app as `wsgi:app`, clock "
                f"fixed at the data's time); Locust {users} users for {seconds} s on the same "
                f"2 cores (think time 0–0.2 s), accounts: {managers} managers and {leads} team "
                f"leads, each signing in through the login form once; "
                f"meanwhile {len(sweeper.runs)} sweeps ran back to back from the command line "
                f"(median {ms(median([d for d, _ in sweeper.runs])) if sweeper.runs else '-'}"
                f" each, app start included; {sweeper.failures} failed). Latencies are "
                "Locust's (client side, rounded to its buckets).")
    section.say()
    rows = []
    total = None
    for row in stats:
        cells = [row["Name"] if row["Name"] != "Aggregated" else "**all requests**",
                 row["Request Count"], row["Failure Count"], f"{float(row['Requests/s']):.1f}",
                 f"{row['50%']} ms", f"{row['99%']} ms",
                 f"{float(row['Max Response Time'] or 0):.0f} ms"]
        if row["Name"] == "Aggregated":
            total = row
        else:
            rows.append(cells)
    if total is None:
        raise RuntimeError("locust wrote no aggregate row")
    rows.append([*(["**all requests**"] + [total["Request Count"], total["Failure Count"],
                                           f"{float(total['Requests/s']):.1f}",
                                           f"{total['50%']} ms", f"{total['99%']} ms",
                                           f"{float(total['Max Response Time']):.0f} ms"])])
    section.table(["request", "count", "errors", "req/s", "median", "p99", "max"], rows)
    for f in failures[:10]:
        section.say(f"- error: {f.get('Method')} {f.get('Name')}: {f.get('Error')} "
                    f"×{f.get('Occurrences')}")
    times_file = tmp / "times.json"
    if times_file.exists():
        samples = json.loads(times_file.read_text(encoding="utf-8"))
        reads = [t for name, t, _ in samples if "login" not in name]
        if reads:
            section.say(f"Reads alone (every request but the sign-in pages, {len(reads):,} "
                        f"requests, exact): median {median(reads):.0f} ms, p99 "
                        f"{percentile(reads, 99):.0f} ms, {len(reads) / seconds:.1f} "
                        "requests/s.")
            section.say()
    errors = int(total["Failure Count"]) + sweeper.failures
    section.say(f"Throughput {float(total['Requests/s']):.1f} requests/s, median "
                f"{total['50%']} ms, p99 {total['99%']} ms, {errors} errors.")
    section.say()
    section.budget("request errors under load (and failed sweeps)", str(errors), "0",
                   errors == 0)
    return section
