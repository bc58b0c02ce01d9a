"""The evolution transport against a fake Evolution server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.transports.conftest import EventLog
from tests.transports.evolution.fake import API_KEY, OWNER, FakeEvolution, running_fake
from wagate.domain import (
    Conflict,
    Connected,
    ContactCard,
    CredentialsUpdated,
    Disconnected,
    FakeClock,
    Jid,
    Location,
    MessageType,
    OutgoingMedia,
    OutgoingMessage,
    PairingCodeIssued,
    PermanentSendError,
    PresenceState,
    QrUpdated,
    Reaction,
    TransientSendError,
    UnsafeUrl,
)
from wagate.transports.base import TransportContext
from wagate.transports.evolution import EvolutionTransport

TO = Jid("5511988887777@s.whatsapp.net")


@pytest.fixture
async def fake() -> AsyncIterator[FakeEvolution]:
    async with running_fake() as running:
        yield running


def make(
    fake: FakeEvolution,
    clock: FakeClock,
    log: EventLog,
    *,
    credentials: dict[str, Any] | None = None,
    allow_private: bool = True,
    **config: Any,
) -> EvolutionTransport:
    context = TransportContext(
        session_id="ses_evo",
        session_name="sales",
        config={"base_url": fake.base_url, "api_key": API_KEY, **config},
        credentials=credentials,
        data_dir=Path("/nonexistent"),
        clock=clock,
        sink=log,
    )
    return EvolutionTransport(context, allow_private_urls=allow_private)


@pytest.fixture
async def transport(fake: FakeEvolution) -> AsyncIterator[tuple[EvolutionTransport, EventLog]]:
    log = EventLog()
    evo = make(fake, FakeClock(), log)
    yield evo, log
    await evo.close()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def advance(transport: EvolutionTransport, seconds: float) -> None:
    clock = transport.context.clock
    assert isinstance(clock, FakeClock)
    await clock.advance(seconds)
    await settle()


async def online(transport: EvolutionTransport, fake: FakeEvolution) -> None:
    fake.state = "open"
    await transport.connect()


def message(kind: MessageType, **fields: Any) -> OutgoingMessage:
    return OutgoingMessage(message_id="msg_1", wa_message_id="", to=TO, type=kind, **fields)


# --------------------------------------------------------------------------- login


async def test_qr_login_then_scan_connects(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, log = transport
    await evo.connect()
    (qr,) = log.of(QrUpdated)
    assert qr.qr == "2@fakeqr1,key=,adv=,1"
    assert fake.requests[0].headers["apikey"] == API_KEY
    assert [r.path for r in fake.requests] == [
        "/instance/connectionState/sales",
        "/instance/connect/sales",
    ]
    await advance(evo, 5)  # still connecting, same code: nothing new
    assert len(log.of(QrUpdated)) == 1
    fake.rotate_qr()
    await advance(evo, 5)
    assert [q.qr for q in log.of(QrUpdated)][1:] == ["2@fakeqr2,key=,adv=,1"]
    fake.scan()
    await advance(evo, 5)
    assert log.of(Connected) == [Connected(OWNER, "Sales Team")]
    assert log.of(CredentialsUpdated) == [CredentialsUpdated({"instance": "sales", "phone": OWNER})]


async def test_already_open_instance_connects_at_once(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, log = transport
    await online(evo, fake)
    assert log.of(Connected) == [Connected(OWNER, "Sales Team")]
    assert not fake.calls("instance", "connect/")


async def test_instance_name_from_config(fake: FakeEvolution) -> None:
    fake.instance = "other"
    log = EventLog()
    evo = make(fake, FakeClock(), log, instance="other")
    fake.state = "open"
    await evo.connect()
    assert fake.requests[0].path == "/instance/connectionState/other"
    await evo.close()


async def test_qr_codes_running_out_is_a_qr_timeout(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, log = transport
    await evo.connect()
    fake.state = "close"  # Evolution gave up on the login
    await advance(evo, 5)
    assert log.of(Disconnected) == [Disconnected(408, "qr_timeout")]


async def test_linked_instance_reconnecting_shows_no_stale_qr(fake: FakeEvolution) -> None:
    log = EventLog()
    evo = make(fake, FakeClock(), log, credentials={"instance": "sales"})
    fake.state = "connecting"
    await evo.connect()
    assert log.events == []
    fake.scan()
    await advance(evo, 5)
    assert log.of(Connected) == [Connected(OWNER, "Sales Team")]
    assert log.of(CredentialsUpdated) == []  # already linked
    await evo.close()


async def test_pairing_code(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, log = transport
    fake.state = "close"
    code = await evo.request_pairing_code("+55 11 98888-7777")
    assert code == "WZYE-H1YY"
    assert fake.calls("instance", "connect")[-1].query == {"number": "5511988887777"}
    assert log.of(PairingCodeIssued) == [PairingCodeIssued("WZYE-H1YY", "5511988887777")]


async def test_pairing_code_while_a_qr_is_shown_restarts_the_login(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, log = transport
    await evo.connect()
    assert len(log.of(QrUpdated)) == 1
    assert await evo.request_pairing_code("5511988887777") == "WZYE-H1YY"
    assert [r.path for r in fake.requests[-3:]] == [
        "/instance/connect/sales",
        "/instance/logout/sales",
        "/instance/connect/sales",
    ]


async def test_pairing_code_when_logged_in_conflicts(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, _ = transport
    await online(evo, fake)
    with pytest.raises(Conflict):
        await evo.request_pairing_code("5511988887777")


async def test_keepalive_reports_a_drop(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, log = transport
    await online(evo, fake)
    await evo.keepalive()
    assert log.of(Disconnected) == []
    fake.state = "connecting"
    await evo.keepalive()
    assert [d.code for d in log.of(Disconnected)] == [428]


async def test_logout(transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution) -> None:
    evo, log = transport
    await online(evo, fake)
    await evo.logout()
    assert fake.calls("instance", "logout")[0].method == "DELETE"
    assert log.events[-1] == CredentialsUpdated(None)
    assert fake.state == "close"


async def test_private_base_url_refused_unless_allowed(fake: FakeEvolution) -> None:
    evo = make(fake, FakeClock(), EventLog(), allow_private=False)
    with pytest.raises(UnsafeUrl):
        await evo.connect()
    assert fake.requests == []
    await evo.close()


# --------------------------------------------------------------------------- sending


JPEG = OutgoingMedia(data=b"\xff\xd8jpeg", mime_type="image/jpeg", file_name="a.jpg")

SENDS: list[tuple[OutgoingMessage, str, dict[str, Any]]] = [
    (
        message(MessageType.TEXT, text="hi", reply_to="3EB0QUOTED"),
        "sendText",
        {"number": "5511988887777", "text": "hi", "quoted": {"key": {"id": "3EB0QUOTED"}}},
    ),
    (
        message(MessageType.IMAGE, text="look", media=JPEG),
        "sendMedia",
        {
            "number": "5511988887777",
            "mediatype": "image",
            "mimetype": "image/jpeg",
            "media": "/9hqcGVn",
            "caption": "look",
            "fileName": "a.jpg",
        },
    ),
    (
        message(MessageType.VIDEO, media=OutgoingMedia(b"v", "video/mp4")),
        "sendMedia",
        {"number": "5511988887777", "mediatype": "video", "mimetype": "video/mp4", "media": "dg=="},
    ),
    (
        message(MessageType.AUDIO, media=OutgoingMedia(b"a", "audio/mpeg")),
        "sendMedia",
        {
            "number": "5511988887777",
            "mediatype": "audio",
            "mimetype": "audio/mpeg",
            "media": "YQ==",
        },
    ),
    (
        message(MessageType.DOCUMENT, media=OutgoingMedia(b"%PDF", "application/pdf", "r.pdf")),
        "sendMedia",
        {
            "number": "5511988887777",
            "mediatype": "document",
            "mimetype": "application/pdf",
            "media": "JVBERg==",
            "fileName": "r.pdf",
        },
    ),
    (
        message(MessageType.VOICE, media=OutgoingMedia(b"ogg", "audio/ogg")),
        "sendWhatsAppAudio",
        {"number": "5511988887777", "audio": "b2dn"},
    ),
    (
        message(MessageType.LOCATION, location=Location(latitude=1.5, longitude=-2.5, name="X")),
        "sendLocation",
        {"number": "5511988887777", "latitude": 1.5, "longitude": -2.5, "name": "X", "address": ""},
    ),
    (
        message(MessageType.CONTACT, contact=ContactCard(name="Bia", phone="+55 11 97777-6666")),
        "sendContact",
        {
            "number": "5511988887777",
            "contact": [
                {"fullName": "Bia", "wuid": "5511977776666", "phoneNumber": "+5511977776666"}
            ],
        },
    ),
    (
        message(MessageType.REACTION, reaction=Reaction(message_id="3EB0TARGET", emoji="👍")),
        "sendReaction",
        {
            "key": {"remoteJid": str(TO), "fromMe": False, "id": "3EB0TARGET"},
            "reaction": "👍",
        },
    ),
]


@pytest.mark.parametrize(("outgoing", "action", "body"), SENDS, ids=[s[1] for s in SENDS])
async def test_every_outbound_type(
    transport: tuple[EvolutionTransport, EventLog],
    fake: FakeEvolution,
    outgoing: OutgoingMessage,
    action: str,
    body: dict[str, Any],
) -> None:
    evo, _ = transport
    await online(evo, fake)
    result = await evo.send(outgoing)
    (call,) = fake.calls("message", action)
    assert call.path == f"/message/{action}/sales"
    assert call.body == body
    assert result.wa_message_id == "3EB0FAKE00000001"
    assert result.timestamp == datetime(2026, 1, 5, 11, 59, tzinfo=UTC)


async def test_group_destination_keeps_the_jid(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, _ = transport
    group = Jid("120363041234567890@g.us")
    await evo.send(
        OutgoingMessage(message_id="m", wa_message_id="", to=group, type=MessageType.TEXT, text="x")
    )
    assert fake.calls("message", "sendText")[0].body["number"] == str(group)


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, PermanentSendError, "evolution_rejected"),
        (401, PermanentSendError, "evolution_unauthorized"),
        (404, PermanentSendError, "evolution_instance_not_found"),
        (500, TransientSendError, "evolution_unavailable"),
        (503, TransientSendError, "evolution_unavailable"),
    ],
)
async def test_http_errors_are_mapped(
    transport: tuple[EvolutionTransport, EventLog],
    fake: FakeEvolution,
    status: int,
    error: type[Exception],
    code: str,
) -> None:
    evo, _ = transport
    fake.failures.append(
        (
            status,
            [{"jid": "5511988887777@s.whatsapp.net", "exists": False, "number": "5511988887777"}],
        )
    )
    with pytest.raises(error) as caught:
        await evo.send(message(MessageType.TEXT, text="hi"))
    assert getattr(caught.value, "code", None) == code
    assert "5511988887777 is not on WhatsApp" in str(caught.value)


async def test_timeout_is_transient(fake: FakeEvolution) -> None:
    evo = make(fake, FakeClock(), EventLog(), timeout_s=0.05)
    fake.delay_s = 0.5
    with pytest.raises(TransientSendError) as caught:
        await evo.send(message(MessageType.TEXT, text="hi"))
    assert caught.value.code == "evolution_timeout"
    await evo.close()


async def test_unreachable_server_is_transient(fake: FakeEvolution) -> None:
    log = EventLog()
    evo = make(fake, FakeClock(), log)
    evo.context.config["base_url"] = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(TransientSendError) as caught:
        await evo.send(message(MessageType.TEXT, text="hi"))
    assert caught.value.code == "evolution_unreachable"
    await evo.close()


async def test_wrong_api_key_is_permanent(fake: FakeEvolution) -> None:
    fake.api_key = "another"
    evo = make(fake, FakeClock(), EventLog())
    with pytest.raises(PermanentSendError) as caught:
        await evo.send(message(MessageType.TEXT, text="hi"))
    assert caught.value.code == "evolution_unauthorized"
    await evo.close()


# --------------------------------------------------------------------------- courtesies


async def test_presence_and_read_receipts(
    transport: tuple[EvolutionTransport, EventLog], fake: FakeEvolution
) -> None:
    evo, _ = transport
    await online(evo, fake)
    await evo.subscribe_presence(TO)  # Evolution subscribes by itself: no call
    await evo.send_presence(TO, PresenceState.COMPOSING)
    await settle()
    await evo.send_presence(TO, PresenceState.PAUSED)
    bodies = [c.body for c in fake.calls("chat", "sendPresence")]
    assert bodies == [
        {"number": "5511988887777", "presence": "composing", "delay": 3000},
        {"number": "5511988887777", "presence": "paused", "delay": 0},
    ]
    await evo.mark_read(TO, ["A1", "A2"], str(TO))
    (read,) = fake.calls("chat", "markMessageAsRead")
    assert read.body == {
        "readMessages": [
            {"remoteJid": str(TO), "fromMe": False, "id": "A1"},
            {"remoteJid": str(TO), "fromMe": False, "id": "A2"},
        ]
    }
