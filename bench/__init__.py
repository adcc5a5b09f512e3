"""Bank-scale benchmarks (``make bench`` = ``python -m bench``).

A province of data on PostgreSQL — 1,000 managers in 100 teams, 250,000 prospects on
their boards, about two million stage events — and a branch on SQLite, then the cost of
every hot path measured against its floor or budget, and a load test of the real server.
The figures are written to ``bench/RESULTS.md``. Never part of ``make test``.
"""
