"""Simulator outbound: sends, the network's dedupe, receipts on the clock, refusals, logs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from tests.transports.conftest import CONTACT, SESSION, EventLog, MakeTransport, inbound
from wagate.domain import (
    ContactCard,
    FakeClock,
    Jid,
    MessageReceived,
    MessageStatus,
    MessageType,
    OutgoingMedia,
    OutgoingMessage,
    PermanentSendError,
    PresenceState,
    Reaction,
    ReceiptReceived,
    TransientSendError,
    TransportEvent,
    group_jid,
    lid_jid,
    phone_jid,
)
from wagate.transports.simulator import (
    PresenceRecord,
    ReadRecord,
    SentRecord,
    SimulatorNetwork,
    SimulatorTransport,
)

TO = phone_jid(CONTACT)
VOICE = OutgoingMedia(b"OggS...", "audio/ogg; codecs=opus")


def outgoing(
    wa_id: str = "3EB0000000000000000A",
    to: str = TO,
    type: MessageType = MessageType.TEXT,
    *,
    text: str | None = None,
    media: OutgoingMedia | None = None,
    reaction: Reaction | None = None,
    contact: ContactCard | None = None,
) -> OutgoingMessage:
    if type is MessageType.TEXT and text is None:
        text = "hello"
    return OutgoingMessage(
        f"msg_{wa_id[-4:]}",
        wa_id,
        Jid(to),
        type,
        text=text,
        media=media,
        reaction=reaction,
        contact=contact,
    )


def receipts(events: EventLog) -> list[tuple[str, MessageStatus, float]]:
    """(wa id, status, seconds since the test's start) of each receipt, in order."""
    return [
        (r.wa_message_ids[0], r.status, (r.timestamp - START).total_seconds())
        for r in events.of(ReceiptReceived)
    ]


START = FakeClock().now()


async def test_send_records_and_receipts_follow_on_the_clock(
    online: SimulatorTransport, events: EventLog, network: SimulatorNetwork, clock: FakeClock
) -> None:
    result = await online.send(outgoing())

    assert result.wa_message_id == "3EB0000000000000000A"
    assert result.timestamp == clock.now() == START
    assert network.sent(SESSION) == [
        SentRecord("3EB0000000000000000A", "msg_000A", TO, "text", "hello", 1)
    ]
    await clock.advance(0.49)
    assert receipts(events) == []
    await clock.advance(0.01)
    assert receipts(events) == [("3EB0000000000000000A", MessageStatus.DELIVERED, 0.5)]
    await clock.advance(1.49)
    assert len(receipts(events)) == 1
    await clock.advance(0.01)
    assert receipts(events)[1:] == [("3EB0000000000000000A", MessageStatus.READ, 2.0)]
    await clock.advance(60)
    assert len(receipts(events)) == 2
    assert events.of(ReceiptReceived)[0].chat_id == TO


async def test_a_voice_note_is_also_played(
    online: SimulatorTransport, events: EventLog, clock: FakeClock
) -> None:
    await online.send(outgoing(type=MessageType.VOICE, media=VOICE))
    await clock.advance(10)
    assert [(s, t) for _, s, t in receipts(events)] == [
        (MessageStatus.DELIVERED, 0.5),
        (MessageStatus.READ, 2.0),
        (MessageStatus.PLAYED, 3.0),
    ]


async def test_groups_only_report_delivery(
    online: SimulatorTransport, events: EventLog, clock: FakeClock
) -> None:
    await online.send(outgoing(to=group_jid("120363025555555555")))
    await clock.advance(10)
    assert [(s, t) for _, s, t in receipts(events)] == [(MessageStatus.DELIVERED, 0.5)]


async def test_reactions_get_no_receipts_and_record_their_emoji(
    online: SimulatorTransport, events: EventLog, network: SimulatorNetwork, clock: FakeClock
) -> None:
    reaction = Reaction(message_id="3A11", emoji="🎉")
    await online.send(outgoing(type=MessageType.REACTION, reaction=reaction))
    await clock.advance(10)
    assert receipts(events) == []
    assert network.sent(SESSION)[0].text == "🎉"


async def test_session_config_sets_the_recipients_habits(
    make_transport: MakeTransport, events: EventLog, network: SimulatorNetwork, clock: FakeClock
) -> None:
    config = {"delivery_delay_ms": 100, "read_delay_ms": 1000, "auto_read": True}
    quick = make_transport(config=config)
    await quick.connect()
    await network.scan(SESSION)
    slow = make_transport("ses_2", config={"auto_read": False})
    await slow.connect()
    await network.scan("ses_2")

    await quick.send(outgoing("3EB0000000000000QUICK"))
    await slow.send(outgoing("3EB00000000000000SLOW"))
    await clock.advance(30)

    assert receipts(events) == [
        ("3EB0000000000000QUICK", MessageStatus.DELIVERED, 0.1),
        ("3EB00000000000000SLOW", MessageStatus.DELIVERED, 0.5),
        ("3EB0000000000000QUICK", MessageStatus.READ, 1.0),
    ]


async def test_a_retransmission_is_the_same_message(
    online: SimulatorTransport, events: EventLog, network: SimulatorNetwork, clock: FakeClock
) -> None:
    await online.send(outgoing("3EB0000000000000000A"))
    await clock.advance(1)
    await online.send(outgoing("3EB0000000000000000A"))  # e.g. retried after a lost ack
    await online.send(outgoing("3EB0000000000000000B", text="second"))
    await online.send(outgoing("3EB0000000000000000A"))
    await clock.advance(10)

    assert [(r.wa_message_id, r.text, r.transmissions) for r in network.sent(SESSION)] == [
        ("3EB0000000000000000A", "hello", 3),
        ("3EB0000000000000000B", "second", 1),
    ]
    assert receipts(events) == [
        ("3EB0000000000000000A", MessageStatus.DELIVERED, 0.5),
        ("3EB0000000000000000B", MessageStatus.DELIVERED, 1.5),
        ("3EB0000000000000000A", MessageStatus.READ, 2.0),
        ("3EB0000000000000000B", MessageStatus.READ, 3.0),
    ]


@pytest.mark.parametrize("number", ["0800123456", "99912345678"])
async def test_numbers_not_on_whatsapp_are_refused(
    online: SimulatorTransport, network: SimulatorNetwork, number: str
) -> None:
    with pytest.raises(PermanentSendError) as refused:
        await online.send(outgoing(to=phone_jid(number)))
    assert refused.value.code == "invalid_recipient"
    assert not refused.value.is_transient
    assert network.sent(SESSION) == []


async def test_a_lid_needs_a_known_person(
    online: SimulatorTransport, network: SimulatorNetwork
) -> None:
    with pytest.raises(PermanentSendError) as refused:
        await online.send(outgoing("3EB0000000000000000A", to=lid_jid("111111111111111")))
    assert refused.value.code == "lid_without_mapping"

    contact_lid = next(c.lid for c in network.phone(SESSION).contacts if c.lid)
    await online.send(outgoing("3EB0000000000000000B", to=lid_jid(str(contact_lid))))
    await network.inbound(SESSION, inbound(sender=CONTACT, lid="222222222222222", text="hi"))
    await online.send(outgoing("3EB0000000000000000C", to=lid_jid("222222222222222")))
    assert [r.wa_message_id[-1] for r in network.sent(SESSION)] == ["B", "C"]


async def test_sending_needs_a_connection(
    make_transport: MakeTransport, network: SimulatorNetwork
) -> None:
    transport = make_transport()
    await transport.connect()  # showing a QR, not logged in
    with pytest.raises(TransientSendError) as offline:
        await transport.send(outgoing())
    assert offline.value.code == "not_connected"
    assert offline.value.is_transient
    with pytest.raises(TransientSendError):
        await transport.send_presence(TO, PresenceState.COMPOSING)
    with pytest.raises(TransientSendError):
        await transport.mark_read(TO, ["3A1"], None)
    assert network.sent(SESSION) == []


async def test_kinds_the_network_cannot_carry_are_refused(online: SimulatorTransport) -> None:
    with pytest.raises(PermanentSendError) as sticker:
        await online.send(outgoing(type=MessageType.STICKER, media=VOICE))
    assert sticker.value.code == "unsupported_type"
    with pytest.raises(PermanentSendError) as no_media:
        await online.send(outgoing(type=MessageType.IMAGE))
    assert no_media.value.code == "invalid_message"


async def test_receipts_due_while_offline_wait_for_the_next_connect(
    online: SimulatorTransport, events: EventLog, network: SimulatorNetwork, clock: FakeClock
) -> None:
    await online.send(outgoing())
    await clock.advance(0.1)
    await network.disconnect(SESSION, 428)
    await clock.advance(0.9)  # delivered came due at +0.5 while offline
    queued = await network.inbound(SESSION, inbound(sender=CONTACT, text="while away"))
    assert receipts(events) == []

    await online.connect()
    assert events.kinds() == [
        "Disconnected",
        "Connected",
        "MessageReceived",
        "ReceiptReceived",
    ]
    assert events.of(MessageReceived)[0].message.wa_message_id == queued
    assert receipts(events) == [("3EB0000000000000000A", MessageStatus.DELIVERED, 0.5)]
    await clock.advance(0.99)
    assert len(receipts(events)) == 1
    await clock.advance(0.01)  # read still comes at +2 s
    assert receipts(events)[1:] == [("3EB0000000000000000A", MessageStatus.READ, 2.0)]


async def test_receipts_outlive_a_closed_transport(
    online: SimulatorTransport,
    make_transport: MakeTransport,
    events: EventLog,
    clock: FakeClock,
) -> None:
    await online.send(outgoing(type=MessageType.VOICE, media=VOICE))
    credentials = online.context.credentials
    await online.close()
    await clock.advance(60)
    assert receipts(events) == []

    restarted = make_transport(credentials=credentials)
    await restarted.connect()
    assert [(s, t) for _, s, t in receipts(events)] == [
        (MessageStatus.DELIVERED, 0.5),
        (MessageStatus.READ, 2.0),
        (MessageStatus.PLAYED, 3.0),
    ]
    assert clock.now() - START == timedelta(seconds=60)


async def test_presence_and_read_receipts_are_logged(
    online: SimulatorTransport, network: SimulatorNetwork, clock: FakeClock
) -> None:
    await online.send_presence(TO, PresenceState.COMPOSING)
    await clock.advance(1.5)
    await online.send_presence(TO, PresenceState.PAUSED)
    await online.mark_read(TO, ["3A1", "3A2"], f"{CONTACT}@s.whatsapp.net")

    assert network.presence_log(SESSION) == [
        PresenceRecord(TO, PresenceState.COMPOSING, START),
        PresenceRecord(TO, PresenceState.PAUSED, START + timedelta(seconds=1.5)),
    ]
    assert network.read_log(SESSION) == [
        ReadRecord(TO, ("3A1", "3A2"), f"{CONTACT}@s.whatsapp.net", START + timedelta(seconds=1.5))
    ]


async def test_reset_forgets_the_logs_but_keeps_the_link(
    online: SimulatorTransport, network: SimulatorNetwork, events: EventLog, clock: FakeClock
) -> None:
    await online.send(outgoing(type=MessageType.CONTACT, contact=ContactCard(name="A", phone="1")))
    await online.send_presence(TO, PresenceState.COMPOSING)
    network.reset()
    await clock.advance(10)

    assert network.sent(SESSION) == []
    assert network.presence_log(SESSION) == []
    assert receipts(events) == []  # pending receipts went too
    assert online.connected
    assert network.phone(SESSION).linked


async def test_a_failing_sink_loses_no_receipt(
    online: SimulatorTransport, events: EventLog, network: SimulatorNetwork, clock: FakeClock
) -> None:
    broken = [True]

    async def flaky(event: TransportEvent) -> None:
        if broken[0] and isinstance(event, ReceiptReceived):
            raise RuntimeError("database down")
        await events(event)

    online.context.sink = flaky
    await online.send(outgoing())
    with capture_logs() as logs:
        await clock.advance(0.5)
    assert [(entry["event"], entry["log_level"]) for entry in logs] == [
        ("simulator_task_failed", "error")
    ]
    assert isinstance(logs[0]["exc_info"], RuntimeError)
    assert receipts(events) == []

    broken[0] = False
    await network.disconnect(SESSION, 428)
    await online.connect()
    await clock.advance(5)
    assert receipts(events) == [
        ("3EB0000000000000000A", MessageStatus.DELIVERED, 0.5),
        ("3EB0000000000000000A", MessageStatus.READ, 2.0),
    ]
