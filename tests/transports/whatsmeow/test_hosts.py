"""Engine hosts as real subprocesses, driven through the transport and the supervisor.

The hosts run :class:`tests.transports.whatsmeow.fake_engine.FakeEngine`: the
real host, protocol, neonize client and event machinery, normalizer and
builder, with only the WhatsApp network replaced. Crashes are real: the host
process aborts, or neonize's Go library panics.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from neonize.proto import Neonize_pb2 as neo
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from tests.transports.test_audio import wav
from tests.transports.whatsmeow.support import (
    CONTACT,
    FAKE_HOST_ARGS,
    HOST_ENV,
    REPO,
    EventLog,
    direct,
    event_code,
    eventually,
)
from wagate.domain import (
    Connected,
    CredentialsUpdated,
    Disconnected,
    FakeClock,
    IdentityLearned,
    Jid,
    MessageReceived,
    MessageType,
    OutgoingMedia,
    OutgoingMessage,
    PairingCodeIssued,
    PresenceState,
    QrUpdated,
    Reaction,
    TransientSendError,
    TransportError,
)
from wagate.transports.audio import ffmpeg_available
from wagate.transports.base import NumberCheck, TransportContext
from wagate.transports.whatsmeow import EngineSupervisor, SupervisorSettings, WhatsmeowTransport

CONTACT_JID = Jid(f"{CONTACT}@s.whatsapp.net")


class Harness:
    def __init__(self, supervisor: EngineSupervisor, clock: FakeClock, data_dir: Path) -> None:
        self.supervisor = supervisor
        self.clock = clock
        self.data_dir = data_dir

    async def session(
        self, session_id: str, credentials: dict[str, Any] | None = None
    ) -> tuple[WhatsmeowTransport, EventLog]:
        log = EventLog()
        context = TransportContext(
            session_id=session_id,
            session_name=session_id,
            config={},
            credentials=credentials,
            data_dir=self.data_dir,
            clock=self.clock,
            sink=log,
        )
        transport = self.supervisor.create_transport(context)
        await transport.connect()
        return transport, log

    async def connected(self, session_id: str) -> tuple[WhatsmeowTransport, EventLog]:
        transport, log = await self.session(session_id)
        await inject(transport, neo.Connected(status=True))
        await log.wait_for(Connected)
        return transport, log


async def inject(transport: WhatsmeowTransport, event: Any) -> None:
    data = base64.b64encode(event.SerializeToString()).decode()
    await transport.test_command("event", code=event_code(event), data=data)


async def sent(transport: WhatsmeowTransport) -> list[tuple[str, bytes]]:
    items = await transport.test_command("sent")
    return [(to, base64.b64decode(body)) for to, body in items]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    clock = FakeClock()
    settings = SupervisorSettings(
        sessions_per_host=1,
        qr_max_codes=3,
        restart_backoff_s=(1.0, 5.0),
        stable_after_s=60.0,
        host_args=FAKE_HOST_ARGS,
        env=HOST_ENV,
    )
    supervisor = EngineSupervisor(clock, tmp_path, settings)
    try:
        yield Harness(supervisor, clock, tmp_path)
    finally:
        await supervisor.close()


def outgoing(type: MessageType = MessageType.TEXT, **fields: Any) -> OutgoingMessage:
    fields.setdefault("text", "hello" if type is MessageType.TEXT else None)
    return OutgoingMessage(
        message_id="msg_1", wa_message_id="", to=CONTACT_JID, type=type, **fields
    )


# --------------------------------------------------------------------------- login


async def test_qr_codes_expire_on_the_injected_clock_and_run_out(harness: Harness) -> None:
    transport, log = await harness.session("ses_qr")
    for code in ("2@one", "2@two", "2@three", "2@four"):
        await transport.test_command("qr", code=code)
    qrs = await log.wait_for(QrUpdated, 3)
    start = harness.clock.now()
    assert [(q.qr, (q.expires_at - start).total_seconds()) for q in qrs] == [
        ("2@one", 60.0),
        ("2@two", 20.0),
        ("2@three", 20.0),
    ]
    assert await log.wait_for(Disconnected) == [Disconnected(408, "qr_timeout")]
    await transport.close()


async def test_pairing_code_once_the_login_socket_is_up(harness: Harness) -> None:
    transport, log = await harness.session("ses_pair")
    await transport.test_command("qr", code="2@first")
    code = await transport.request_pairing_code("+55 11 98888-7777")
    assert code == "ABCD-1234"
    assert await log.wait_for(PairingCodeIssued) == [PairingCodeIssued("ABCD-1234", CONTACT)]
    await transport.close()


async def test_connected_stores_the_device_jid(harness: Harness) -> None:
    transport, log = await harness.connected("ses_conn")
    assert log.of(CredentialsUpdated)[0].credentials == {
        "jid": "5511900000001@s.whatsapp.net",
        "lid": "99887766554433@lid",
    }
    store = harness.supervisor.store_dir("ses_conn")
    assert store.stat().st_mode & 0o777 == 0o700
    assert store.parent.stat().st_mode & 0o777 == 0o700
    await transport.keepalive()
    await transport.close()


async def test_logout_wipes_the_device_store(harness: Harness) -> None:
    transport, log = await harness.connected("ses_out")
    store = harness.supervisor.store_dir("ses_out")
    assert store.exists()
    await transport.logout()
    assert not store.exists()
    assert log.of(CredentialsUpdated)[-1] == CredentialsUpdated(None)


async def test_a_session_without_credentials_starts_from_a_wiped_store(harness: Harness) -> None:
    store = harness.supervisor.store_dir("ses_fresh")
    store.mkdir(parents=True)
    (store / "device.db").write_bytes(b"old login")
    transport, _ = await harness.session("ses_fresh", credentials=None)
    assert not (store / "device.db").exists()
    await transport.close()
    (store / "device.db").write_bytes(b"current login")
    transport, _ = await harness.session("ses_fresh", credentials={"jid": "5511@s.whatsapp.net"})
    assert (store / "device.db").read_bytes() == b"current login"
    await transport.close()


# --------------------------------------------------------------------------- traffic


async def test_inbound_message_reaches_the_sink_with_its_media(harness: Harness) -> None:
    transport, log = await harness.connected("ses_in")
    image = e2e.ImageMessage(mimetype="image/jpeg", caption="hi", fileLength=10)
    await inject(transport, direct(e2e.Message(imageMessage=image)))
    (got,) = await log.wait_for(MessageReceived)
    assert (got.message.type, got.message.text, got.message.chat_id) == (
        MessageType.IMAGE,
        "hi",
        CONTACT_JID,
    )
    assert got.media is not None
    assert got.media.data.startswith(b"media-bytes-of-")
    await transport.close()


async def test_send_text_reply_and_reaction(harness: Harness) -> None:
    transport, log = await harness.connected("ses_send")
    await inject(transport, direct(e2e.Message(conversation="question?"), wa_id="3A0Q"))
    await log.wait_for(MessageReceived)
    first = await transport.send(outgoing(text="answer", reply_to="3A0Q"))
    assert first.wa_message_id.startswith("3EB0FAKE")
    await transport.send(
        outgoing(
            MessageType.REACTION, reaction=Reaction(message_id=first.wa_message_id, emoji="🎉")
        )
    )
    (to, reply), (_, reaction) = await sent(transport)
    assert to == CONTACT_JID
    quoted = e2e.Message.FromString(reply).extendedTextMessage.contextInfo
    assert (quoted.stanzaID, quoted.quotedMessage.conversation) == ("3A0Q", "question?")
    key = e2e.Message.FromString(reaction).reactionMessage.key
    assert (key.ID, key.fromMe) == (first.wa_message_id, True)  # the host knew it was ours
    await transport.close()


@pytest.mark.skipif(not ffmpeg_available(), reason="ffmpeg/ffprobe not installed")
async def test_voice_note_is_converted_uploaded_and_sent_as_ptt(harness: Harness) -> None:
    transport, _ = await harness.connected("ses_voice")
    media = OutgoingMedia(data=wav(1.0), mime_type="audio/wav", file_name="note.wav")
    await transport.send(outgoing(MessageType.VOICE, media=media))
    ((_, body),) = await sent(transport)
    audio = e2e.Message.FromString(body).audioMessage
    assert (audio.PTT, audio.mimetype, audio.seconds) == (True, "audio/ogg; codecs=opus", 1)
    assert audio.directPath.startswith("/v/t62/")
    assert audio.fileLength > 0
    await transport.close()


async def test_send_errors_are_classified(harness: Harness) -> None:
    transport, _ = await harness.session("ses_err")
    with pytest.raises(TransportError) as not_yet:
        await transport.send(outgoing())
    assert not_yet.value.code == "not_connected"
    await inject(transport, neo.Connected(status=True))
    await transport.test_command("set", send_error="websocket not connected")
    with pytest.raises(TransportError) as dropped:
        await transport.send(outgoing())
    assert dropped.value.code == "not_connected"
    await transport.test_command("set", send_error="server returned error 500")
    with pytest.raises(TransientSendError):
        await transport.send(outgoing())
    await transport.close()


async def test_presence_read_receipts_and_number_checks(harness: Harness) -> None:
    transport, _ = await harness.connected("ses_misc")
    await transport.subscribe_presence(CONTACT_JID)
    await transport.send_presence(CONTACT_JID, PresenceState.RECORDING)
    await transport.mark_read(CONTACT_JID, ["3A01", "3A02"], None)
    assert [body for _, body in await sent(transport)] == [
        b"subscribe",
        b"presence:recording",
        b"read:3A01,3A02",
    ]
    checks = await transport.check_numbers(["+55 11 98888-7778", "99912345678"])
    assert checks == [
        NumberCheck("5511988887778", True, "5511988887778@s.whatsapp.net"),
        NumberCheck("99912345678", False, None),
    ]
    await transport.close()


async def test_group_info_and_the_identities_it_reveals(harness: Harness) -> None:
    transport, log = await harness.connected("ses_group")
    info = await transport.group_info(Jid("120363000000000001@g.us"))
    created = info.pop("created_at")
    assert abs(created - 1_767_614_400) < 128  # neonize carries it as a 32-bit float
    assert info == {
        "jid": "120363000000000001@g.us",
        "subject": "Family",
        "description": "Sunday lunch",
        "name": "Family",
        "topic": "Sunday lunch",
        "owner": "5511900000001@s.whatsapp.net",
        "announce": False,
        "locked": True,
        "participants": [
            {
                "jid": CONTACT_JID,
                "phone": CONTACT,
                "lid": "123456789012345@lid",
                "admin": False,
                "super_admin": False,
            },
            {
                "jid": "5511900000001@s.whatsapp.net",
                "phone": "5511900000001",
                "lid": None,
                "admin": True,
                "super_admin": True,
            },
        ],
    }
    assert await log.wait_for(IdentityLearned) == [
        IdentityLearned(phone=CONTACT, lid="123456789012345@lid")
    ]
    with pytest.raises(TransportError):
        await transport.group_info(Jid("5511988887777-1600000000@g.us"))
    await transport.close()


# --------------------------------------------------------------------------- crashes


async def crash_and_check_isolation(harness: Harness, command: str, signal_name: str) -> None:
    victim, victim_log = await harness.connected("ses_victim")
    bystander, bystander_log = await harness.connected("ses_bystander")
    assert victim.host is not bystander.host  # one session per host in this harness
    old_pid = victim.host.pid if victim.host else 0
    with pytest.raises(TransportError):
        await victim.test_command(command)
    (lost,) = await victim_log.wait_for(Disconnected)
    assert lost.code == 500
    assert signal_name in lost.reason
    # the other host's session keeps working
    result = await bystander.send(outgoing(text="still here"))
    assert result.wa_message_id
    assert bystander_log.of(Disconnected) == []
    # the runtime reconnects: a new host, after the restart backoff on the injected clock
    await victim.close()
    reopening = asyncio.create_task(harness.session("ses_victim", {"jid": "x@s.whatsapp.net"}))
    await eventually(lambda: harness.clock.pending > 0)
    assert not reopening.done()
    await harness.clock.advance(1.0)
    reopened, log = await reopening
    assert reopened.host is not None
    assert reopened.host.pid != old_pid
    await inject(reopened, neo.Connected(status=True))
    await log.wait_for(Connected)
    assert (await reopened.send(outgoing(text="back"))).wa_message_id
    await reopened.close()
    await bystander.close()


async def test_an_aborting_host_is_restarted_and_others_keep_working(harness: Harness) -> None:
    await crash_and_check_isolation(harness, "abort", "SIGABRT")


async def test_a_go_panic_takes_down_only_its_host(harness: Harness) -> None:
    await crash_and_check_isolation(harness, "go_panic", "SIGABRT")


async def test_kill_9_is_noticed_at_once(harness: Harness) -> None:
    transport, log = await harness.connected("ses_kill")
    assert transport.host is not None
    os.kill(transport.host.pid, signal.SIGKILL)
    (lost,) = await log.wait_for(Disconnected, timeout=5)
    assert lost == Disconnected(500, "the engine host was killed by SIGKILL")
    with pytest.raises(TransportError) as exc:
        await transport.send(outgoing())
    assert exc.value.code == "not_connected"


async def test_crash_loops_back_off_longer(harness: Harness) -> None:
    supervisor = harness.supervisor
    transport, _ = await harness.session("ses_loop")
    assert supervisor.restart_delay() == 0.0
    for expected in (1.0, 5.0, 5.0):
        assert transport.host is not None
        os.kill(transport.host.pid, signal.SIGKILL)
        await eventually(lambda: transport.host is None)
        assert supervisor.restart_delay() == expected
        await transport.close()
        reopening = asyncio.create_task(transport.connect())
        await eventually(lambda: harness.clock.pending > 0)
        await harness.clock.advance(expected)
        await reopening
    await transport.close()


# --------------------------------------------------------------------------- the API process


def test_the_api_process_never_loads_neonize() -> None:
    code = (
        "import sys\n"
        "import wagate.app\n"
        "import wagate.transports.whatsmeow as w\n"
        "import wagate.transports.whatsmeow.transport, wagate.transports.whatsmeow.supervisor\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'neonize')\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


async def test_an_engine_host_inherits_no_secret_of_the_api_process(tmp_path: Path) -> None:
    secrets = {
        "WAGATE_API_KEY": "wga_admin_key_that_must_stay_in_the_api_process",
        "WAGATE_WEBHOOK_SECRET_KEY": "c2VjcmV0LWtleS1vZi10aGUtaW5zdGFsbGF0aW9uLTMyYg==",
        "WAGATE_DATABASE_URL": "postgresql+asyncpg://wagate:password@db/wagate",
        "OPENAI_API_KEY": "sk-not-for-the-host",
    }
    settings = SupervisorSettings(host_args=FAKE_HOST_ARGS, env={**HOST_ENV, **secrets})
    supervisor = EngineSupervisor(FakeClock(), tmp_path, settings)
    try:
        harness = Harness(supervisor, FakeClock(), tmp_path)
        await harness.session("ses_env")
        [host] = supervisor.hosts
        proc = Path(f"/proc/{host.process.pid}/environ")
        environ = (await asyncio.to_thread(proc.read_bytes)).split(b"\0")
        names = {entry.partition(b"=")[0].decode() for entry in environ if entry}
    finally:
        await supervisor.close()
    assert "PATH" in names
    assert "PYTHONPATH" in names
    assert not names & set(secrets)
    assert not any(name.startswith("WAGATE_") for name in names)
