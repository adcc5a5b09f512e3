"""``python -m bench``: generate the data, run every benchmark, write bench/RESULTS.md.

Options: ``--url`` (PostgreSQL database name to start from, default
``postgresql+psycopg://postgres@127.0.0.1:5432/pipeline_bench`` or ``BENCH_DATABASE_URL``),
``--scale SIZES`` (open prospects per database, comma-separated, default ``25000,250000``
or ``SCALE``; each size gets its own database, the name with ``_25k``, ``_250k``,
``_2500k``; the sections but growth run on 250,000, or on the first size when it is not
among them), ``--reuse`` (keep a size's database when it holds that size instead of
generating it again), ``--only NAME`` (run some benchmarks; RESULTS.md is then not
written), ``--out FILE``.
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import re
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import Section

HERE = Path(__file__).resolve().parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/pipeline_bench"
NAMES = ("machine", "board", "funnel", "queues", "advance", "sweep", "growth", "branch",
         "server", "imports", "peer", "aftersale", "pages")
DEFAULT_SCALE = "25000,250000"
MAIN_SIZE = 250_000


def machine_info(url: str) -> list[tuple[str, str]]:
    cpu = "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    ram = "unknown"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    import psycopg

    from bench.generate import conninfo

    with psycopg.connect(conninfo(url)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        settings = ", ".join(f"{k} {conn.execute(f'SHOW {k}').fetchone()[0]}" for k in (
            "shared_buffers", "work_mem", "max_parallel_workers_per_gather"))
    load = os.getloadavg()
    return [("CPU", cpu), ("cores", str(os.cpu_count())), ("RAM", ram),
            ("OS", platform.platform()),
            ("Python", platform.python_version()),
            ("PostgreSQL", f"{pg} (local, {settings})"),
            ("SQLite", sqlite3.sqlite_version),
            ("load average at the start", ", ".join(f"{x:.1f}" for x in load))]


def province_exists(url: str, size: int = MAIN_SIZE) -> bool:
    """Whether ``url`` holds a generated bank of ``size`` open prospects (lost ones on top:
    a generated size holds 1.06 times as many rows)."""
    import psycopg

    from bench.generate import conninfo

    try:
        with psycopg.connect(conninfo(url)) as conn:
            n = conn.execute("SELECT count(*) FROM prospects").fetchone()[0]
    except psycopg.Error:
        return False
    return size <= n <= 1.2 * size


def table_counts(url: str) -> dict[str, int]:
    import psycopg

    from bench.generate import BULK, conninfo

    with psycopg.connect(conninfo(url)) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("teams", "users", *BULK, "stage_visits")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--scale", default=os.environ.get("SCALE") or DEFAULT_SCALE,
                        help="open prospects per database, comma-separated (25000,250k,…)")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--only", action="append", choices=NAMES)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args(argv)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    # The app sets up the process's logging as in production (one JSON line per record on
    # stderr); a second handler here would make every event pay for two lines.
    from bench import generate as G
    from bench import growth

    try:
        sizes = G.parse_sizes(args.scale)
    except ValueError as error:
        parser.error(f"--scale: {error}")
    main_size = MAIN_SIZE if MAIN_SIZE in sizes else sizes[0]
    base_url = args.url
    args.url = G.size_url(base_url, main_size)
    only = set(args.only or NAMES)
    started = time.perf_counter()
    day = datetime.now(UTC)
    sections: list[Section] = []

    gen = Section("Data")
    banks: list[growth.Size] = []
    # Only the main size when growth is not run.
    for size in sizes if "growth" in only else [main_size]:
        bank = growth.Size(size, G.size_url(base_url, size))
        if (args.reuse and size == main_size and not province_exists(bank.url, size)
                and province_exists(base_url, size)):
            bank.url = args.url = base_url  # generated before each size had its own
        banks.append(bank)
        name = bank.url.rsplit("/", 1)[-1]
        if args.reuse and province_exists(bank.url, size):
            from pipeline.cli import upgrade

            upgrade(bank.url)  # migrations added since it was generated
            bank.counts = table_counts(bank.url)
            noted, bank.reused = G.noted_generation(bank.url), True
            bank.seconds, bank.load_seconds = noted.get("seconds"), noted.get("load_seconds")
            gen.say(f"{size:,} open prospects: reused from an earlier run ({name}"
                    + (f", which generated it in {bank.seconds:.0f} s" if bank.seconds else "")
                    + ").")
            gen.say()
        else:
            print(f"generating {size:,} open prospects in {name} (PostgreSQL, COPY) …",
                  flush=True)
            result = G.generate_postgres(bank.url, G.scale_for(size))
            G.note_generation(bank.url, result)
            bank.counts = table_counts(bank.url)
            bank.seconds, bank.load_seconds = result["seconds"], result["load_seconds"]
            gen.say(f"{size:,} open prospects on PostgreSQL ({name}), generated in "
                    f"{result['seconds']:.0f} s (rows loaded by COPY in "
                    f"{result['load_seconds']:.0f} s, then indexes, VACUUM ANALYZE), seed "
                    f"{G.PROVINCE.seed}, data time {G.NOW.isoformat()}"
                    + (":" if size == main_size else "."))
            gen.say()
        bank.bytes = G.database_bytes(bank.url)
        if size == main_size:
            gen.table(["table", "rows"], [[t, f"{n:,}"] for t, n in sorted(
                bank.counts.items())])
    if main_size != MAIN_SIZE or len(banks) > 1:
        gen.say(f"The sections but growth run on the {main_size:,} database.")
        gen.say()
    machine = Section("Machine")
    machine.table(["", ""], machine_info(args.url))
    sections += [machine, gen]

    from bench import advance, board, funnel, imports, server, sweep
    from bench import machine as machine_bench

    if "machine" in only:
        sections.append(machine_bench.run(repeat=3))
    if "board" in only:
        sections.append(board.run(args.url, repeat=20))
    if "funnel" in only:
        sections.append(funnel.run(args.url))
    if "queues" in only:
        from bench import queues

        sections.append(queues.run(args.url))
    if "pages" in only:
        from bench import pages

        sections.append(pages.run(args.url))
    # The sweep runs on the data as generated (advance moves prospects on and would leave
    # escalations of finished visits for the first sweep to close).
    sweep_from = G.NOW + G.DAY
    if "sweep" in only:
        section, last = sweep.run(args.url, repeat=10)
        sections.append(section)
        sweep_from = last
    if "advance" in only:
        sections.append(advance.run(args.url, at=sweep_from + G.HOUR))
        sweep_from += 2 * G.HOUR
    if "peer" in only:  # Django and django-viewflow: bench/peer/requirements.txt
        from bench import peer_section

        sections.append(peer_section.run(args.url, at=sweep_from + G.HOUR))
        sweep_from += 2 * G.HOUR
    if "growth" in only:
        sweep_from = growth.measure(banks, at=sweep_from + G.HOUR)
        sections.append(growth.section(banks))
    if "branch" in only:
        with tempfile.TemporaryDirectory(prefix="bench-branch-") as tmp:
            url = f"sqlite:///{tmp}/branch.sqlite3"
            result = G.generate_sqlite(url)
            c = result["counts"]
            branch = Section("A branch on SQLite")
            branch.say(f"{c['users']} users, {c['prospects']:,} prospects, "
                       f"{c['stage_events']:,} stage events, inserted with executemany in "
                       f"{result['seconds']:.1f} s.")
            branch.say()
            sections.append(branch)
            for s in (board.run(url, repeat=10, label="SQLite branch", budgets=False),
                      funnel.run(url, repeat=3, label="SQLite branch", budgets=False),
                      sweep.run(url, repeat=5, label="SQLite branch",
                                budgets=False, concurrent=False, cli=False)[0]):
                s.title = "SQLite branch: " + s.title.split(" (")[0]
                sections.append(s)
    if "imports" in only:
        sections.append(imports.run(args.url))
    if "aftersale" in only:  # deletes what it wrote before the server's run
        from bench import aftersale

        sections.append(aftersale.run(args.url))
    if "server" in only:
        sections.append(server.run(args.url, sweep_from=sweep_from))
    elapsed = time.perf_counter() - started
    machine.say("Load average at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
                + " (1, 5, 15 minutes; 2 cores).")
    machine.say()
    print(f"\nall done in {elapsed / 60:.1f} minutes", flush=True)
    if args.only:
        print("(--only: RESULTS.md not written)")
        return 0
    write_results(Path(args.out), sections, day, elapsed)
    print(f"wrote {args.out}")
    return 0


def write_results(path: Path, sections: list[Section], day: datetime, elapsed: float) -> None:
    budgets = [b for s in sections for b in s.budgets]
    lines = ["# Benchmark results", "",
             (f"Written by `make bench` on {day:%Y-%m-%d} (UTC), run time "
              f"{elapsed / 60:.1f} minutes including data generation. Every figure below "
              "comes from that one run; medians with their repeat counts. The machine is "
              "shared (2 cores, other jobs running), so the figures carry its noise."), "",
             "## Budgets", "", "| budget | measured | limit | |", "|---|---|---|---|"]
    for b in budgets:
        lines.append(f"| {b.name} | {b.measured} | {b.limit} | {'met' if b.ok else 'MISSED'} |")
    lines.append("")
    notes = HERE / "NOTES.md"
    for s in sections:
        lines += [f"## {s.title}", "", *s.lines]
    if notes.exists():
        lines += ["", notes.read_text(encoding="utf-8").rstrip()]
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
