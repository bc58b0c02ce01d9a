"""wagate's benchmark harness: ``python -m benchmarks`` (``make bench``).

Each backend (SQLite, PostgreSQL) is measured in one run against a baseline
taken on the same machine a moment earlier: the raw rate of one-row commits
on that database. Every wagate figure is printed beside its ratio to that
baseline, so a figure can be read without knowing how fast the disk is.
Webhook delivery is also printed beside the rate of plain signed POSTs from
one HTTP client to the same receiver, measured in the same run.
See ``docs/benchmarks.md``.
"""
