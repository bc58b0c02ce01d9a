"""Readable tables and the JSON file.

Each wagate figure is printed next to its ratio to the baseline measured on
the same backend in the same run:

* throughput ratio = rate / raw commit rate (1.0 would mean wagate sends a
  message as fast as the database commits one bare row);
* latency ratio = p50 latency / time of one raw commit (how many bare commits
  fit in the typical request).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.drill_report import drill_json, drill_lines
from benchmarks.run import BackendRun
from benchmarks.sessions import SessionsResult
from benchmarks.throughput import SendResult
from benchmarks.webhook_report import (
    add_delivery_json,
    delivery_lines,
    delivery_rows,
    outage_cell,
    outage_lines,
)

Row = tuple[str, str, str]


def _rate(value: float) -> str:
    return f"{value:,.0f} /s"


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.2f} ms" if value < 100 else f"{value:,.0f} ms"


def _times(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return "-"
    return f"{value:.3f} x" if value < 0.1 else f"{value:.2f} x"


def send_rows(what: str, send: SendResult, commit_rate: float) -> list[Row]:
    def vs(rate: float) -> str:
        return _times(rate / commit_rate) + " commit rate"

    flag = " (TIMED OUT)" if send.timed_out else ""
    out: list[Row] = [
        (f"{what}: accepted (202) rate", _rate(send.accepted_per_s), vs(send.accepted_per_s)),
        (f"{what}: sent rate, end to end{flag}", _rate(send.sent_per_s), vs(send.sent_per_s)),
    ]
    if send.drain_per_s is not None:
        out.append((f"{what}: sent rate after the last 202", _rate(send.drain_per_s), ""))
    out.append(
        (
            f"{what}: sent by the last 202",
            f"{send.sent_at_accept_end} of {send.accepted} at {send.accept_s:.1f} s",
            "",
        )
    )
    out.append(
        (f"{what}: sent / accepted / errors", f"{send.sent} / {send.accepted} / {send.errors}", "")
    )
    if send.processes > 1:
        split = " + ".join(str(n) for n in send.accepted_by_process)
        out.append((f"{what}: accepted by each process", split, ""))
    out.append(
        (
            f"{what}: server CPU" + (" (both)" if send.processes > 1 else ""),
            f"{send.server_cpu_share * 100:.0f} % of a core",
            "",
        )
    )
    return out


def rows(run: BackendRun) -> list[Row]:
    out: list[Row] = []
    base = run.baseline
    if base is None:
        return out
    commit_rate = base.per_s
    one_commit = base.one_commit_ms
    out.append(("raw commit rate (1 row per commit)", _rate(commit_rate), "1.00 x (baseline)"))
    out.append(("one raw commit", _ms(one_commit), ""))
    if run.send is not None:
        out += send_rows("send, 1 process", run.send, commit_rate)
    if run.two_process is not None and run.two_process.send is not None:
        out += send_rows("send, 2 processes", run.two_process.send, commit_rate)
    lat = run.latency
    if lat is not None and lat.latency:
        p50 = lat.latency["p50_ms"]
        out.append(
            (
                f"latency @ {lat.target_rate:.0f}/s: p50",
                _ms(p50),
                _times(p50 / one_commit) + " one commit",
            )
        )
        out.append((f"latency @ {lat.target_rate:.0f}/s: p99", _ms(lat.latency["p99_ms"]), ""))
        out.append((f"latency @ {lat.target_rate:.0f}/s: max", _ms(lat.latency["max_ms"]), ""))
        for route, label in (("post", "POST message"), ("get", "GET session")):
            summary = lat.by_route.get(route, {})
            if summary.get("count"):
                out.append(
                    (
                        f"  {label}: p50 / p99",
                        f"{_ms(summary['p50_ms'])} / {_ms(summary['p99_ms'])}",
                        "",
                    )
                )
        out.append(
            (
                "latency: achieved rate / errors",
                f"{lat.achieved_rate:,.0f} /s / {lat.errors}",
                "",
            )
        )
    if run.delivery is not None:
        out += delivery_rows(run.delivery, commit_rate)
    if run.sessions is not None:
        out += session_rows(run.sessions, commit_rate)
    return out


def session_rows(result: SessionsResult, commit_rate: float) -> list[Row]:
    """Reconnect rates are compared with the commit rate: a reconnect commits two
    status changes, each with its event."""
    n = result.sessions
    out: list[Row] = []
    if result.kb_per_session is not None:
        out.append(
            (
                f"memory per idle session ({n})",
                f"{result.kb_per_session:,.0f} KiB",
                f"RSS {result.rss_before_mb:.0f} -> {result.rss_idle_mb:.0f} MiB",
            )
        )
    for storm in result.storms:
        if storm.recovered_s is not None:
            out.append(
                (
                    f"reconnect storm, code {storm.code}: all {n} back",
                    f"{storm.recovered_s:.2f} s",
                    f"{_times(2 * storm.per_s(n) / commit_rate)} (2 commits per session)",
                )
            )
    if result.restore_connected_s is not None:
        out.append(("restore on boot: /health answers", f"{result.restore_ready_s:.2f} s", ""))
        out.append(
            (
                f"restore on boot: all {n} connected",
                f"{result.restore_connected_s:.2f} s",
                f"{_times(2 * n / result.restore_connected_s / commit_rate)} "
                "(2 commits per session)",
            )
        )
    if result.stop_s is not None:
        out.append((f"graceful stop with {n} sessions", f"{result.stop_s:.2f} s", ""))
    return out


def _table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in body]
    return "\n".join(lines)


def backend_table(run: BackendRun) -> str:
    title = f"== {run.label or run.name} =="
    if run.skipped:
        return f"{title}\nskipped: {run.skipped}"
    parts = [title]
    body = rows(run)
    if body:
        parts.append(_table(("measure", "figure", "vs baseline"), list(body)))
    if run.baseline is not None:
        parts.append(f"baseline: {run.baseline.how}")
    parts += [f"note: {note}" for note in run.notes]
    two = run.two_process
    if two is not None:
        parts.append(
            f"2 processes: worker ids {', '.join(two.worker_ids)}; lease held by {two.owner}; "
            f"WAGATE_SENDER_POLL_S={two.sender_poll_s} on both (default 1.0)"
        )
        if two.send is not None and two.send.error_samples:
            parts.append(f"send errors, 2 processes: {two.send.error_samples}")
        parts += [
            f"a server of the 2-process run did not stop cleanly: {u}" for u in two.unclean_stops
        ]
    if run.drill is not None:
        parts += drill_lines(run.drill)
    if run.delivery is not None:
        parts += delivery_lines(run.delivery)
    if run.outage is not None:
        parts += outage_lines(run.outage)
    if run.send is not None and run.send.error_samples:
        parts.append(f"send errors: {run.send.error_samples}")
    if run.latency is not None and run.latency.error_samples:
        parts.append(f"latency errors: {run.latency.error_samples}")
    if run.failed:
        parts.append(f"FAILED: {run.failed}")
    if run.server_stopped_cleanly is False:
        parts.append(f"the server did not stop cleanly; its log ends:\n{run.server_log_tail}")
    return "\n".join(parts)


def summary_table(runs: list[BackendRun]) -> str:
    """The backends side by side: each figure with its ratio to that backend's baseline."""
    measured = [r for r in runs if r.baseline is not None]
    if not measured:
        return "(no backend was measured)"
    header = ("measure", *(r.name for r in measured))

    def cell(run: BackendRun, what: str) -> str:
        base = run.baseline
        assert base is not None
        if what == "commit":
            return _rate(base.per_s)
        two = run.two_process.send if run.two_process is not None else None
        send = {"accepted": run.send, "sent": run.send, "accepted2": two, "sent2": two}.get(what)
        if send is not None:
            rate = send.sent_per_s if what.startswith("sent") else send.accepted_per_s
            flag = " TIMED OUT" if what.startswith("sent") and send.timed_out else ""
            return f"{_rate(rate)} ({_times(rate / base.per_s)}){flag}"
        if what == "drill" and run.drill is not None:
            d = run.drill
            return (
                f"{'PASS' if d.passed else 'FAIL'}: {d.duplicates} dup, {d.lost} lost, "
                f"{d.retransmitted} re-sent"
            )
        if what in ("p50", "p99") and run.latency is not None and run.latency.latency:
            value = run.latency.latency[f"{what}_ms"]
            return f"{_ms(value)} ({_times(value / base.one_commit_ms)} commit)"
        if what == "errors" and run.latency is not None:
            return f"{run.latency.achieved_rate:,.0f} /s, {run.latency.errors} errors"
        return _webhook_cell(run, what)

    body = [
        ("raw commits (baseline)", *(cell(r, "commit") for r in measured)),
        ("send, 1 process: accepted", *(cell(r, "accepted") for r in measured)),
        ("send, 1 process: sent end to end", *(cell(r, "sent") for r in measured)),
        ("send, 2 processes: accepted", *(cell(r, "accepted2") for r in measured)),
        ("send, 2 processes: sent end to end", *(cell(r, "sent2") for r in measured)),
        ("latency p50", *(cell(r, "p50") for r in measured)),
        ("latency p99", *(cell(r, "p99") for r in measured)),
        ("latency: achieved, errors", *(cell(r, "errors") for r in measured)),
        ("crash drill", *(cell(r, "drill") for r in measured)),
        ("webhooks: raw signed POSTs", *(cell(r, "raw") for r in measured)),
        ("webhooks: delivered live (x raw)", *(cell(r, "live") for r in measured)),
        ("webhooks: delivered backlog (x raw)", *(cell(r, "backlog") for r in measured)),
        ("webhook outage drill", *(cell(r, "outage") for r in measured)),
        ("idle session memory", *(_session_cell(r, "memory") for r in measured)),
        ("reconnect storm (428), all back", *(_session_cell(r, "428") for r in measured)),
        ("reconnect storm (408), all back", *(_session_cell(r, "408") for r in measured)),
        ("restore on boot, all connected", *(_session_cell(r, "restore") for r in measured)),
    ]
    return _table(header, body)


def _session_cell(run: BackendRun, what: str) -> str:
    result = run.sessions
    if result is None:
        return "-"
    if what == "memory":
        kb = result.kb_per_session
        return "-" if kb is None else f"{kb:,.0f} KiB x {result.sessions}"
    if what == "restore":
        took = result.restore_connected_s
        return "-" if took is None else f"{took:.1f} s for {result.sessions}"
    for storm in result.storms:
        if str(storm.code) == what and storm.recovered_s is not None:
            return f"{storm.recovered_s:.2f} s for {result.sessions}"
    return "-"


def _webhook_cell(run: BackendRun, what: str) -> str:
    delivery = run.delivery
    if what == "outage" and run.outage is not None:
        return outage_cell(run.outage)
    if delivery is None:
        return "-"
    if what == "raw" and delivery.raw is not None:
        return _rate(delivery.raw.per_s)
    leg = {"live": delivery.live, "backlog": delivery.backlog}.get(what)
    if leg is None:
        return "-"
    flag = " TIMED OUT" if leg.timed_out else ""
    return f"{_rate(leg.delivered_per_s)} ({_times(delivery.ratio(leg) or math.nan)}){flag}"


def machine_table(machine: dict[str, Any]) -> str:
    return "\n".join(f"{key:>11}: {value}" for key, value in machine.items())


def to_json(path: Path, payload: dict[str, Any], runs: list[BackendRun]) -> None:
    def run_json(run: BackendRun) -> dict[str, Any]:
        data = asdict(run)
        if run.baseline is not None:
            data["baseline"].update(
                per_s=run.baseline.per_s, one_commit_ms=run.baseline.one_commit_ms
            )
        two = run.two_process.send if run.two_process is not None else None
        if run.send is not None:
            data["send"].update(_send_json(run.send))
        if two is not None:
            data["two_process"]["send"].update(_send_json(two))
        if run.drill is not None:
            data["drill"].update(drill_json(run.drill))
        if run.delivery is not None:
            commit = run.baseline.per_s if run.baseline is not None else None
            add_delivery_json(data["delivery"], run.delivery, commit)
        if run.outage is not None:
            data["outage"]["passed"] = run.outage.passed
        if run.sessions is not None:
            data["sessions"].update(
                passed=run.sessions.passed, kb_per_session=run.sessions.kb_per_session
            )
        if run.fastpath is not None:
            data["fastpath"]["ratios_to_bare_app"] = run.fastpath.ratios()
        if run.baseline is not None:
            ratios: dict[str, float] = {}
            if run.send is not None:
                ratios["accepted_per_commit_rate"] = run.send.accepted_per_s / run.baseline.per_s
                ratios["sent_per_commit_rate"] = run.send.sent_per_s / run.baseline.per_s
            if two is not None:
                ratios["two_process_accepted_per_commit_rate"] = (
                    two.accepted_per_s / run.baseline.per_s
                )
                ratios["two_process_sent_per_commit_rate"] = two.sent_per_s / run.baseline.per_s
            if run.latency is not None and run.latency.latency:
                ratios["p50_per_commit_time"] = (
                    run.latency.latency["p50_ms"] / run.baseline.one_commit_ms
                )
            data["ratios"] = ratios
        return data

    document = {**payload, "backends": {run.name: run_json(run) for run in runs}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_finite(document), indent=2, default=str) + "\n")


def _send_json(send: SendResult) -> dict[str, Any]:
    return {
        "accepted_per_s": send.accepted_per_s,
        "sent_per_s": send.sent_per_s,
        "server_cpu_share": send.server_cpu_share,
        "drain_per_s": send.drain_per_s,
    }


def _finite(value: Any) -> Any:
    """NaN and infinity (an empty sample) become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
