"""A Markdown table of the fast-path phase from one or two JSON results (before, after).

``python -m benchmarks.fastpath_table AFTER.json [BEFORE.json]`` prints, per
backend, each route's rate and its ratio to the bare app of the same run,
p50/p99, server CPU and commits per message: what docs/benchmarks.md shows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROWS = (
    ("accept (POST message), 32 in flight, sender running", "accept", "bare_send"),
    ("sent end to end, receipts on", "sent", "bare_send"),
    ("simulator inbound, 32 in flight", "inbound", "bare_inbound"),
    ("Cloud ingest, signed, 32 in flight", "cloud", "bare_cloud"),
    ("accept at half the bare rate (open loop)", "accept_half", "bare_send_half"),
    ("inbound at 200/s during a send burst", "inbound_under_send", None),
)


def _cell(fast: dict[str, Any], key: str, bare_key: str | None) -> tuple[str, str, str, str]:
    bare = fast.get(bare_key) if bare_key else None
    if key == "sent":
        rate = fast.get("sent_per_s")
        base = (bare or {}).get("load", {}).get("rate")
        ratio = f"{rate / base:.2f}" if rate and base else "-"
        commits = fast.get("sent_commits")
        return (
            f"{rate:,.0f}/s" if rate else "-",
            ratio,
            "-",
            f"{commits:.3f}" if commits else "-",
        )
    measured = fast.get(key)
    if not measured:
        return "-", "-", "-", "-"
    load = measured["load"]
    base = (bare or {}).get("load", {}).get("rate")
    ratio = f"{load['rate'] / base:.2f}" if base and key != "accept_half" else "-"
    if key == "accept_half" and bare:
        ratio = f"p99 x {load['p99_ms'] / bare['load']['p99_ms']:.0f}"
    commits = measured.get("commits")
    return (
        f"{load['rate']:,.0f}/s",
        ratio,
        f"{load['p50_ms']:.1f} / {load['p99_ms']:.1f} ms; CPU {measured['server_cpu_ms']:.2f} ms",
        f"{commits:.3f}" if commits else "-",
    )


def table(after: dict[str, Any], before: dict[str, Any] | None) -> str:
    lines = []
    for backend, run in after["backends"].items():
        fast = run.get("fastpath")
        if not fast:
            continue
        old = (before or {}).get("backends", {}).get(backend, {}).get("fastpath") or {}
        bare = fast["bare_send"]["load"]
        lines += [
            f"**{run.get('label') or backend}** (bare app, send route: {bare['rate']:,.0f}/s, "
            f"p99 {bare['p99_ms']:.1f} ms, {fast['bare_send']['server_cpu_ms']:.2f} ms CPU/req)",
            "",
            "| route | after | ratio to bare | p50 / p99; server CPU per message | commits per "
            "message | before | ratio before |",
            "|---|---|---|---|---|---|---|",
        ]
        for title, key, bare_key in ROWS:
            rate, ratio, latency, commits = _cell(fast, key, bare_key)
            old_rate, old_ratio, _, _ = _cell(old, key, bare_key) if old else ("-",) * 4
            lines.append(
                f"| {title} | {rate} | {ratio} | {latency} | {commits} | {old_rate} | {old_ratio} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    after = json.loads(Path(argv[0]).read_text())
    before = json.loads(Path(argv[1]).read_text()) if len(argv) > 1 else None
    print(table(after, before))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
