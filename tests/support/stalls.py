"""Notice when the test process stops making progress, and say who stopped it.

A test that fails with a timeout after the machine froze for seconds looks the same
as one that fails because the code hung. This plugin tells them apart:

- every event loop the tests create beats a heart every 50 ms (the policy below);
- a watchdog thread wakes every 50 ms and looks at it.

Three outcomes are recorded as stalls (over ``THRESHOLD_S``):

- ``loop blocked``: the watchdog ran on time but the loop did not beat. Code in the
  loop's thread held it (a blocking call, a long computation); the main thread's
  stack at that moment is recorded, which names the culprit.
- ``process stalled, on CPU``: the watchdog itself overslept while this process kept
  using CPU: something held the GIL (a long C call).
- ``process stalled, off CPU``: the watchdog overslept and the process used next to
  no CPU: it was not scheduled at all (the machine stalled, or swapped).

Each test's report carries the stalls seen during it (shown with a failure), and the
run's summary lists them all, so a CI log says whether a timeout was the machine's.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
import traceback
import weakref
from dataclasses import asdict, dataclass
from typing import Any

import pytest

THRESHOLD_S = 1.5
PERIOD_S = 0.05


@dataclass
class Stall:
    kind: str
    seconds: float
    cpu_seconds: float
    started: str  # wall clock, to match with log lines
    stack: str

    def describe(self) -> str:
        head = (
            f"{self.started} {self.kind} for {self.seconds:.1f} s "
            f"(process CPU in that time: {self.cpu_seconds:.1f} s)"
        )
        return f"{head}\n{self.stack}" if self.stack else head


class _Watch:
    def __init__(self) -> None:
        self.beats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = (
            weakref.WeakKeyDictionary()
        )
        self.stalls: list[Stall] = []
        self._lock = threading.RLock()
        self._main = threading.main_thread().ident
        # the loop seen blocked now, and its last beat before the block
        self._blocked: tuple[weakref.ref[asyncio.AbstractEventLoop], float] | None = None
        self._blocked_stack = ""
        self._blocked_cpu = 0.0

    def start(self) -> None:
        threading.Thread(target=self._run, name="stall-watch", daemon=True).start()

    def heartbeat(self, loop: asyncio.AbstractEventLoop) -> None:
        self.beats[loop] = time.monotonic()
        if not loop.is_closed():
            loop.call_later(PERIOD_S, self.heartbeat, loop)

    def taken(self) -> list[Stall]:
        """The stalls seen since the last call; a block that the loop's end cut short is
        closed first (a test may end right after the call that blocked it)."""
        with self._lock:
            self._check_loop(time.monotonic(), _cpu())
            taken, self.stalls = self.stalls, []
        return taken

    def _record(self, kind: str, seconds: float, cpu: float, began: float, stack: str) -> None:
        started = time.strftime("%H:%M:%S", time.localtime(began))
        with self._lock:
            self.stalls.append(Stall(kind, round(seconds, 2), round(cpu, 2), started, stack))

    def _main_stack(self) -> str:
        return self._stack_of(self._main)

    @staticmethod
    def _stack_of(thread_id: int | None) -> str:
        frame = sys._current_frames().get(thread_id or 0)
        return "".join(traceback.format_stack(frame)[-12:]) if frame is not None else ""

    def _run(self) -> None:
        while True:
            before, cpu_before = time.monotonic(), _cpu()
            time.sleep(PERIOD_S)
            now, cpu_now = time.monotonic(), _cpu()
            overslept = now - before - PERIOD_S
            with self._lock:
                if overslept > THRESHOLD_S:
                    cpu = cpu_now - cpu_before
                    kind = "on CPU" if cpu > overslept / 2 else "off CPU"
                    self._record(
                        f"process stalled, {kind}",
                        overslept,
                        cpu,
                        time.time() - overslept,
                        self._main_stack(),
                    )
                    self._blocked = None  # the loop could not beat either: not its fault
                    continue
                self._check_loop(now, cpu_now)

    def _check_loop(self, now: float, cpu_now: float) -> None:
        """Notice a running loop that stopped beating, and record it once it beats again
        or stops running. The stack is that of the loop's own thread, taken while it is
        blocked. Called with the lock held."""
        try:
            running = [loop for loop in list(self.beats) if loop.is_running()]
        except RuntimeError:  # a loop was added while the set was copied
            return
        if self._blocked is None:
            for loop in running:
                beat = self.beats.get(loop, now)
                if now - beat > THRESHOLD_S:
                    self._blocked, self._blocked_cpu = (weakref.ref(loop), beat), cpu_now
                    thread_id = getattr(loop, "_thread_id", None)  # set while it runs
                    self._blocked_stack = self._stack_of(thread_id or self._main)
                    break
            return
        ref, since = self._blocked
        loop = ref()
        beat = self.beats.get(loop, since) if loop is not None else since
        resumed = beat > since
        if resumed or loop is None or not loop.is_running():
            self._record(
                "loop blocked",
                (beat if resumed else now) - since,
                cpu_now - self._blocked_cpu,  # from when the block was seen
                time.time() - (now - since),
                self._blocked_stack,
            )
            self._blocked = None


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


_watch = _Watch()


class HeartbeatPolicy(asyncio.DefaultEventLoopPolicy):
    """New event loops beat :data:`_watch`'s heart while they run."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        _watch.beats[loop] = time.monotonic()
        loop.call_soon(_watch.heartbeat, loop)
        return loop


_seen: list[tuple[str, dict[str, Any]]] = []


def pytest_configure(config: pytest.Config) -> None:
    asyncio.set_event_loop_policy(HeartbeatPolicy())
    _watch.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    stalls = _watch.taken()
    if stalls:
        report.sections.append(
            (f"stalls during {call.when}", "\n".join(s.describe() for s in stalls))
        )
        report.user_properties.append(("stalls", [asdict(s) for s in stalls]))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Runs where the reports arrive: in the controller too, under xdist."""
    for name, value in report.user_properties:
        if name == "stalls":
            _seen.extend((report.nodeid, stall) for stall in value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _seen:
        return
    terminalreporter.section("stalls (the process made no progress)")
    for nodeid, stall in _seen:
        terminalreporter.write_line(
            f"{nodeid}: {stall['started']} {stall['kind']} for {stall['seconds']} s "
            f"(CPU {stall['cpu_seconds']} s)"
        )
        if stall["kind"] == "loop blocked":  # the code's doing: show where
            terminalreporter.write_line(stall["stack"])
