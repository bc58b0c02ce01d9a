"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "wagate": _version("wagate"),
        "aiohttp": _version("aiohttp"),
        "asyncpg": _version("asyncpg"),
        "sqlalchemy": _version("sqlalchemy"),
        "uvicorn": _version("uvicorn"),
    }


def source_info() -> dict[str, Any]:
    """The commit measured and the files under ``src/`` that differ from it (read-only git).

    Printed at the start and the end of a run: wagate is imported by each server
    process when it starts, so a change to ``src/`` during the run would mean
    that phases measured different code.
    """
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip()  # not lstrip: a status line starts with a space

    changed = git("status", "--porcelain", "--", "src", "pyproject.toml", "uv.lock")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip() or "unknown",
        "uncommitted": [line[3:] for line in changed.splitlines()],
    }
