"""The cloud transport against a fake Graph API on loopback: the bodies Meta would get."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pywa_async.errors import WhatsAppError

from tests.support.fake_graph import FakeGraph, running_fake_graph
from wagate.domain import (
    Connected,
    ContactCard,
    Disconnected,
    FakeClock,
    Jid,
    Location,
    MessageType,
    OutgoingMedia,
    OutgoingMessage,
    PermanentSendError,
    PresenceState,
    Reaction,
    TransientSendError,
    TransportEvent,
    UnsupportedByTransport,
)
from wagate.transports.base import TransportContext
from wagate.transports.cloud import (
    CloudTransport,
    GraphSettings,
    download_media,
    graph_client,
)
from wagate.transports.cloud.transport import RECHECK_S

TOKEN = "EAAtest-token-0123456789"
PHONE_ID = "106540352242922"
TO = Jid("16505551234@s.whatsapp.net")
CONFIG = {
    "phone_number_id": PHONE_ID,
    "access_token": TOKEN,
    "app_secret": "app-secret-0123",
    "verify_token": "verify-me-please",
}


class Sink:
    def __init__(self) -> None:
        self.events: list[TransportEvent] = []

    async def __call__(self, event: TransportEvent, /) -> None:
        self.events.append(event)


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph(token=TOKEN, phone_number_id=PHONE_ID) as fake:
        yield fake


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
async def transport(graph: FakeGraph, sink: Sink, tmp_path: Path) -> AsyncIterator[CloudTransport]:
    context = TransportContext(
        session_id="ses_cloud",
        session_name="cloud",
        config=dict(CONFIG),
        credentials=None,
        data_dir=tmp_path,
        clock=FakeClock(),
        sink=sink,
    )
    cloud = CloudTransport(context, GraphSettings(url=graph.url, timeout_s=5.0))
    yield cloud
    await cloud.close()


def message(kind: MessageType, **fields: Any) -> OutgoingMessage:
    return OutgoingMessage(message_id="msg_1", wa_message_id="", to=TO, type=kind, **fields)


async def test_connect_checks_the_token_and_reports_the_number(
    transport: CloudTransport, graph: FakeGraph, sink: Sink
) -> None:
    await transport.connect()
    assert sink.events == [Connected(phone="15550100123", push_name="Acme Support")]
    (request,) = graph.requests
    assert request.method == "GET"
    assert request.path.endswith(f"/{PHONE_ID}")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_an_expired_token_logs_the_session_out(
    transport: CloudTransport, graph: FakeGraph, sink: Sink
) -> None:
    graph.token = "another"  # the session's token no longer works
    await transport.connect()
    (event,) = sink.events
    assert isinstance(event, Disconnected)
    assert event.code == 401


@pytest.mark.parametrize(
    ("status", "code", "close"), [(500, 1, 503), (503, 2, 503), (400, 100, 500)]
)
async def test_graph_trouble_reconnects_with_backoff(
    transport: CloudTransport, graph: FakeGraph, sink: Sink, status: int, code: int, close: int
) -> None:
    graph.fail_next(status, code)
    await transport.connect()
    (event,) = sink.events
    assert isinstance(event, Disconnected)
    assert event.code == close


async def test_unreachable_graph_reconnects(sink: Sink, tmp_path: Path) -> None:
    context = TransportContext(
        "ses_cloud", "cloud", dict(CONFIG), None, tmp_path, FakeClock(), sink
    )
    cloud = CloudTransport(context, GraphSettings(url="http://127.0.0.1:9", timeout_s=2.0))
    try:
        await cloud.connect()
    finally:
        await cloud.close()
    (event,) = sink.events
    assert isinstance(event, Disconnected)
    assert event.code == 500


async def test_text_and_reply(transport: CloudTransport, graph: FakeGraph) -> None:
    await transport.connect()
    result = await transport.send(message(MessageType.TEXT, text="hello", reply_to="wamid.Q"))
    assert result.wa_message_id == "wamid.FAKE000001"
    assert graph.sent() == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "text",
            "context": {"message_id": "wamid.Q"},
            "text": {"body": "hello", "preview_url": False},
        }
    ]


MEDIA_CASES = [
    (MessageType.IMAGE, "image/jpeg", None, "image", {"caption": "look"}),
    (MessageType.VIDEO, "video/mp4", None, "video", {"caption": "look"}),
    (MessageType.DOCUMENT, "application/pdf", "report.pdf", "document", {"caption": "look"}),
    (MessageType.AUDIO, "audio/mpeg", None, "audio", {}),
    (MessageType.VOICE, "audio/ogg", None, "audio", {"voice": True}),
    (MessageType.STICKER, "image/webp", None, "sticker", {}),
]


@pytest.mark.parametrize(
    ("kind", "mime", "file_name", "wire", "extra"),
    MEDIA_CASES,
    ids=[c[0].value for c in MEDIA_CASES],
)
async def test_media_is_uploaded_then_sent_by_id(
    transport: CloudTransport,
    graph: FakeGraph,
    kind: MessageType,
    mime: str,
    file_name: str | None,
    wire: str,
    extra: dict[str, Any],
) -> None:
    await transport.connect()
    caption = "look" if "caption" in extra else None
    media = OutgoingMedia(data=b"\x00media bytes", mime_type=mime, file_name=file_name)
    await transport.send(message(kind, text=caption, media=media))
    (upload,) = graph.uploads()
    assert upload.form["file"] == b"\x00media bytes"
    assert upload.form["messaging_product"] == "whatsapp"
    assert upload.form["type"] == mime
    (body,) = graph.sent()
    media_id = next(iter(graph.media))
    expected: dict[str, Any] = {"id": media_id, **extra}
    if file_name:
        expected["filename"] = file_name
        assert upload.form["filename"] == file_name
    assert body["type"] == wire
    assert body[wire] == expected
    assert body["to"] == "16505551234"


async def test_location_contact_and_reactions(transport: CloudTransport, graph: FakeGraph) -> None:
    await transport.connect()
    where = Location(latitude=37.48, longitude=-122.14, name="Philz", address="1 Hacker Way")
    await transport.send(message(MessageType.LOCATION, location=where))
    card = ContactCard(name="Ana Lima", phone="+55 11 97777-6666")
    await transport.send(message(MessageType.CONTACT, contact=card))
    await transport.send(
        message(MessageType.REACTION, reaction=Reaction(message_id="wamid.T", emoji="👍"))
    )
    await transport.send(message(MessageType.REACTION, reaction=Reaction(message_id="wamid.T")))
    location, contact, react, unreact = graph.sent()
    assert location["location"] == {
        "latitude": 37.48,
        "longitude": -122.14,
        "name": "Philz",
        "address": "1 Hacker Way",
    }
    (sent_card,) = contact["contacts"]
    assert sent_card["name"]["formatted_name"] == "Ana Lima"
    assert sent_card["phones"] == [
        {"phone": "+5511977776666", "type": "CELL", "wa_id": "5511977776666"}
    ]
    assert react["reaction"] == {"message_id": "wamid.T", "emoji": "👍"}
    assert unreact["reaction"] == {"message_id": "wamid.T", "emoji": ""}  # empty removes


async def test_groups_and_lids_are_refused(transport: CloudTransport, graph: FakeGraph) -> None:
    await transport.connect()
    for jid in ("120363040000000001@g.us", "123456789@lid"):
        with pytest.raises(PermanentSendError) as raised:
            await transport.send(OutgoingMessage("m", "", Jid(jid), MessageType.TEXT, text="x"))
        assert raised.value.code == "unsupported_by_transport"
    assert graph.sent() == []


async def test_mark_read_then_typing_on_that_message(
    transport: CloudTransport, graph: FakeGraph
) -> None:
    await transport.connect()
    await transport.send_presence(TO, PresenceState.COMPOSING)  # nothing read yet: no call
    assert graph.receipts() == []
    await transport.mark_read(TO, ["wamid.NEWEST", "wamid.OLDER"], "16505551234@s.whatsapp.net")
    await transport.send_presence(TO, PresenceState.COMPOSING)
    await transport.send_presence(TO, PresenceState.PAUSED)  # ends by itself: no call
    assert graph.receipts() == [
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.NEWEST"},
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.NEWEST",
            "typing_indicator": {"type": "text"},
        },
    ]
    await transport.subscribe_presence(TO)  # a no-op, never an error


async def test_no_qr_and_no_pairing_code(transport: CloudTransport) -> None:
    caps = CloudTransport.capabilities
    assert not caps.qr
    assert not caps.pairing_code
    assert not caps.choose_message_id
    with pytest.raises(UnsupportedByTransport):
        await transport.request_pairing_code("15550100123")


async def test_keepalive_rechecks_the_token_only_now_and_then(
    transport: CloudTransport, graph: FakeGraph
) -> None:
    clock = transport.context.clock
    assert isinstance(clock, FakeClock)
    await transport.connect()
    await transport.keepalive()  # just checked by connect: no Graph call
    assert len(graph.requests) == 1
    await clock.advance(RECHECK_S + 1)
    await transport.keepalive()
    assert len(graph.requests) == 2
    await clock.advance(RECHECK_S + 1)
    graph.token = "revoked"
    with pytest.raises(WhatsAppError):
        await transport.keepalive()


@pytest.mark.parametrize(
    ("status", "graph_code", "error", "transient", "retry_after"),
    [
        (400, 131047, "reengagement_window_closed", False, None),
        (400, 131026, "undeliverable", False, None),
        (400, 130429, "rate_limited", True, 10.0),
        (400, 131056, "pair_rate_limited", True, 60.0),
        (500, 131000, "graph_unavailable", True, None),
        (502, 999999, "graph_unavailable", True, None),
        (400, 999999, "send_failed", False, None),
    ],
)
async def test_graph_errors_map_to_wagate_errors(
    transport: CloudTransport,
    graph: FakeGraph,
    status: int,
    graph_code: int,
    error: str,
    transient: bool,
    retry_after: float | None,
) -> None:
    await transport.connect()
    graph.fail_next(status, graph_code, "nope")
    exc_type = TransientSendError if transient else PermanentSendError
    with pytest.raises(exc_type) as raised:
        await transport.send(message(MessageType.TEXT, text="hi"))
    assert raised.value.code == error
    assert raised.value.retry_after == retry_after
    assert str(graph_code) in raised.value.message


async def test_token_error_on_send_ends_the_connection(
    transport: CloudTransport, graph: FakeGraph, sink: Sink
) -> None:
    await transport.connect()
    graph.token = "rotated"
    with pytest.raises(TransientSendError) as raised:
        await transport.send(message(MessageType.TEXT, text="hi"))
    assert raised.value.code == "not_connected"  # the queue keeps the message for later
    assert isinstance(sink.events[-1], Disconnected)
    assert sink.events[-1].code == 401


async def test_sending_before_connect_is_not_connected(transport: CloudTransport) -> None:
    with pytest.raises(TransientSendError) as raised:
        await transport.send(message(MessageType.TEXT, text="hi"))
    assert raised.value.code == "not_connected"


async def test_inbound_media_download(graph: FakeGraph) -> None:
    graph.add_media("1003383421387256", b"jpeg bytes", "image/jpeg")
    wa, http = graph_client(PHONE_ID, TOKEN, GraphSettings(url=graph.url))
    try:
        media = await download_media(wa, "1003383421387256", max_bytes=1000)
        assert (media.data, media.mime_type) == (b"jpeg bytes", "image/jpeg")
        with pytest.raises(ValueError, match="over"):
            await download_media(wa, "1003383421387256", max_bytes=3)
    finally:
        await http.aclose()
    download = graph.requests[-2]  # the bytes were fetched with the token
    assert download.path == "/download/1003383421387256"
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"
