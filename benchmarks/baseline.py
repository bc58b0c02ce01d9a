"""The baseline: how many one-row INSERT + COMMIT transactions the database does per second.

Measured on one connection, in a loop, with the durability wagate itself asks
for. Every other figure of a backend is divided by this one, so it has to be
taken the same way each time: a short warm-up, then a fixed count of commits
(or fewer, if ``max_s`` runs out first).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

WARMUP = 50
PAYLOAD = "x" * 100  # about the size of a short text message row's variable part


@dataclass(frozen=True, slots=True)
class CommitRate:
    commits: int
    seconds: float
    how: str

    @property
    def per_s(self) -> float:
        return self.commits / self.seconds if self.seconds > 0 else 0.0

    @property
    def one_commit_ms(self) -> float:
        return 1000.0 / self.per_s if self.per_s > 0 else float("inf")


def sqlite_commit_rate(path: Path, count: int, max_s: float) -> CommitRate:
    """WAL + synchronous=FULL + BEGIN IMMEDIATE: the settings of wagate's SQLite writer."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE bench (id INTEGER PRIMARY KEY, n INTEGER, body TEXT)")

        def one(n: int) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO bench (n, body) VALUES (?, ?)", (n, PAYLOAD))
            conn.execute("COMMIT")

        for n in range(WARMUP):
            one(n)
        done = 0
        start = time.perf_counter()
        deadline = start + max_s
        while done < count and time.perf_counter() < deadline:
            one(done)
            done += 1
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return CommitRate(
        done,
        elapsed,
        "stdlib sqlite3, WAL, synchronous=FULL, BEGIN IMMEDIATE; INSERT; COMMIT",
    )


async def postgres_commit_rate(dsn: str, count: int, max_s: float) -> CommitRate:
    """One INSERT per transaction over asyncpg (autocommit: one round trip, then the commit)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench (id BIGSERIAL PRIMARY KEY, n INTEGER, body TEXT)")
        insert = "INSERT INTO bench (n, body) VALUES ($1, $2)"
        for n in range(WARMUP):
            await conn.execute(insert, n, PAYLOAD)
        done = 0
        start = time.perf_counter()
        deadline = start + max_s
        while done < count and time.perf_counter() < deadline:
            await conn.execute(insert, done, PAYLOAD)
            done += 1
        elapsed = time.perf_counter() - start
        settings = await conn.fetch(
            "SELECT name, setting FROM pg_settings "
            "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name"
        )
    finally:
        await conn.close()
    server = ", ".join(f"{row['name']}={row['setting']}" for row in settings)
    return CommitRate(done, elapsed, f"asyncpg, one autocommit INSERT per transaction ({server})")
