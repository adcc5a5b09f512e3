"""A peer side by side: the product's manager's board read and ``advance`` against the
same two written with Django's ORM and django-viewflow's FSM (:mod:`bench.peer`), on the
same PostgreSQL server, in one run.

Board: a 250-card manager's rows with their current-stage records, ours
``queries.board`` (every card, not a page of each column) and the peer's ORM read in two
usual forms, each side saying what every card misses; read first, while the peer's copy
still equals ours, and checked to agree card by card. Advance: rounds of ours
(``advance_prospect`` on the province) and the peer's (lock, guard, new state, history
row on its copy) interleaved round by round, one committed transaction per advance each.
Django is imported only here (installed by ``make bench`` from bench/peer/requirements.txt).
"""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from bench.advance import FLOOR_SQL, _floor_advance, ready_prospects
from bench.common import QueryCounter, Section, make_app, median, ms, percentile
from bench.generate import NOW, conninfo
from pipeline import clock, workflows
from pipeline.auth.models import User
from pipeline.db import make_engine
from pipeline.prospects import queries
from pipeline.prospects.models import Prospect
from pipeline.prospects.services import advance_prospect

BUDGET = 1.5  # ours at least 1.5 times the peer, on both
WARM_UP = 10
MANAGERS = 100  # managers whose rows the peer's database copies (26,500 prospects)


class _Counter:
    """Statements Django sends (a connection execute wrapper)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def run(url: str, *, rounds: int = 30, per_round: int = 20, board_repeat: int = 30,
        managers: int = MANAGERS, at: datetime | None = None) -> Section:
    """``at``: the moment the advances happen (default an hour after the data's time)."""
    section = Section("A peer side by side: Django ORM and django-viewflow (PostgreSQL)")
    from bench.peer.load import load

    loaded = load(url, managers)
    import viewflow
    from django import get_version
    from django.db import connection

    make_app(url)  # registers the handlers every event's outcome needs
    engine = make_engine(url)
    Session = sessionmaker(bind=engine, expire_on_commit=False)
    counter = QueryCounter(engine)
    c = loaded["counts"]
    section.say(f"The peer: Django {get_version()}, django-viewflow "
                f"{getattr(viewflow, '__version__', '2.x')} (`viewflow.fsm.State` on the "
                "prospect's stage, one `advance` transition per forward move of the workflow "
                "file, each with a condition running the workflow's guards on the stage's "
                "records), psycopg 3 as Django configures it, in its own database on the same "
                f"server: a copy of the first {loaded['managers']} managers' rows "
                f"({c['peer_prospects']:,} prospects, {c['peer_stage_records']:,} records, "
                f"{c['peer_stage_events']:,} history rows), made in {loaded['seconds']:.0f} s.")
    section.say()
    try:
        board_ratio, cards = _board(section, Session, counter, board_repeat)
        ratio = _advance(section, url, Session, counter, rounds, per_round,
                         at or NOW + timedelta(hours=1))
    finally:
        clock.set_now(NOW)
        counter.close()
        engine.dispose()
        connection.close()
    section.budget("advance throughput, ours / peer", f"{ratio:.2f}", f"≥ {BUDGET}",
                   ratio >= BUDGET)
    section.budget(f"board read ({cards} cards), peer time / ours", f"{board_ratio:.2f}",
                   f"≥ {BUDGET}", board_ratio >= BUDGET)
    return section


def _board(section: Section, Session: Any, counter: QueryCounter, repeat: int
           ) -> tuple[float, int]:
    from django.db import connection

    from bench.peer import flow as peer

    clock.set_now(NOW)
    stages = [s.key for s in workflows.workflow().stages]
    reader = peer.BoardRead(workflows, queries.OPEN_STATUSES, queries.MAINTAINED)
    with Session() as session:
        manager = session.scalars(select(User).where(User.role == "manager")
                                  .order_by(User.id)).first()
        cards = session.scalar(select(func.count()).select_from(Prospect).where(
            Prospect.owner_id == manager.id, Prospect.status.in_(queries.OPEN_STATUSES)))

    def ours() -> queries.Board:
        with Session() as session:  # a session per read, as a request has
            return queries.board(session, manager, {}, stages=stages, default_limit=cards)

    reads = [("ours: `queries.board` (every card)", ours, False),
             ("peer: `select_related` + `prefetch_related`",
              lambda: reader.prefetch(manager.id, NOW), True),
             ("peer: `Subquery` annotations", lambda: reader.subquery(manager.id, NOW), True)]
    _same_board(ours(), *(fn() for _label, fn, _django in reads[1:]))
    django_counter = _Counter()
    statements = []
    for _label, fn, django in reads:
        if django:
            django_counter.count = 0
            with connection.execute_wrapper(django_counter):
                fn()
            statements.append(django_counter.count)
        else:
            with counter.counting() as n:
                fn()
            statements.append(n.count)
    # Interleaved read by read, so a change in the machine's load falls on all three alike.
    times: list[list[float]] = [[] for _ in reads]
    cpu: list[list[float]] = [[] for _ in reads]
    for _ in range(repeat):
        for i, (_label, fn, _django) in enumerate(reads):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            cpu[i].append(time.process_time() - start_cpu)
            times[i].append(time.perf_counter() - start)
    rows = [[label, repeat, ms(median(times[i])), ms(percentile(times[i], 90)),
             ms(median(cpu[i])), statements[i]] for i, (label, _fn, _d) in enumerate(reads)]
    results = {label: median(times[i]) for i, (label, _fn, _d) in enumerate(reads)}
    cpu_of = {label: median(cpu[i]) for i, (label, _fn, _d) in enumerate(reads)}
    section.say(f"Board read: one manager's {cards} open cards with the owner's name, each "
                "active card's current-stage records and what they miss (the workflow's "
                "guards), the columns' counts and overdue counts, and the manager's "
                f"maintained count; {repeat} reads each after one untimed, interleaved read by "
                "read, the three checked first to give the same cards in the same order with "
                "the same missing items.")
    section.say()
    section.table(["read", "reads", "median", "p90", "median client CPU", "statements"], rows)
    ours_label = reads[0][0]
    best = min((label for label in results if label != ours_label), key=results.get)
    ratio = results[best] / results[ours_label]
    section.say(f"Ratio peer / ours (time), against the faster peer read "
                f"({best.split(': ')[1]}): {ratio:.2f}; in client CPU "
                f"{cpu_of[best] / cpu_of[ours_label]:.2f}.")
    section.say()
    return ratio, cards


def _advance(section: Section, url: str, Session: Any, counter: QueryCounter, rounds: int,
             per_round: int, at: datetime) -> float:
    from django.db import connection

    from bench.peer import flow as peer
    from bench.peer.models import StageEvent as PeerEvent

    wf = workflows.workflow()
    flow_cls = peer.flow_class(wf)
    nxt = {t.source: t.dest for t in wf.transitions if t.event == peer.ADVANCE}
    needed = rounds * per_round + WARM_UP
    with Session() as session:
        picked = ready_prospects(session, 2 * needed)
    ours_set, floor_set = picked[0::2], picked[1::2]
    owners = list({o for _, o in ours_set})
    peer_set = peer.ready(needed, lambda rows, n: random.Random(11).sample(rows, n))
    if min(len(ours_set), len(floor_set), len(peer_set)) < needed:
        raise RuntimeError(f"ready to advance: ours {len(picked)} (two shares), peer "
                           f"{len(peer_set)}; {needed} each needed")
    before = PeerEvent.objects.filter(event=peer.ADVANCE, at=at).count()
    django_counter = _Counter()
    clock.set_now(at)
    rates: dict[str, list[float]] = {"ours": [], "floor": [], "peer": []}
    cpu: dict[str, list[float]] = {"ours": [], "floor": [], "peer": []}
    statements: dict[str, list[float]] = {"ours": [], "floor": [], "peer": []}
    floor_conn = psycopg.connect(conninfo(url))
    # Untimed: every side's statements prepared or cached, the server's caches warm.
    with Session() as session:
        for pid, owner in ours_set[:WARM_UP]:
            advance_prospect(session, pid, peer.ADVANCE, actor=session.get(User, owner))
    for pid, owner in floor_set[:WARM_UP]:
        _floor_advance(floor_conn, pid, owner, nxt, wf)
    for pid, owner in peer_set[:WARM_UP]:
        peer.advance(flow_cls, pid, owner, at)
    ours_set, floor_set, peer_set = ours_set[WARM_UP:], floor_set[WARM_UP:], peer_set[WARM_UP:]
    for r in range(rounds):
        batch = ours_set[r * per_round:(r + 1) * per_round]
        session = Session()
        actors = {u.id: u for u in session.scalars(select(User).where(User.id.in_(owners)))}
        with counter.counting() as n:
            start, start_cpu = time.perf_counter(), time.process_time()
            for pid, owner in batch:
                advance_prospect(session, pid, peer.ADVANCE, actor=actors[owner])
            elapsed = time.perf_counter() - start
            cpu["ours"].append((time.process_time() - start_cpu) / len(batch))
        statements["ours"].append(n.count / len(batch))
        session.close()
        rates["ours"].append(len(batch) / elapsed)
        batch = floor_set[r * per_round:(r + 1) * per_round]
        start, start_cpu = time.perf_counter(), time.process_time()
        for pid, owner in batch:
            _floor_advance(floor_conn, pid, owner, nxt, wf)
        elapsed = time.perf_counter() - start
        cpu["floor"].append((time.process_time() - start_cpu) / len(batch))
        statements["floor"].append(len(FLOOR_SQL))
        rates["floor"].append(len(batch) / elapsed)
        batch = peer_set[r * per_round:(r + 1) * per_round]
        django_counter.count = 0
        with connection.execute_wrapper(django_counter):
            start, start_cpu = time.perf_counter(), time.process_time()
            for pid, owner in batch:
                peer.advance(flow_cls, pid, owner, at)
            elapsed = time.perf_counter() - start
            cpu["peer"].append((time.process_time() - start_cpu) / len(batch))
        statements["peer"].append(django_counter.count / len(batch))
        rates["peer"].append(len(batch) / elapsed)
    floor_conn.close()
    written = PeerEvent.objects.filter(event=peer.ADVANCE, at=at).count() - before
    if written != needed:
        raise RuntimeError(f"the peer wrote {written} history rows for {needed} advances")
    ours, floor, theirs = (median(rates[k]) for k in ("ours", "floor", "peer"))
    ratios = [a / b for a, b in zip(rates["ours"], rates["peer"])]
    section.say(f"Advance: {rounds} rounds of {per_round} advances each path after {WARM_UP} "
                "untimed, ours, its plain-SQL floor (bench/advance.py: ours' rows and "
                "statements through psycopg, no ORM) and the peer's interleaved round by "
                "round on distinct prospects whose records are complete; one committed transaction per advance "
                "each (synchronous_commit on). Ours also writes what the peer leaves out: the "
                "stage visits (one closed, the next opened), the new stage's cadence tasks, "
                "the escalation handlers' work, the optimistic version check and (its "
                "records coming with the locking read) the check that they are still the "
                "current ones.")
    section.say()
    section.table(
        ["path", "median advances/s", "per advance", "client CPU per advance",
         "statements per advance", "slowest–fastest round (advances/s)"],
        [[label, f"{rate:.0f}", f"{1000 / rate:.2f} ms", f"{1000 * median(cpu[key]):.2f} ms",
          f"{median(statements[key]):.0f} + COMMIT",
          f"{min(rates[key]):.0f}–{max(rates[key]):.0f}"]
         for label, key, rate in (("ours: `advance_prospect`", "ours", ours),
                                  ("ours' plain-SQL floor", "floor", floor),
                                  ("peer: Django + `viewflow.fsm`", "peer", theirs))])
    ratio = ours / theirs
    section.say(f"Ratio ours / peer: {ratio:.2f} (medians); round by round: median "
                f"{median(ratios):.2f}, quartiles {percentile(ratios, 25):.2f}–"
                f"{percentile(ratios, 75):.2f}, lowest {min(ratios):.2f}. Floor / peer: "
                f"{floor / theirs:.2f} (ours' transaction without the ORM's and the service's "
                "client CPU).")
    section.say()
    return ratio


def _same_board(ours: queries.Board, *peers: dict) -> None:
    """Every read gives the same cards per stage, in the same order, with the same missing
    items and deadline flags, and the same counts; raise otherwise (the comparison would
    not be like for like)."""

    def problems(missing: list) -> tuple:
        return tuple((p.code, p.record, p.field) for p in missing)

    mine = {c.stage: ([(card.prospect.id, card.owner_name, problems(card.missing),
                        card.overdue, card.due_soon) for card in c.cards], c.overdue)
            for c in ours.columns if c.cards}
    if sum(len(cards) for cards, _ in mine.values()) != ours.total:
        raise RuntimeError("our board read did not return every card")
    for board in peers:
        theirs = {stage: ([(pid, name, problems(missing), late, soon)
                           for pid, name, missing, late, soon in cards],
                          board["overdue"][stage])
                  for stage, cards in board["columns"].items()}
        if theirs != mine:
            stage = next(k for k in sorted(set(mine) | set(theirs))
                         if mine.get(k) != theirs.get(k))
            pairs = zip((mine.get(stage) or ([], 0))[0], (theirs.get(stage) or ([], 0))[0],
                        strict=False)
            first = next(((a, b) for a, b in pairs if a != b), None)
            raise RuntimeError(f"the peer's board differs from ours in {stage}: "
                               f"{first!r}")
        if board["mine"] != (ours.mine.count if ours.mine else 0):
            raise RuntimeError("the peer's maintained count differs from ours")
