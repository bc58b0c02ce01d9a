"""The reference: a bare FastAPI app with the shapes of wagate's hot routes, nothing behind them.

``python -m benchmarks.bare_app PORT`` serves it the way ``wagate serve``
serves wagate: one uvicorn process, ``uvicorn.run(app, ...)`` with the same
options (no access log, warning log level, lifespan on). Each route takes
what wagate's route takes and answers what it answers, without a database:

* ``POST /v1/sessions/{id}/messages``: a bearer key checked as wagate checks
  the admin key (SHA-256, constant-time), an ``Idempotency-Key`` header, the
  body validated as :class:`wagate.domain.OutboundMessageRequest`, a 202
  whose body is validated as :class:`wagate.api.schemas.MessageOut`;
* ``POST /v1/simulator/{id}/inbound``: the body validated as
  :class:`SimulatorInbound`, a 202 with a WhatsApp id;
* ``POST /v1/ingest/cloud``: the raw body's ``X-Hub-Signature-256`` checked,
  the JSON parsed, a 200;
* ``POST /v1/ingest/evolution/{id}``: the JSON parsed, a 200;
* ``POST /v1/durable/{id}/messages`` (with ``--durable PATH``): the send
  route plus the least a durable queue must do, the *durable floor*: the
  answer's row, as JSON, inserted into a one-table SQLite database (WAL,
  ``synchronous=FULL``) by a writer thread that commits whatever is waiting
  in one transaction (group commit, as wagate's writer does), and the 202
  sent after the commit.

wagate's figures are reported as a ratio to this app's, measured in the same
run by the same load generator: what is left is wagate's own work.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request, status

from wagate.api.schemas import MessageOut
from wagate.domain import OutboundMessageRequest
from wagate.transports.simulator import SimulatorInbound

API_KEY = "wga_bench_admin_key_0123456789abcdef"
APP_SECRET = "bench-app-secret"
_KEY_DIGEST = hashlib.sha256(API_KEY.encode()).digest()


def _authorize(authorization: str | None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    digest = hashlib.sha256(token.strip().encode()).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(digest, _KEY_DIGEST):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad key")


class GroupCommitLog:
    """The durable floor: rows appended by one writer thread, one commit per batch."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[None]]] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="durable")
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, body TEXT)")
        return self._conn

    def _write(self, rows: list[tuple[str, str]]) -> None:
        conn = self._open()
        with conn:
            conn.executemany("INSERT INTO rows VALUES (?, ?)", rows)

    async def append(self, row_id: str, body: dict[str, Any]) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            asyncio.get_running_loop().create_task(self._run())
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((json.dumps([row_id, body]), future))
        await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            rows = [(json.loads(text)[0], text) for text, _ in batch]
            await loop.run_in_executor(self._pool, self._write, rows)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


def create_bare_app(durable: str | None = None) -> FastAPI:
    app = FastAPI(title="bare")
    log = GroupCommitLog(durable) if durable else None

    @app.post(
        "/v1/sessions/{session_id}/messages",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=MessageOut,
    )
    async def send_message(
        session_id: str,
        body: OutboundMessageRequest,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> Any:
        _authorize(authorization)
        now = datetime.now(UTC).isoformat()
        return {
            "id": f"msg_{secrets.token_hex(12)}",
            "session_id": session_id,
            "direction": "out",
            "wa_message_id": f"3EB0{secrets.token_hex(8).upper()}",
            "chat_id": f"{body.to.lstrip('+')}@s.whatsapp.net",
            "chat_type": "direct",
            "sender": None,
            "sender_phone": None,
            "sender_lid": None,
            "push_name": None,
            "from_me": True,
            "type": body.type.value,
            "text": body.text,
            "media": None,
            "location": None,
            "contacts": None,
            "reaction": None,
            "reply_to": None,
            "timestamp": now,
            "status": "queued",
            "error": None,
            "attempts": 0,
            "waiting": None,
            "next_attempt_at": None,
            "edited": False,
            "edited_at": None,
            "revoked": False,
            "revoked_at": None,
            "sent_at": None,
            "delivered_at": None,
            "read_at": None,
            "created_at": now,
        }

    @app.post(
        "/v1/durable/{session_id}/messages",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=MessageOut,
    )
    async def send_durably(
        session_id: str,
        body: OutboundMessageRequest,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> Any:
        answer = await send_message(session_id, body, authorization, idempotency_key)
        assert log is not None
        await log.append(answer["id"], answer)
        return answer

    @app.post("/v1/simulator/{session_id}/inbound", status_code=status.HTTP_202_ACCEPTED)
    async def inbound(
        session_id: str,
        body: SimulatorInbound,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        _authorize(authorization)
        return {"wa_message_id": body.id or secrets.token_hex(10).upper(), "session_id": session_id}

    @app.post("/v1/ingest/cloud")
    async def cloud(request: Request) -> dict[str, Any]:
        signature = request.headers.get("x-hub-signature-256", "")
        body = await request.body()
        expected = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad signature")
        payload = json.loads(body)
        return {"status": "ok", "events": len(payload.get("entry", []))}

    @app.post("/v1/ingest/evolution/{session_id}")
    async def evolution(session_id: str, request: Request) -> dict[str, Any]:
        payload = json.loads(await request.body())
        return {"status": "ok", "event": payload.get("event")}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main(argv: list[str]) -> int:
    durable = argv[argv.index("--durable") + 1] if "--durable" in argv else None
    uvicorn.run(
        create_bare_app(durable),
        host="127.0.0.1",
        port=int(argv[0]),
        access_log=False,
        log_level="warning",
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
