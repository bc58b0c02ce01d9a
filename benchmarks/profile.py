"""Where a wagate server spends its time under load: a py-spy profile, summarized.

``python -m benchmarks.profile [--route send|inbound] [--seconds S] [--requests N]``
starts ``wagate serve`` on a fresh SQLite database with a connected simulator
session whose contacts send delivery and read receipts (as in the fast-path
benchmark), drives the route with the fast-path load generator (32 in flight)
while ``py-spy record`` samples the server, then prints:

* the event loop's busy share (samples whose innermost frame is not the loop
  waiting for I/O) and the busy samples by package of their innermost frame;
* wagate's functions by inclusive share of the busy samples (top 25);
* the database writer thread's share and its top frames.

py-spy is in the dev dependencies; it needs ptrace (root, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.api import Api
from benchmarks.fastpath import AUTH, INBOUND_BODY, RECEIPTS_ON, SEND_BODY
from benchmarks.loadgen import LoadSpec, run_in_process
from benchmarks.server import WagateServer

IDLE_LEAF = re.compile(r"^(Runner\.run|run_until_complete|_run_once|select) \(")
PACKAGES = ("wagate/", "sqlalchemy/", "aiosqlite", "asyncpg", "fastapi", "starlette", "pydantic")
PACKAGES_MORE = ("uvicorn", "asyncio", "json", "structlog")


def _name(frame: str) -> str:
    """``func (path/to/file.py:12)`` as ``func (file.py)``."""
    return re.sub(r"\((?:[^()]*/)?([^/:()]+)(?::\d+)?\)", r"(\1)", frame)


def summarize(raw: Path, top: int = 25) -> str:
    loop_busy: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    writer: collections.Counter[str] = collections.Counter()
    loop_total = writer_total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        if any(f.startswith("Database.run_batch.<locals>.in_thread ") for f in frames):
            writer_total += n
            writer[_name(frames[-1])] += n
            continue
        if not any("wagate/__main__.py" in frame for frame in frames[:4]):
            continue
        loop_total += n
        leaf = _name(frames[-1])
        if IDLE_LEAF.match(leaf):
            continue
        loop_busy["busy"] += n
        path = frames[-1]
        package = next((p for p in PACKAGES + PACKAGES_MORE if p in path), "other")
        by_package[package.rstrip("/")] += n
        for name in {_name(f) for f in frames[3:] if "wagate/" in f}:
            inclusive[name] += n
    busy = loop_busy["busy"] or 1
    lines = [
        f"event loop: {100 * busy / max(loop_total, 1):.0f} % of its samples busy "
        f"({busy} of {loop_total})",
        "busy samples by package of the innermost frame:",
        *(f"  {100 * v / busy:5.1f} %  {k}" for k, v in by_package.most_common(10)),
        f"wagate functions, inclusive share of the busy samples (top {top}):",
        *(f"  {100 * v / busy:5.1f} %  {k}" for k, v in inclusive.most_common(top)),
        f"database writer thread: {writer_total} samples; innermost frames:",
        *(f"  {100 * v / max(writer_total, 1):5.1f} %  {k}" for k, v in writer.most_common(6)),
    ]
    return "\n".join(lines)


async def profile(route: str, seconds: float, requests: int, out: Path) -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory(prefix="wagate-profile-") as tmp:
        data = Path(tmp)
        server = WagateServer(
            database_url=f"sqlite+aiosqlite:///{data / 'wagate.db'}",
            data_dir=data,
            log_path=data / "server.log",
            extra_env=RECEIPTS_ON,
        )
        async with server, Api(server.url, server.api_key) as api:
            assert server.process is not None
            session_id = await api.connected_simulator_session("profile")
            if route == "send":
                spec = LoadSpec(
                    f"{server.url}/v1/sessions/{session_id}/messages", SEND_BODY, requests
                )
            else:
                spec = LoadSpec(
                    f"{server.url}/v1/simulator/{session_id}/inbound", INBOUND_BODY, requests
                )
            spec.headers = dict(AUTH)
            recorder = await asyncio.create_subprocess_exec(
                spy, "record", "--pid", str(server.process.pid), "--format", "raw",
                "--rate", "200", "--duration", str(int(seconds)), "--output", str(out),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(0.5)
            load = await run_in_process(spec)
            await recorder.wait()
    return (
        f"{route}: {load.rate:,.0f}/s, p99 {load.p99_ms:.1f} ms over {load.seconds:.1f} s\n"
        + summarize(out)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    parser.add_argument("--route", choices=("send", "inbound"), default="send")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "wagate.spy")
    args = parser.parse_args(argv)
    print(asyncio.run(profile(args.route, args.seconds, args.requests, args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
