"""neonize events, built from its protobuf types, through its own event machinery into ours.

Each event is serialized and handed to ``client.event.execute`` through a
ctypes C callback, the entry point whatsmeow's Go code calls; neonize decodes
it and dispatches it to the engine's handler, which normalizes it (and
downloads media). Runs in the test process: no engine host, no servers.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from tests.transports.whatsmeow.fake_engine import OWN_LID, OWN_PHONE, FakeEngine
from tests.transports.whatsmeow.support import (
    CONTACT,
    CONTACT_LID,
    GROUP,
    direct,
    event_code,
    jid,
    message_event,
    source,
)
from wagate.domain import (
    CallReceived,
    ChatType,
    Connected,
    CredentialsUpdated,
    DecryptFailed,
    Disconnected,
    IdentityLearned,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageStatus,
    MessageType,
    PresenceChanged,
    PresenceState,
    ReceiptReceived,
    Unparseable,
)
from wagate.transports.whatsmeow.protocol import RawQr

CONTACT_JID = f"{CONTACT}@s.whatsapp.net"


class Engine:
    """A FakeEngine in this process, with what it reported."""

    def __init__(self, engine: FakeEngine, events: list[Any]) -> None:
        self.engine = engine
        self.events = events

    async def settle(self) -> None:
        """Let neonize's scheduled handlers (and what they await) finish."""
        for _ in range(200):
            await asyncio.sleep(0)
            busy = [
                t
                for t in asyncio.all_tasks()
                if t is not asyncio.current_task() and t is not self.engine.connect_task
            ]
            if not busy:
                return

    async def dispatch(self, event: Any) -> list[Any]:
        before = len(self.events)
        data = base64.b64encode(event.SerializeToString()).decode()
        await self.engine.test_command("event", {"code": event_code(event), "data": data})
        await self.settle()
        return self.events[before:]

    async def one(self, event: Any) -> Any:
        out = [e for e in await self.dispatch(event) if not isinstance(e, IdentityLearned)]
        assert len(out) == 1, out
        return out[0]

    async def message(self, event: Any) -> Any:
        received = await self.one(event)
        assert isinstance(received, MessageReceived)
        return received


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    events: list[Any] = []

    async def emit(event: Any) -> None:
        events.append(event)

    fake = FakeEngine("ses_events", tmp_path / "store", emit)
    await fake.open(fresh=True)
    try:
        yield Engine(fake, events)
    finally:
        await fake.close()


# --------------------------------------------------------------------------- messages


async def test_text_message_from_a_phone_number(engine: Engine) -> None:
    got = await engine.message(direct(e2e.Message(conversation="oi")))
    msg = got.message
    assert (msg.type, msg.text, msg.chat_id, msg.chat_type) == (
        MessageType.TEXT,
        "oi",
        CONTACT_JID,
        ChatType.DIRECT,
    )
    assert (msg.sender, msg.sender_phone, msg.sender_lid) == (CONTACT_JID, CONTACT, None)
    assert msg.push_name == "Maria"
    assert msg.from_me is False
    assert msg.timestamp == datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert got.media is None


async def test_reply_carries_the_quoted_id(engine: Engine) -> None:
    content = e2e.Message(
        extendedTextMessage=e2e.ExtendedTextMessage(
            text="yes", contextInfo=e2e.ContextInfo(stanzaID="3EB0QUOTED")
        )
    )
    msg = (await engine.message(direct(content))).message
    assert (msg.text, msg.reply_to) == ("yes", "3EB0QUOTED")


async def test_lid_sender_with_its_phone_known(engine: Engine) -> None:
    event = message_event(
        e2e.Message(conversation="hi"),
        source(f"{CONTACT_LID}@lid", f"{CONTACT_LID}@lid", sender_alt=CONTACT_JID),
    )
    out = await engine.dispatch(event)
    identity = [e for e in out if isinstance(e, IdentityLearned)]
    assert identity == [IdentityLearned(phone=CONTACT, lid=f"{CONTACT_LID}@lid", push_name="Maria")]
    msg = next(e for e in out if isinstance(e, MessageReceived)).message
    assert msg.chat_id == CONTACT_JID  # the phone JID whenever the phone is known
    assert (msg.sender_phone, msg.sender_lid) == (CONTACT, f"{CONTACT_LID}@lid")


async def test_lid_sender_with_a_hidden_phone(engine: Engine) -> None:
    event = message_event(
        e2e.Message(conversation="hi"), source(f"{CONTACT_LID}@lid", f"{CONTACT_LID}@lid")
    )
    msg = (await engine.message(event)).message
    assert msg.chat_id == f"{CONTACT_LID}@lid"
    assert (msg.sender, msg.sender_phone) == (f"{CONTACT_LID}@lid", None)


async def test_group_message_from_a_lid_participant(engine: Engine) -> None:
    event = message_event(
        e2e.Message(conversation="all"),
        source(f"{GROUP}@g.us", f"{CONTACT_LID}@lid", sender_alt=CONTACT_JID),
    )
    msg = (await engine.message(event)).message
    assert (msg.chat_id, msg.chat_type) == (f"{GROUP}@g.us", ChatType.GROUP)
    assert (msg.sender, msg.sender_phone, msg.sender_lid) == (
        CONTACT_JID,
        CONTACT,
        f"{CONTACT_LID}@lid",
    )


async def test_message_typed_on_the_phone_is_from_me(engine: Engine) -> None:
    await engine.dispatch(neo.Connected(status=True))  # learns the account's own number
    event = message_event(
        e2e.Message(conversation="sent from my phone"),
        source(CONTACT_JID, f"{OWN_PHONE}@s.whatsapp.net", from_me=True),
    )
    msg = (await engine.message(event)).message
    assert msg.from_me is True
    assert msg.chat_id == CONTACT_JID
    assert (msg.sender, msg.sender_phone) == (f"{OWN_PHONE}@s.whatsapp.net", OWN_PHONE)
    assert msg.push_name is None


async def test_image_is_downloaded_at_arrival(engine: Engine) -> None:
    image = e2e.ImageMessage(
        mimetype="image/png",
        caption="look",
        fileLength=2048,
        fileSHA256=b"\x01" * 32,
        directPath="/v/t62/abc",
        mediaKey=b"k" * 32,
    )
    got = await engine.message(direct(e2e.Message(imageMessage=image)))
    msg = got.message
    assert (msg.type, msg.text) == (MessageType.IMAGE, "look")
    assert msg.media is not None
    assert (msg.media.mime_type, msg.media.size) == ("image/png", 2048)
    assert got.media is not None
    assert got.media.data.startswith(b"media-bytes-of-")
    assert got.media.mime_type == "image/png"


async def test_media_over_the_limit_is_not_downloaded(engine: Engine) -> None:
    engine.engine.max_media_bytes = 1000
    video = e2e.VideoMessage(mimetype="video/mp4", fileLength=5000)
    got = await engine.message(direct(e2e.Message(videoMessage=video)))
    assert got.message.type is MessageType.VIDEO
    assert got.media is None


@pytest.mark.parametrize(
    ("content", "expected", "voice"),
    [
        (
            e2e.Message(audioMessage=e2e.AudioMessage(PTT=True, mimetype="audio/ogg; codecs=opus")),
            MessageType.VOICE,
            True,
        ),
        (
            e2e.Message(audioMessage=e2e.AudioMessage(mimetype="audio/mpeg")),
            MessageType.AUDIO,
            False,
        ),
        (
            e2e.Message(stickerMessage=e2e.StickerMessage(mimetype="image/webp")),
            MessageType.STICKER,
            False,
        ),
        (e2e.Message(ptvMessage=e2e.VideoMessage(mimetype="video/mp4")), MessageType.VIDEO, False),
    ],
)
async def test_media_kinds(
    engine: Engine, content: Any, expected: MessageType, voice: bool
) -> None:
    msg = (await engine.message(direct(content))).message
    assert msg.type is expected
    assert msg.media is not None
    assert msg.media.voice is voice


async def test_document_with_caption_wrapper(engine: Engine) -> None:
    doc = e2e.DocumentMessage(mimetype="application/pdf", fileName="invoice.pdf", caption="pay")
    wrapped = e2e.Message(
        documentWithCaptionMessage=e2e.FutureProofMessage(message=e2e.Message(documentMessage=doc))
    )
    msg = (await engine.message(direct(wrapped))).message
    assert (msg.type, msg.text) == (MessageType.DOCUMENT, "pay")
    assert msg.media is not None
    assert msg.media.file_name == "invoice.pdf"


async def test_ephemeral_and_view_once_wrappers(engine: Engine) -> None:
    inner = e2e.Message(conversation="disappearing")
    ephemeral = e2e.Message(ephemeralMessage=e2e.FutureProofMessage(message=inner))
    assert (await engine.message(direct(ephemeral))).message.text == "disappearing"
    view_once = e2e.Message(
        viewOnceMessageV2=e2e.FutureProofMessage(
            message=e2e.Message(imageMessage=e2e.ImageMessage(mimetype="image/jpeg"))
        )
    )
    msg = (await engine.message(direct(view_once, wa_id="3A02"))).message
    assert msg.type is MessageType.IMAGE


async def test_location_and_live_location(engine: Engine) -> None:
    loc = e2e.LocationMessage(
        degreesLatitude=-23.5, degreesLongitude=-46.6, name="Office", address="Av. Paulista"
    )
    msg = (await engine.message(direct(e2e.Message(locationMessage=loc)))).message
    assert msg.type is MessageType.LOCATION
    assert msg.location is not None
    assert (msg.location.latitude, msg.location.name) == (-23.5, "Office")
    live = e2e.LiveLocationMessage(degreesLatitude=1.5, degreesLongitude=2.5, caption="here")
    msg = (
        await engine.message(direct(e2e.Message(liveLocationMessage=live), wa_id="3A03"))
    ).message
    assert msg.location is not None
    assert msg.location.name == "here"


async def test_location_out_of_range_is_kept_as_unsupported(engine: Engine) -> None:
    loc = e2e.LocationMessage(degreesLatitude=123.0, degreesLongitude=0.0)
    msg = (await engine.message(direct(e2e.Message(locationMessage=loc)))).message
    assert msg.type is MessageType.UNSUPPORTED


async def test_contact_cards(engine: Engine) -> None:
    card = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:Ana\n"
        "TEL;type=CELL;waid=5511977776666:+55 11 97777-6666\nEND:VCARD"
    )
    msg = (
        await engine.message(
            direct(e2e.Message(contactMessage=e2e.ContactMessage(displayName="Ana", vcard=card)))
        )
    ).message
    assert msg.type is MessageType.CONTACTS
    assert msg.contacts is not None
    assert [(c.name, c.phone) for c in msg.contacts] == [("Ana", "5511977776666")]
    plain = "BEGIN:VCARD\nFN:Bob\nTEL:+1 555 0100\nEND:VCARD"
    array = e2e.ContactsArrayMessage(
        contacts=[
            e2e.ContactMessage(displayName="Ana", vcard=card),
            e2e.ContactMessage(displayName="", vcard=plain),
        ]
    )
    msg = (
        await engine.message(direct(e2e.Message(contactsArrayMessage=array), wa_id="3A04"))
    ).message
    assert msg.contacts is not None
    assert [(c.name, c.phone) for c in msg.contacts] == [
        ("Ana", "5511977776666"),
        ("Bob", "+15550100"),
    ]


async def test_reaction_and_its_removal(engine: Engine) -> None:
    key = MessageKey(remoteJID=CONTACT_JID, fromMe=True, ID="3EB0TARGET")
    react = e2e.Message(reactionMessage=e2e.ReactionMessage(key=key, text="👍"))
    msg = (await engine.message(direct(react))).message
    assert msg.type is MessageType.REACTION
    assert msg.reaction is not None
    assert (msg.reaction.message_id, msg.reaction.emoji) == ("3EB0TARGET", "👍")
    removal = e2e.Message(reactionMessage=e2e.ReactionMessage(key=key, text=""))
    msg = (await engine.message(direct(removal, wa_id="3A05"))).message
    assert msg.reaction is not None
    assert msg.reaction.emoji is None


async def test_button_reply_is_interactive(engine: Engine) -> None:
    reply = e2e.ButtonsResponseMessage(selectedButtonID="b1", selectedDisplayText="Yes please")
    msg = (await engine.message(direct(e2e.Message(buttonsResponseMessage=reply)))).message
    assert (msg.type, msg.text) == (MessageType.INTERACTIVE, "Yes please")


async def test_unknown_content_is_kept_as_unsupported(engine: Engine) -> None:
    poll = e2e.Message(pollCreationMessage=e2e.PollCreationMessage(name="Lunch?"))
    msg = (await engine.message(direct(poll))).message
    assert msg.type is MessageType.UNSUPPORTED
    assert msg.raw == {"content": ["pollCreationMessage"], "id": "3A0000000000000001"}


async def test_revoke_and_edit(engine: Engine) -> None:
    key = MessageKey(remoteJID=CONTACT_JID, fromMe=False, ID="3A0ORIGINAL")
    revoke = e2e.Message(
        protocolMessage=e2e.ProtocolMessage(key=key, type=e2e.ProtocolMessage.REVOKE)
    )
    got = await engine.one(direct(revoke))
    assert isinstance(got, MessageRevoked)
    assert (got.revoke.target_wa_message_id, got.revoke.chat_id) == ("3A0ORIGINAL", CONTACT_JID)
    edit = e2e.Message(
        protocolMessage=e2e.ProtocolMessage(
            key=key,
            type=e2e.ProtocolMessage.MESSAGE_EDIT,
            editedMessage=e2e.Message(conversation="fixed typo"),
        )
    )
    got = await engine.one(direct(edit, wa_id="3A06"))
    assert isinstance(got, MessageEdited)
    assert (got.edit.target_wa_message_id, got.edit.text) == ("3A0ORIGINAL", "fixed typo")


async def test_status_updates_and_channel_posts_are_not_chats(engine: Engine) -> None:
    status = message_event(
        e2e.Message(conversation="my status"), source("status@broadcast", CONTACT_JID)
    )
    assert await engine.dispatch(status) == []
    post = message_event(e2e.Message(conversation="news"), source("1203630001@newsletter", ""))
    assert await engine.dispatch(post) == []


async def test_key_distribution_alone_is_not_a_message(engine: Engine) -> None:
    only_keys = e2e.Message(
        senderKeyDistributionMessage=e2e.SenderKeyDistributionMessage(groupID=f"{GROUP}@g.us")
    )
    assert await engine.dispatch(direct(only_keys)) == []


async def test_message_without_a_chat_is_unparseable(engine: Engine) -> None:
    event = message_event(e2e.Message(conversation="?"), source("", ""))
    got = await engine.one(event)
    assert isinstance(got, Unparseable)
    assert got.source == "whatsmeow"


# ----------------------------------------------------------------- receipts, presence, calls


def receipt(kind: int, ids: list[str], src: neo.MessageSource | None = None) -> neo.Receipt:
    return neo.Receipt(
        MessageSource=src or source(CONTACT_JID, CONTACT_JID),
        MessageIDs=ids,
        Timestamp=1_767_614_460,
        Type=kind,
    )


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (neo.Receipt.DELIVERED, MessageStatus.DELIVERED),
        (neo.Receipt.READ, MessageStatus.READ),
        (neo.Receipt.PLAYED, MessageStatus.PLAYED),
    ],
)
async def test_receipts_become_statuses(engine: Engine, kind: int, status: MessageStatus) -> None:
    got = await engine.one(receipt(kind, ["3EB0A", "3EB0B"]))
    assert got == ReceiptReceived(
        wa_message_ids=("3EB0A", "3EB0B"),
        status=status,
        chat_id=CONTACT_JID,
        timestamp=datetime(2026, 1, 5, 12, 1, tzinfo=UTC),
    )


async def test_receipt_from_a_lid_maps_to_the_phone_chat(engine: Engine) -> None:
    src = source(f"{CONTACT_LID}@lid", f"{CONTACT_LID}@lid", sender_alt=CONTACT_JID)
    out = await engine.dispatch(receipt(neo.Receipt.READ, ["3EB0C"], src))
    assert IdentityLearned(phone=CONTACT, lid=f"{CONTACT_LID}@lid") in out
    got = next(e for e in out if isinstance(e, ReceiptReceived))
    assert got.chat_id == CONTACT_JID


async def test_own_devices_receipts_are_ignored(engine: Engine) -> None:
    assert await engine.dispatch(receipt(neo.Receipt.READ_SELF, ["3A0X"])) == []


@pytest.mark.parametrize(
    ("state", "media", "expected"),
    [
        (neo.ChatPresence.COMPOSING, neo.ChatPresence.TEXT, PresenceState.COMPOSING),
        (neo.ChatPresence.COMPOSING, neo.ChatPresence.AUDIO, PresenceState.RECORDING),
        (neo.ChatPresence.PAUSED, neo.ChatPresence.TEXT, PresenceState.PAUSED),
    ],
)
async def test_chat_presence(
    engine: Engine, state: int, media: int, expected: PresenceState
) -> None:
    event = neo.ChatPresence(
        MessageSource=source(CONTACT_JID, CONTACT_JID), State=state, Media=media
    )
    got = await engine.one(event)
    assert got == PresenceChanged(chat_id=CONTACT_JID, participant=CONTACT_JID, state=expected)


async def test_online_presence(engine: Engine) -> None:
    online = neo.Presence(From=jid(CONTACT_JID), Unavailable=False, LastSeen=0)
    got = await engine.one(online)
    assert got == PresenceChanged(CONTACT_JID, CONTACT_JID, PresenceState.AVAILABLE)


def call_offer(video: bool) -> neo.CallOffer:
    meta = neo.BasicCallMeta(
        timestamp=1_767_614_400,
        callCreator=jid(CONTACT_JID),
        callCreatorAlt=jid(""),
        callID="CALL1",
        **{"from": jid(CONTACT_JID)},
    )
    offer = neo.Node(Tag="offer", Nodes=[neo.Node(Tag="video" if video else "audio")])
    return neo.CallOffer(
        basicCallMeta=meta,
        callRemoteMeta=neo.CallRemoteMeta(remotePlatform="android", remoteVersion="2.25"),
        data=neo.Node(Tag="call", Nodes=[offer]),
    )


async def test_call_offers(engine: Engine) -> None:
    got = await engine.one(call_offer(video=True))
    assert got == CallReceived(
        call_id="CALL1",
        caller=CONTACT_JID,
        video=True,
        timestamp=datetime(2026, 1, 5, 12, 0, tzinfo=UTC),
    )
    voice = await engine.one(call_offer(video=False))
    assert voice.video is False


def undecryptable(unavailable: bool) -> Any:
    from neonize.events import UndecryptableMessageEv

    info = message_event(e2e.Message(), source(CONTACT_JID, CONTACT_JID)).Info
    return UndecryptableMessageEv(Info=info, IsUnavailable=unavailable, DecryptFailMode=1)


async def test_undecryptable_message_is_a_decrypt_failure(engine: Engine) -> None:
    got = await engine.one(undecryptable(unavailable=False))
    assert got == DecryptFailed(chat_id=CONTACT_JID, error="bad_mac")
    assert await engine.dispatch(undecryptable(unavailable=True)) == []


# --------------------------------------------------------------------------- connection


async def test_connected_reports_the_account_and_its_credentials(engine: Engine) -> None:
    out = await engine.dispatch(neo.Connected(status=True))
    assert out == [
        CredentialsUpdated({"jid": f"{OWN_PHONE}@s.whatsapp.net", "lid": f"{OWN_LID}@lid"}),
        Connected(phone=OWN_PHONE, push_name="Gate Owner", lid=f"{OWN_LID}@lid"),
    ]
    again = await engine.dispatch(neo.Connected(status=True))
    assert again == [out[1]]  # the same account: nothing new to store


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (neo.StreamReplaced(), 440),
        (neo.TemporaryBan(Code=neo.TemporaryBan.SEND_TO_TOO_MANY_PEOPLE, Expire=3600), 402),
        (
            neo.ConnectFailure(
                Reason=neo.SERVICE_UNAVAILABLE, Message="try later", Raw=neo.Node(Tag="failure")
            ),
            503,
        ),
        (
            neo.ConnectFailure(
                Reason=neo.MAIN_DEVICE_GONE, Message="", Raw=neo.Node(Tag="failure")
            ),
            401,
        ),
        (neo.Disconnected(status=True), 428),
        (neo.StreamError(Code="515", Raw=neo.Node(Tag="stream:error")), 515),
        (neo.ClientOutdated(), 405),
    ],
)
async def test_connection_events_map_to_close_codes(engine: Engine, event: Any, code: int) -> None:
    got = await engine.one(event)
    assert isinstance(got, Disconnected)
    assert got.code == code


async def test_logged_out_wipes_credentials_then_closes_with_401(engine: Engine) -> None:
    out = await engine.dispatch(neo.LoggedOut(OnConnect=False, Reason=neo.LOGGED_OUT))
    assert out == [CredentialsUpdated(None), Disconnected(401, "logged out (logged_out)")]


async def test_qr_codes_come_through_the_clients_callback(engine: Engine) -> None:
    await engine.engine.test_command("qr", {"code": "2@first"})
    await engine.engine.test_command("qr", {"code": "2@second"})
    await engine.settle()
    assert engine.events == [RawQr("2@first", 0), RawQr("2@second", 1)]


async def test_qr_channel_timeout_ends_the_login(engine: Engine) -> None:
    await engine.engine.test_command("login_status", {"status": "timeout"})
    await engine.settle()
    assert engine.events == [Disconnected(408, "qr_timeout")]


async def test_events_keep_their_order_while_media_downloads(engine: Engine) -> None:
    slow = asyncio.Event()
    download = engine.engine._net_download

    async def slow_download(message: Any) -> bytes:
        await slow.wait()
        return await download(message)

    engine.engine._net_download = slow_download  # type: ignore[method-assign]
    key = MessageKey(remoteJID=CONTACT_JID, fromMe=False, ID="3A0MEDIA")
    image = direct(
        e2e.Message(imageMessage=e2e.ImageMessage(mimetype="image/jpeg")), wa_id="3A0MEDIA"
    )
    revoke = direct(
        e2e.Message(protocolMessage=e2e.ProtocolMessage(key=key, type=e2e.ProtocolMessage.REVOKE)),
        wa_id="3A0REVOKE",
    )
    for event in (image, revoke):
        data = base64.b64encode(event.SerializeToString()).decode()
        await engine.engine.test_command("event", {"code": event_code(event), "data": data})
    for _ in range(20):
        await asyncio.sleep(0)
    assert engine.events == []  # the revoke waits for the message it revokes
    slow.set()
    await engine.settle()
    assert [type(e).__name__ for e in engine.events] == ["MessageReceived", "MessageRevoked"]
