"""A fleet of real ``wagate serve`` processes on one PostgreSQL database, for the chaos
test and the fleet benchmark.

The workers share one data directory, as workers on one machine share a volume: the
simulated network's ledger and link files live there, so the network is one network
whichever process a session runs in (see ``wagate.transports.simulator.links``).
:class:`Traffic` sends steadily through whichever workers are up, as a client behind a
load balancer would, with an ``Idempotency-Key`` per message so a request lost with its
worker can be sent again through another without doubling anything.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.process import ServerProcess, server_env
from wagate.store import Database
from wagate.store.repositories import messages
from wagate.transports.simulator.ledger import SentLedger, ledger_path
from wagate.transports.simulator.links import CONFLICTS_SUFFIX, OPENS_SUFFIX, read_lines

ADMIN = "wga_fleet_chaos_key_0123456789abcdef"
HEADERS = {"authorization": f"Bearer {ADMIN}"}


@dataclass
class Worker:
    id: str
    process: ServerProcess
    frozen: bool = False

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    @property
    def up(self) -> bool:
        """Running and not frozen: a load balancer's health check would pass."""
        proc = self.process.process
        return proc is not None and proc.poll() is None and not self.frozen


class ProcessFleet:
    def __init__(
        self,
        db_url: str,
        directory: Path,
        *,
        workers: int,
        lease_ttl_s: float,
        capacity: int = 500,
        **settings: str,
    ) -> None:
        self.db_url = db_url
        self.directory = directory
        self.data_dir = directory / "data"
        self.lease_ttl_s = lease_ttl_s
        common = {
            "WAGATE_API_KEY": ADMIN,
            "WAGATE_PACING": "instant",
            "WAGATE_RATE_PER_MINUTE": "100000",
            "WAGATE_BURST_SIZE": "100000",
            "WAGATE_LEASE_TTL_S": str(lease_ttl_s),
            "WAGATE_WORKER_CAPACITY": str(capacity),
            "WAGATE_SIMULATOR_DELIVERY_DELAY_S": "3600",
            "WAGATE_SIMULATOR_READ_DELAY_S": "3600",
            **settings,
        }
        self.workers = [
            Worker(
                f"w{n}",
                ServerProcess(
                    server_env(db_url, self.data_dir, WAGATE_WORKER_ID=f"w{n}", **common),
                    directory / f"w{n}.log",
                ),
            )
            for n in range(1, workers + 1)
        ]

    async def __aenter__(self) -> ProcessFleet:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            for worker in self.workers:
                worker.process.start()
                await worker.process.wait_ready()  # one at a time: the first one migrates
        except BaseException:
            # __aexit__ does not run when __aenter__ fails: without this, the workers
            # already started outlive the test and slow every test after it.
            self._kill_all()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        self._kill_all()

    def _kill_all(self) -> None:
        for worker in self.workers:
            proc = worker.process.process
            if proc is not None and proc.poll() is None:
                if worker.frozen:
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(timeout=30)

    # ------------------------------------------------------------------ chaos

    def kill(self, worker: Worker) -> float:
        worker.process.kill()
        return time.time()

    def freeze(self, worker: Worker) -> float:
        worker.frozen = True
        os.kill(worker.pid, signal.SIGSTOP)
        return time.time()

    def thaw(self, worker: Worker) -> None:
        os.kill(worker.pid, signal.SIGCONT)
        worker.frozen = False

    async def restart(self, worker: Worker) -> None:
        worker.process.start()
        await worker.process.wait_ready()

    def stop_all(self) -> None:
        for worker in self.workers:
            if worker.up:
                worker.process.stop()

    # ------------------------------------------------------------------ the API

    def up(self) -> list[Worker]:
        return [w for w in self.workers if w.up]

    def client(self, worker: Worker, timeout: float = 10.0) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=worker.process.url, headers=HEADERS, timeout=timeout)

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request through whichever worker is up, the next one when it fails."""
        last: Exception | None = None
        for worker in itertools.islice(itertools.cycle(self.up()), 2 * len(self.workers)):
            try:
                async with self.client(worker, timeout=kwargs.pop("timeout", 10.0)) as api:
                    response = await api.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = exc
                continue
            if response.status_code < 500:
                return response
        raise AssertionError(f"no worker answered {method} {path}: {last!r}")

    async def linked_sessions(self, count: int, *, gate: int = 8) -> list[str]:
        """``count`` simulator sessions, created round-robin through the workers (as a load
        balancer spreads them) and linked by scanning their QR codes."""
        limit = asyncio.Semaphore(gate)
        workers = self.up()

        async def one(n: int) -> str:
            async with limit, self.client(workers[n % len(workers)]) as api:
                made = await api.post("/v1/sessions", json={"name": f"s{n:04d}"})
                assert made.status_code == 201, made.text
                sid = str(made.json()["id"])
                await until(lambda: _shows_qr(api, sid), timeout=60)
                scanned = await api.post(f"/v1/simulator/{sid}/scan")
                assert scanned.status_code == 202, scanned.text
                return sid

        sessions = list(await asyncio.gather(*(one(n) for n in range(count))))
        await self.all_connected(sessions, timeout=120)
        return sessions

    async def all_connected(self, sessions: list[str], timeout: float) -> None:
        async def check() -> bool:
            listed = (await self.call("GET", "/v1/sessions")).json()["items"]
            status = {s["id"]: s["status"] for s in listed}
            return all(status.get(sid) == "connected" for sid in sessions)

        await until(check, timeout=timeout)

    # ------------------------------------------------------------------ the network's view

    def opens(self, session_id: str) -> list[dict[str, Any]]:
        return read_lines(self._file(session_id, OPENS_SUFFIX))

    def conflicts(self, sessions: list[str]) -> list[dict[str, Any]]:
        return [c for sid in sessions for c in read_lines(self._file(sid, CONFLICTS_SUFFIX))]

    def holder_at(self, session_id: str, when: float) -> int | None:
        """The process whose connection of the session was the newest at ``when``."""
        before = [o for o in self.opens(session_id) if o["at"] <= when]
        return int(before[-1]["pid"]) if before else None

    def reopened_after(self, session_id: str, when: float, pid: int) -> float | None:
        """When another process than ``pid`` first opened the session after ``when``."""
        later = [o["at"] for o in self.opens(session_id) if o["at"] > when and o["pid"] != pid]
        return min(later) if later else None

    def arrivals(self, sessions: list[str]) -> Counter[str]:
        """How many distinct WhatsApp messages reached the network per wagate message id
        (read once the workers are stopped: loading mends a torn last line)."""
        found: Counter[str] = Counter()
        for sid in sessions:
            sent = SentLedger(ledger_path(self.data_dir / "simulator", sid), keep_open=False)
            found.update(record.message_id for record in sent.load().values())
        return found

    async def open_messages(self) -> int:
        """Outbound messages not yet settled (queued or sending), in the shared database."""
        db = Database.connect(self.db_url)
        try:
            async with db.read() as tx:
                return await messages.count_open_outbound(tx)
        finally:
            await db.dispose()

    async def drained(self, timeout: float) -> None:
        async def settled() -> bool:
            return await self.open_messages() == 0

        await until(settled, timeout=timeout, interval=0.05)

    async def taken_over(self, sessions: list[str], gone: Worker, at: float) -> float:
        """Wait until every session that ``gone`` held at ``at`` was opened by another
        worker; the longest wait, in seconds after ``at``."""
        held = [sid for sid in sessions if self.holder_at(sid, at) == gone.pid]
        assert held, f"{gone.id} held no session: the fleet did not spread them"

        async def reopened() -> list[float] | None:
            times = [self.reopened_after(sid, at, gone.pid) for sid in held]
            return None if None in times else [t - at for t in times if t is not None]

        lags: list[float] = await until(reopened, timeout=4 * self.lease_ttl_s + 30)
        return max(lags)

    def _file(self, session_id: str, suffix: str) -> Path:
        name = ledger_path(self.data_dir / "simulator", session_id).name
        return self.data_dir / "simulator" / (name.removesuffix(".sent.jsonl") + suffix)


@dataclass
class Traffic:
    """Sends ``rate`` messages a second to the sessions in turn until stopped."""

    fleet: ProcessFleet
    sessions: list[str]
    rate: float
    paced: bool = True  # every other round typed out over seconds (sends in flight)
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key: message id
    retried: int = 0
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    async def _run(self) -> None:
        pending: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        for n in itertools.count():
            if self._stop.is_set():
                break
            delay = started + n / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.get_running_loop().create_task(self._send(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)

    async def _send(self, n: int) -> None:
        sid = self.sessions[n % len(self.sessions)]
        key = f"chaos-{n}"
        body = {"to": f"55119{n % 7:08d}", "text": f"steady {n}"}
        if self.paced and (n // len(self.sessions)) % 2 == 0:
            body["pacing"] = "normal"  # a worker that freezes has sends in flight
        for attempt in itertools.count():
            up = self.fleet.up()
            if not up:
                await asyncio.sleep(0.1)
                continue
            worker = up[(n + attempt) % len(up)]
            try:
                async with self.fleet.client(worker, timeout=3.0) as api:
                    response = await api.post(
                        f"/v1/sessions/{sid}/messages", json=body, headers={"idempotency-key": key}
                    )
            except httpx.TransportError:
                self.retried += 1  # the worker died or froze with the request: again, elsewhere
                continue
            if response.status_code in (200, 201, 202):
                self.accepted[key] = str(response.json()["id"])
                return
            if response.status_code >= 500 or response.status_code == 409:
                self.retried += 1  # in flight elsewhere, or the database dropped it: again
                await asyncio.sleep(0.2)
                continue
            raise AssertionError(f"send refused: {response.status_code} {response.text}")


async def _shows_qr(api: httpx.AsyncClient, sid: str) -> bool:
    return (await api.get(f"/v1/sessions/{sid}/qr")).status_code == 200


async def until(check: Any, timeout: float = 30.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        await asyncio.sleep(interval)
