"""The webhook figures and the outage drill as table rows, printed lines and JSON."""

from __future__ import annotations

import math
from typing import Any

from benchmarks.deliver import DeliveryRun, Leg
from benchmarks.outage import OutageResult

Row = tuple[str, str, str]


def _times(value: float | None) -> str:
    if value is None or math.isnan(value) or math.isinf(value):
        return "-"
    return f"{value:.3f} x" if value < 0.1 else f"{value:.2f} x"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _leg_rows(name: str, run: DeliveryRun, leg: Leg, commit_rate: float) -> list[Row]:
    flag = " (TIMED OUT)" if leg.timed_out else ""
    vs = f"{_times(run.ratio(leg))} raw POSTs, {_times(leg.delivered_per_s / commit_rate)} commits"
    out: list[Row] = [(f"webhooks, {name}: delivered{flag}", f"{leg.delivered_per_s:,.0f} /s", vs)]
    if name == "live":
        out.append(("webhooks, live: inbound calls answered", f"{leg.generated_per_s:,.0f} /s", ""))
        out.append(
            (
                "webhooks, live: delivered by the last call",
                f"{leg.delivered_by_generate_end} of {leg.logged} at {leg.generate_s:.1f} s",
                "",
            )
        )
    else:
        out.append(("webhooks, backlog: made while disabled", f"{leg.generated_per_s:,.0f} /s", ""))
    out.append(
        (
            f"webhooks, {name}: server / receiver CPU",
            f"{leg.server_cpu_share * 100:.0f} % / "
            f"{100 * leg.receiver_cpu_s / (leg.delivered_s or math.inf):.0f} % of a core",
            "",
        )
    )
    return out


def delivery_rows(run: DeliveryRun, commit_rate: float) -> list[Row]:
    out: list[Row] = []
    raw = run.raw
    if raw is not None:
        flag = " (TIMED OUT)" if raw.timed_out else ""
        out.append(
            (
                f"webhooks: raw signed POSTs, 1 client, {raw.concurrency} in flight{flag}",
                f"{raw.per_s:,.0f} /s",
                f"{_times(raw.per_s / commit_rate)} commits",
            )
        )
        out.append(
            (
                "webhooks: raw POSTs: client / receiver CPU",
                f"{100 * raw.client_cpu_s / raw.seconds:.0f} % / "
                f"{100 * raw.receiver_cpu_s / raw.seconds:.0f} % of a core",
                "",
            )
        )
    for name, leg in (("live", run.live), ("backlog", run.backlog)):
        if leg is not None:
            out += _leg_rows(name, run, leg, commit_rate)
    if run.check is not None:
        c = run.check
        out.append(
            (
                "webhooks: log vs receiver",
                f"{c.arrived} of {c.logged} arrived, {c.duplicates} dup, "
                f"{run.bad_signatures} bad signatures",
                "",
            )
        )
    return out


def delivery_lines(run: DeliveryRun) -> list[str]:
    lines = []
    if run.raw is not None and run.raw.error_samples:
        lines.append(f"raw POST errors: {run.raw.error_samples}")
    if run.problems:
        lines.append("webhook delivery: FAILED: " + "; ".join(run.problems))
    if run.unclean_stop:
        lines.append(f"the webhook server did not stop cleanly: {run.unclean_stop}")
    return lines


def outage_lines(o: OutageResult) -> list[str]:
    b, a = o.calls_before_restart, o.calls_after_restart
    c = o.check
    counts = [
        ("outage (receiver answers 500)", f"{o.outage_actual_s:.0f} s (planned {o.outage_s:.0f})"),
        ("retry schedule (s)", str([int(x) if x == int(x) else x for x in o.schedule])),
        ("events delivered before the outage", str(o.before_outage)),
        (
            "inbound messages before / after restart",
            f"{b.ok} / {a.ok} at {o.rate:.0f}/s ({b.failed + a.failed} calls failed)",
        ),
        (
            "restart (SIGTERM, then the same env)",
            f"exit code {o.exit_code} after {_seconds(o.stop_s)}; "
            f"ready {_seconds(o.ready_s)} after the spawn",
        ),
        ("attempts answered 500", str(o.refused)),
        ("events in the log (since the webhook)", str(c.logged)),
        ("arrived, signature verified", str(c.arrived)),
        ("missing (must be 0)", str(c.missing)),
        ("bad signatures (must be 0)", str(o.bad_signatures)),
        ("dead deliveries (must be 0)", "-" if o.dead is None else str(o.dead)),
        ("duplicates (allowed: at-least-once)", f"{c.duplicates} ({c.duplicated_events} events)"),
        ("waiting for the receiver at the recovery", str(o.backlog_at_recovery)),
        ("recovery until the first 2xx", _seconds(o.first_after_recovery_s)),
        ("time to drain (recovery until all arrived)", _seconds(o.drain_s)),
    ]
    width = max(len(label) for label, _ in counts)
    lines = ["outage drill:"] + [f"  {label.ljust(width)}  {value}" for label, value in counts]
    lines.append(outage_verdict(o))
    if o.unclean_stop:
        lines.append(f"the outage drill's server did not stop cleanly at the end: {o.unclean_stop}")
    return lines


def outage_verdict(o: OutageResult) -> str:
    if o.passed:
        return "outage drill: PASS (every event of the log arrived, signature verified)"
    return "outage drill: FAIL: " + "; ".join(o.problems)


def outage_cell(o: OutageResult) -> str:
    verdict = "PASS" if o.passed else "FAIL"
    return (
        f"{verdict}: {o.check.missing} lost, {o.check.duplicates} dup, "
        f"drained in {_seconds(o.drain_s)}"
    )


def add_delivery_json(data: dict[str, Any], run: DeliveryRun, commit_rate: float | None) -> None:
    """Add the derived rates to ``data``, the run as :func:`dataclasses.asdict` made it."""
    if run.raw is not None:
        data["raw"]["per_s"] = run.raw.per_s
    for name, leg in (("live", run.live), ("backlog", run.backlog)):
        if leg is None:
            continue
        data[name].update(
            delivered_per_s=leg.delivered_per_s,
            generated_per_s=leg.generated_per_s,
            server_cpu_share=leg.server_cpu_share,
            delivered_per_raw_post_rate=run.ratio(leg),
            delivered_per_commit_rate=leg.delivered_per_s / commit_rate if commit_rate else None,
        )
