"""The real server under load: gunicorn (gthread) on 127.0.0.1 against the province, Locust
users of every role signing in and out through the forms again and again, reading their
pages and the API and writing contacts and advances, while the deadline sweep runs again
and again from the command line. Budgets per request group: p99 of page and API reads and
of the sign-in ≤ 300 ms, of writes ≤ 500 ms, no errors."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from bench.common import Section, median, ms, percentile
from bench.generate import NOW, PASSWORD
from pipeline.auth.models import Team, User
from pipeline.auth.services import create_user, issue_token
from pipeline.db import make_engine
from pipeline.prospects.models import Prospect

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accounts(url: str, managers: int, leads: int, supervisors: int
              ) -> tuple[list[dict], list[str]]:
    """Managers spread over the province, some team leads and supervisors, each with an
    API token and prospect ids in their scope (a supervisor: some teams' names). The
    province has one supervisor; the others are added once (``supervisor2@…``) so that
    every simulated supervisor signs in and out on an account of its own."""
    engine = make_engine(url)
    out = []
    with sessionmaker(bind=engine, expire_on_commit=False)() as session:
        def of(role: str) -> list[User]:
            return list(session.scalars(select(User).where(User.role == role,
                                                           User.active.is_(True))
                                        .order_by(User.id)))
        sups = of("supervisor")
        domain = sups[0].email.partition("@")[2] if sups else "province.bank"
        for n in range(len(sups) + 1, supervisors + 1):
            create_user(session, f"supervisor{n}@{domain}", role="supervisor",
                        password=PASSWORD)
        all_managers, all_leads, sups = of("manager"), of("team_lead"), of("supervisor")
        step_m = max(len(all_managers) // managers, 1)
        step_l = max(len(all_leads) // leads, 1)
        chosen = (all_managers[::step_m][:managers] + all_leads[::step_l][:leads]
                  + sups[:supervisors])
        teams = dict(session.execute(select(Team.id, Team.name).order_by(Team.id)).all())
        some_teams = list(teams.values())[::max(len(teams) // 10, 1)]
        for user in chosen:
            if user.role == "supervisor":
                ids: list[int] = []
            else:
                scope = Prospect.owner_id == user.id if user.role == "manager" \
                    else Prospect.team_id == user.team_id
                ids = list(session.scalars(select(Prospect.id).where(
                    scope, Prospect.status.in_(("active", "paused", "won")))
                    .order_by(Prospect.id).limit(60)))
            out.append({"email": user.email, "password": PASSWORD, "role": user.role,
                        "team": teams.get(user.team_id), "teams": some_teams,
                        "prospects": ids, "token": issue_token(session, user.email)})
        hashes = {u.password_hash.split("$")[3] for u in chosen if u.password_hash}
    engine.dispose()
    return out, sorted(hashes)


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
    """Runs ``flask --app wsgi pipeline sweep --now T --no-mail`` every ``every`` seconds
    (back to back when one takes longer; 0: always back to back), T moving on ten minutes
    a run, until stopped."""

    def __init__(self, url: str, start: datetime, every: float = 0) -> None:
        super().__init__(daemon=True)
        self.url, self.moment, self.every = url, start, every
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
            self.stop.wait(max(0.0, self.every - (time.perf_counter() - started)))


# The budgets of the load test: a page or API read, the sign-in form's POST, a write.
LIMITS_MS = {"read": 300, "sign-in": 300, "write": 500}


@dataclass(frozen=True)
class Step:
    """One load level: ``users`` Locust users (``leads`` team leads, ``supervisors``
    supervisors, the rest managers), each waiting ``think`` seconds (low, high) between
    two tasks; ``judged``: the level the budgets are judged at."""

    name: str
    users: int
    leads: int
    supervisors: int
    think: tuple[float, float]
    judged: bool = False

    @property
    def managers(self) -> int:
        return self.users - self.leads - self.supervisors


# The working day of a large branch, all at once: 40 managers, 6 team leads and 2
# supervisors signed in together, each acting every 2 to 8 seconds (5 on average: faster
# than people read a page); twice as many; and the closed loop of the first benchmarks
# (12 users with almost no pause), which finds how many requests the host answers at all.
STEPS = (
    Step("working day", 48, 6, 2, (2.0, 8.0), judged=True),
    Step("twice the working day", 96, 12, 4, (2.0, 8.0)),
    Step("closed loop (saturation)", 12, 3, 1, (0.0, 0.2)),
)


# Before the levels, untimed: a few users of every role walking their pages.
WARM_UP = Step("warm-up", 12, 3, 2, (0.2, 1.0))


@dataclass
class Measured:
    step: Step
    seconds: float
    samples: list[tuple[str, float, bool, str]]
    server_cpu: float  # seconds of CPU of gunicorn and its workers during the step
    database_cpu: float  # seconds of CPU of the PostgreSQL server's processes
    failures: list[dict]  # Locust's failure lines: method, name, error, occurrences

    @property
    def rate(self) -> float:
        return len(self.samples) / self.seconds

    def worst(self) -> dict[str, tuple[float, str]]:
        by_name: dict[str, list[float]] = {}
        group: dict[str, str] = {}
        for name, t, _failed, kind in self.samples:
            by_name.setdefault(name, []).append(t)
            group[name] = kind
        out: dict[str, tuple[float, str]] = {}
        for name, times in by_name.items():
            p99 = percentile(times, 99)
            if p99 > out.get(group[name], (-1.0, ""))[0]:
                out[group[name]] = (p99, name)
        return out

    @property
    def errors(self) -> int:
        return sum(failed for _, _, failed, _ in self.samples)

    def within(self) -> bool:
        return self.errors == 0 and all(p99 <= LIMITS_MS[kind]
                                        for kind, (p99, _) in self.worst().items())


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in (proc, *proc.children(recursive=True)):
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.Error:
            continue
    return total


def _postgres_pids() -> list[int]:
    import psutil

    return [p.pid for p in psutil.process_iter(["name"])
            if (p.info["name"] or "").startswith("postgres")]


def _pg_cpu() -> float:
    import psutil

    total = 0.0
    for pid in _postgres_pids():
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


def run(url: str, *, sweep_from: datetime, workers: int = 3, threads: int = 4,
        seconds: int = 60, steps: tuple[Step, ...] = STEPS, sign_in_every: int = 20,
        arrival: float = 15, sweep_every: float = 20, warm_up: int = 30) -> Section:
    """Load the province through one gunicorn for ``seconds`` per step of ``steps``, each
    Locust user of every step arriving within the step's first ``arrival`` seconds and
    signing out and in again as its next account every
    ``sign_in_every`` tasks; meanwhile a sweep starts every ``sweep_every`` seconds from
    the command line (the product's scheduler sweeps every five minutes; the sweeps here
    each move ten minutes on, so each has work to do).

    Workers: 3 processes × 4 threads (gthread). Python runs one thread at a time per
    process, so 2 cores need at least 2 processes; a third keeps both cores busy while one
    process waits on PostgreSQL, and the threads overlap database waits and the password
    hash (argon2 runs outside the GIL) with other requests. On this machine 3 × 4 served
    more requests than 4 × 2 or 6 × 1 in the same runs."""
    section = Section("The real server under load (gunicorn + Locust, PostgreSQL province)")
    most = {role: max(getattr(s, attr) for s in steps) for role, attr in (
        ("manager", "managers"), ("team_lead", "leads"), ("supervisor", "supervisors"))}
    # Two accounts per simulated user of the largest step (more for the few supervisors).
    accounts, hashes = _accounts(url, 2 * most["manager"], 2 * most["team_lead"],
                                 most["supervisor"] + 1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    (tmp / "accounts.json").write_text(json.dumps(accounts), encoding="utf-8")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": url, "PIPELINE_NOW": NOW.isoformat(),
           "PIPELINE_SECRET_KEY": "bench-load-secret",
           "BENCH_ACCOUNTS": str(tmp / "accounts.json"),
           "BENCH_SIGN_IN_EVERY": str(sign_in_every)}
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--worker-class", "gthread", "--workers", str(workers),
         "--threads", str(threads), "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
    sweeper = Sweeper(url, sweep_from, sweep_every)
    load_before = os.getloadavg()[0]
    measured: list[Measured] = []
    try:
        _wait_until_up(base, server)
        sweeper.start()
        def locust(n: int, step: Step, run_seconds: int) -> Path:
            """One Locust run of ``step``; the file of its request times."""
            times = tmp / f"times{n}.json"
            step_env = {**env, "BENCH_TIMES": str(times), "BENCH_USERS": str(step.users),
                        "BENCH_LEADS": str(step.leads),
                        "BENCH_SUPERVISORS": str(step.supervisors),
                        "BENCH_THINK": f"{step.think[0]},{step.think[1]}"}
            done = subprocess.run(
                [str(BIN / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
                 "--headless", "--users", str(step.users),
                 "--spawn-rate", str(step.users / arrival), "--run-time", f"{run_seconds}s",
                 "--host", base, "--csv", str(tmp / f"load{n}"), "--only-summary",
                 "--loglevel", "WARNING", "--exit-code-on-error", "0"],
                check=False, cwd=ROOT, env=step_env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError("locust failed: " + done.stderr[-2000:])
            return times

        # Untimed: every worker process and thread serves each kind of page once before
        # the levels are measured (a server in use is warm: templates compiled, statements
        # cached, connections open).
        locust(-1, WARM_UP, warm_up)
        for n, step in enumerate(steps):
            cpu0, pg0 = _cpu_seconds([server.pid]), _pg_cpu()
            times = locust(n, step, seconds)
            measured.append(Measured(
                step, seconds, [tuple(x) for x in json.loads(times.read_text("utf-8"))],
                _cpu_seconds([server.pid]) - cpu0, _pg_cpu() - pg0,
                _failures(tmp / f"load{n}_failures.csv")))
    finally:
        load_after = os.getloadavg()[0]
        sweeper.stop.set()
        sweeper.join(timeout=120)
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    cores = os.cpu_count() or 1
    section.say(
        f"gunicorn on 127.0.0.1, {workers} workers × {threads} threads (gthread; the app "
        f"as `wsgi:app`, clock fixed at the data's time), on the same {cores} cores as "
        f"PostgreSQL, Locust and the sweeps. After {warm_up} s of untimed warm-up "
        f"({WARM_UP.users} users walking every role's pages), Locust runs each load level "
        f"below for {seconds} s, its users arriving evenly over the first {arrival:g} s; every "
        f"simulated user has "
        f"accounts of its own, signs in through the form, and signs out through the menu "
        f"and in again as its next account every {sign_in_every} tasks. Password hashes: "
        f"argon2id {', '.join(hashes)}. Meanwhile {len(sweeper.runs)} sweeps ran from the "
        f"command line, one started every {sweep_every:g} s or when the last ended (median "
        f"{ms(median([d for d, _ in sweeper.runs])) if sweeper.runs else '-'} each, app "
        f"start included; {sweeper.failures} failed). Load average {load_before:.1f} "
        f"before, {load_after:.1f} at the end. Latencies are exact (Locust's request "
        "events); a refused advance (409/422) counts as answered, a 5xx, another "
        "unexpected status or a page landing on the sign-in form as an error. CPU: "
        "seconds used by gunicorn's processes and by PostgreSQL's during the level, per "
        "request answered.")
    section.say()
    summary = []
    for m in measured:
        worst = m.worst()
        n = len(m.samples)

        def cell(kind: str, w: dict = worst) -> str:
            return f"{w[kind][0]:.0f} ms" if kind in w else "-"
        summary.append([
            m.step.name + (" (budgets)" if m.step.judged else ""),
            f"{m.step.managers} / {m.step.leads} / {m.step.supervisors}",
            f"{m.step.think[0]:g}–{m.step.think[1]:g} s", f"{m.rate:.1f}",
            f"{m.rate / cores:.1f}", f"{median([t for _, t, _, _ in m.samples]):.0f} ms",
            cell("read"), cell("sign-in"), cell("write"), m.errors,
            f"{1000 * m.server_cpu / n:.0f} + {1000 * m.database_cpu / n:.0f} ms" if n else "-",
            "yes" if m.within() else "no"])
    section.table(["load level", "managers / leads / supervisors", "think time", "req/s",
                   "req/s per core", "median", "p99 reads", "p99 sign-in", "p99 writes",
                   "errors", "CPU per request (app + database)", "every budget met"],
                  summary)
    for m in measured:
        for f in m.failures[:10]:
            section.say(f"- error ({m.step.name}): {f.get('Method')} {f.get('Name')}: "
                        f"{f.get('Error')} ×{f.get('Occurrences')}")
    if any(m.failures for m in measured):
        section.say()
    served = [m for m in measured if m.within()]
    best = max(served, key=lambda m: m.rate) if served else None
    section.say(
        (f"One {cores}-core host serving the app and its database answered "
         f"{best.rate:.1f} requests/s ({best.rate / cores:.1f} per core) with every budget "
         f"met, at the level \"{best.step.name}\"." if best else
         "No load level met every budget.")
        + f" At saturation it answered {max(m.rate for m in measured):.1f} requests/s "
        f"({max(m.rate for m in measured) / cores:.1f} per core).")
    section.say()
    judged = next((m for m in measured if m.step.judged), measured[0])
    section.say(f"Every request of the level \"{judged.step.name}\" "
                f"({judged.step.users} users):")
    section.say()
    _detail(section, judged)
    titles = {"read": "every page and API read", "sign-in": "sign-in (the form's POST)",
              "write": "writes"}
    worst = judged.worst()
    for kind in ("read", "sign-in", "write"):
        if kind in worst:
            p99, name = worst[kind]
            section.budget(f"p99 under load ({judged.step.name}, {judged.step.users} users), "
                           f"{titles[kind]} (slowest: {name})",
                           f"{p99:.0f} ms", f"≤ {LIMITS_MS[kind]} ms",
                           p99 <= LIMITS_MS[kind])
    errors = sum(m.errors for m in measured)
    section.budget("request errors under load, every level (and failed sweeps)",
                   str(errors + sweeper.failures), "0", errors + sweeper.failures == 0)
    return section


def _failures(path: Path) -> list[dict]:
    import csv

    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _detail(section: Section, m: Measured) -> None:
    by_name: dict[str, list[float]] = {}
    errors_by_name: dict[str, int] = {}
    group: dict[str, str] = {}
    for name, t, failed, kind in m.samples:
        by_name.setdefault(name, []).append(t)
        errors_by_name[name] = errors_by_name.get(name, 0) + bool(failed)
        group[name] = kind
    rows = []
    for name in sorted(by_name, key=lambda n: (group[n], n)):
        times = by_name[name]
        p99 = percentile(times, 99)
        limit = LIMITS_MS[group[name]]
        rows.append([name, group[name], f"{len(times):,}", errors_by_name[name],
                     f"{len(times) / m.seconds:.1f}", f"{median(times):.0f} ms",
                     f"{p99:.0f} ms", f"{max(times):.0f} ms",
                     f"≤ {limit} ms {'met' if p99 <= limit else 'MISSED'}"])
    everything = [t for _, t, _, _ in m.samples]
    rows.append(["**all requests**", "", f"{len(everything):,}", m.errors,
                 f"{m.rate:.1f}", f"{median(everything):.0f} ms",
                 f"{percentile(everything, 99):.0f} ms", f"{max(everything):.0f} ms", ""])
    section.table(["request", "group", "count", "errors", "req/s", "median", "p99", "max",
                   "p99 budget"], rows)
