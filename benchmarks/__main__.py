"""``python -m benchmarks [--backend sqlite|postgresql|both] [--quick] [--only PHASE,...]
[--json PATH]``.

Run from the repository root (``make bench``): the PostgreSQL backend reuses
the test suite's throwaway server from ``tests.support.postgres``.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.backends import BACKENDS
from benchmarks.machine import machine_info, source_info
from benchmarks.plan import FULL, QUICK
from benchmarks.report import backend_table, machine_table, summary_table, to_json
from benchmarks.run import PHASES, BackendRun, run_backend

DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Measure wagate against its database's baseline."
    )
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="both",
        help="database(s) to measure (default: both)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller counts: a smoke run of a few seconds"
    )
    parser.add_argument(
        "--only",
        type=_phases,
        default=PHASES,
        metavar="PHASE,...",
        help=f"run only these phases, comma-separated (default: all of {', '.join(PHASES)})",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="PATH",
        help="also write the results as JSON (default: benchmarks/results/latest.json)",
    )
    return parser.parse_args(argv)


def _phases(text: str) -> tuple[str, ...]:
    chosen = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PHASES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"phases are {', '.join(PHASES)}; got {text!r}")
    return chosen


def _source_line(source: dict[str, Any]) -> str:
    changed = source["uncommitted"]
    return f"commit {source['commit']}" + (
        f", uncommitted changes in {', '.join(changed)}" if changed else ", no uncommitted changes"
    )


def say(line: str) -> None:
    print(line, flush=True)


async def main_async(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else FULL
    names = list(BACKENDS) if args.backend == "both" else [args.backend]
    started = datetime.now(UTC)
    clock0 = time.monotonic()
    machine = machine_info()
    source = source_info()
    say(f"wagate benchmarks ({plan.name} run), {started:%Y-%m-%d %H:%M:%S} UTC")
    say(machine_table(machine))
    say(f"     source: {_source_line(source)}")
    runs: list[BackendRun] = []
    for name in names:
        say(f"\n[{name}]")
        with tempfile.TemporaryDirectory(prefix=f"wagate-bench-{name}-") as tmp:
            runs.append(await run_backend(name, plan, Path(tmp), say, args.only))
    elapsed = time.monotonic() - clock0

    say("")
    for run in runs:
        say(backend_table(run))
        say("")
    say("== summary (ratio to the same backend's raw commit baseline) ==")
    say(summary_table(runs))
    say(f"\ntotal time {elapsed:.0f} s")
    source_after = source_info()
    if source_after != source:
        say(f"WARNING: the source changed during the run: now {_source_line(source_after)}")

    payload = {
        "command": shlex.join([Path(sys.executable).name, "-m", "benchmarks", *sys.argv[1:]]),
        "started_at": started.isoformat(),
        "elapsed_s": elapsed,
        "plan": asdict(plan),
        "machine": machine,
        "source": source,
        "source_after": source_after,
    }
    to_json(args.json, payload, runs)
    say(f"results written to {args.json}")
    drills = [(run.name, run.drill) for run in runs if run.drill is not None]
    for name, drill in drills:
        say(f"crash drill on {name}: {'PASS' if drill.passed else 'FAIL'}")
    for run in runs:
        if run.outage is not None:
            say(f"webhook outage drill on {run.name}: {'PASS' if run.outage.passed else 'FAIL'}")
    for run in runs:
        if run.sessions is not None:
            verdict = "PASS" if run.sessions.passed else "FAIL"
            say(f"sessions (memory, storm, restore) on {run.name}: {verdict}")
    failed = any(
        run.failed or run.drill_failed or run.webhooks_failed or run.sessions_failed for run in runs
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
