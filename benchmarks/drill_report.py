"""The crash drill's counts as printed lines and as JSON, ending in a PASS or FAIL line."""

from __future__ import annotations

from typing import Any

from benchmarks.drill import DrillResult


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def drill_lines(d: DrillResult) -> list[str]:
    counts = [
        ("burst", f"{d.messages} messages to {d.chats} chats"),
        (
            "SIGKILL",
            f"after {d.kill_after_s:.1f} s, with {d.on_network_at_kill} on the network "
            f"(target {d.kill_target}) and {d.acknowledged_at_kill} acknowledged",
        ),
        ("acknowledged (202)", str(d.acknowledged)),
        ("POSTs not acknowledged (server killed)", str(d.post_errors)),
        ("stored (outbound)", str(d.stored)),
        ("arrived (distinct)", str(d.arrived)),
        ("transmissions", str(d.transmissions)),
        ("duplicates (must be 0)", str(d.duplicates)),
        ("lost (must be 0)", str(d.lost)),
        ("retransmitted (transmissions > 1)", str(d.retransmitted)),
        ("stored but not sent", str(d.stored_not_sent)),
        ("restart until /health answers", _seconds(d.ready_s)),
        ("time to recover (restart until all sent)", _seconds(d.recover_s)),
    ]
    width = max(len(label) for label, _ in counts)
    lines = ["crash drill:"] + [f"  {label.ljust(width)}  {value}" for label, value in counts]
    if d.acknowledged_at_kill >= d.messages:
        lines.append("  note: every POST was answered before the kill (it came after the burst)")
    if d.passed:
        lines.append("crash drill: PASS (every acknowledged and stored message arrived once)")
    else:
        lines.append("crash drill: FAIL: " + "; ".join(d.problems))
    if d.unclean_stop:
        lines.append(f"the drill's server did not stop cleanly: {d.unclean_stop}")
    return lines


def drill_json(d: DrillResult) -> dict[str, Any]:
    return {"passed": d.passed}
