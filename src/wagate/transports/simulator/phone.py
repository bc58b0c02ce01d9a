"""The virtual phone behind each simulator session: identity, address book, device link, queues.

Everything random about a phone comes from PRNGs seeded with the network
seed and the session id, one stream per purpose (identity, ids, QR codes,
pairing codes), so one kind of activity never shifts another's values and two
networks with the same seed behave identically.
"""

from __future__ import annotations

import base64
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from wagate.domain import MessageStatus, OutgoingMessage, lid_jid, phone_jid, split_jid
from wagate.domain.ids import LID_SERVER, PHONE_SERVER
from wagate.transports.simulator.groups import GroupBook
from wagate.transports.simulator.ledger import SentLedger, fold_transmission
from wagate.transports.simulator.records import (
    Account,
    PendingReceipt,
    PresenceRecord,
    ReadRecord,
    SentRecord,
    VirtualContact,
)
from wagate.transports.simulator.rules import on_whatsapp
from wagate.transports.simulator.settings import SimulatorConfig, SimulatorSettings

if TYPE_CHECKING:
    from wagate.transports.simulator.transport import SimulatorTransport

PAIRING_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"  # WhatsApp's: no 0, O, I, U
_AREA_CODES = (11, 12, 19, 21, 27, 31, 41, 47, 48, 51, 61, 62, 71, 81, 85, 91)
_FIRST_NAMES = (
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elisa",
    "Felipe",
    "Gabriela",
    "Hugo",
    "Isabela",
    "João",
    "Karina",
    "Lucas",
    "Mariana",
    "Nicolas",
    "Olívia",
    "Pedro",
    "Rafaela",
    "Sofia",
    "Thiago",
    "Valentina",
)
_LAST_NAMES = (
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Lima",
    "Pereira",
    "Costa",
    "Almeida",
    "Ferreira",
    "Rodrigues",
)

CredentialCheck = Literal["valid", "revoked", "foreign"]


def _mobile_number(rng: random.Random) -> str:
    """A 13-digit Brazilian mobile number: 55, a real area code, 9, eight digits."""
    return f"55{rng.choice(_AREA_CODES)}9{rng.randrange(10**7, 10**8)}"


def _person_name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"


def _lid(rng: random.Random) -> str:
    return str(rng.randrange(10**14, 10**15))  # @lid ids are opaque 15-digit numbers


def _b64(rng: random.Random, nbytes: int) -> str:
    return base64.b64encode(rng.randbytes(nbytes)).decode("ascii")


@dataclass(slots=True)
class DeviceLink:
    """The session as a linked device of the phone's account."""

    device_id: int | None = None  # the linked device, None when nothing is linked
    revoked: set[int] = field(default_factory=set)  # devices unlinked by logout or 401/403


@dataclass(frozen=True, slots=True)
class SendFault:
    """One injected send failure (fault injection for tests and drills)."""

    code: str
    transient: bool
    retry_after_s: float | None = None


class VirtualPhone:
    """One session's phone: its number, owner, contacts and what waits for the session."""

    def __init__(
        self,
        session_id: str,
        seed: int,
        settings: SimulatorSettings,
        config: SimulatorConfig,
        *,
        linked_number: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.settings = config.apply(settings)
        identity = random.Random(f"{seed}:{session_id}")
        # Drawn even when config overrides them, so the values after them stay the same.
        derived_number, derived_name = _mobile_number(identity), _person_name(identity)
        self.number: str = linked_number or config.phone or derived_number
        self.push_name: str = config.push_name or derived_name
        self.lid: str = _lid(identity)
        if isinstance(config.contacts, list):
            contacts = [VirtualContact(c.phone, c.name, c.lid) for c in config.contacts]
        else:
            count = self.settings.contacts_per_phone
            contacts = [self._generated_contact(identity, i) for i in range(count)]
        self.contacts: list[VirtualContact] = contacts
        self._ids = random.Random(f"{seed}:{session_id}:ids")
        self._qr = random.Random(f"{seed}:{session_id}:qr")
        self._pairing = random.Random(f"{seed}:{session_id}:pairing")
        self._receipt_seq = 0
        self.link = DeviceLink()
        self.transport: SimulatorTransport | None = None  # the one the network talks to
        self.offline_queue: deque[dict[str, Any]] = deque()  # wire payloads, oldest first
        self.receipts: dict[int, PendingReceipt] = {}  # by seq; not yet given to the session
        self.sent: dict[str, SentRecord] = {}  # by wa_message_id, in order of first arrival
        self.ledger: SentLedger | None = None  # where ``sent`` is kept across gateway crashes
        self.send_faults: deque[SendFault] = deque()  # injected failures for the next sends
        self.stalled = False  # the connection is up but nothing answers (keepalives hang)
        self.accounts: dict[str, Account] = {}  # numbers declared to the network, by digits
        self.latency_s = 0.0  # a slow network: every round trip to the server takes this long
        self.presence_log: list[PresenceRecord] = []
        self.subscriptions: list[tuple[str, datetime]] = []  # presence subscriptions asked for
        self.read_log: list[ReadRecord] = []
        self._lids: dict[str, str | None] = {c.lid: c.phone for c in self.contacts if c.lid}
        self.about = "Hey there! I am using WhatsApp."
        self.picture_sha256: str | None = None
        self.blocked: set[str] = set()  # JIDs this phone blocked
        self.groups = GroupBook(
            phone_jid(self.number), self.reachable, random.Random(f"{seed}:{session_id}:groups")
        )

    @staticmethod
    def _generated_contact(rng: random.Random, index: int) -> VirtualContact:
        number, name, lid = _mobile_number(rng), _person_name(rng), _lid(rng)
        return VirtualContact(number, name, lid if index % 2 == 0 else None)  # every other one

    # ------------------------------------------------------------------ identity

    @property
    def connected(self) -> bool:
        return self.transport is not None and self.transport.connected

    def contact(self, phone: str) -> VirtualContact | None:
        return next((c for c in self.contacts if c.phone == phone), None)

    def knows_lid(self, lid: str) -> bool:
        """Whether the phone can address this @lid (a contact's, or one that wrote to it)."""
        return lid in self._lids

    def learn(self, phone: str | None, lid: str | None) -> None:
        """Remember a sender's @lid, as the real app keeps its lid-to-phone mapping."""
        if lid is not None:
            self._lids[lid] = phone or self._lids.get(lid)

    def reachable(self, jid: str) -> bool:
        """Whether the network knows an account at ``jid`` (declared, or by the rule)."""
        digits, server = split_jid(jid)
        if server != PHONE_SERVER:
            return server == LID_SERVER
        known = self.accounts.get(digits)
        return known.on_whatsapp if known is not None else on_whatsapp(digits)

    def own_lid_jid(self) -> str:
        return lid_jid(self.lid)

    # ------------------------------------------------------------------ generated values

    def start_epoch(self, seed: int, epoch: int) -> None:
        """Continue the id sequence in a new process without repeating an earlier one's ids.

        Ids are drawn from a seeded generator, so a restarted gateway would draw
        the same inbound ids again and they would be taken for duplicates. Each
        process start with a ledger is a new epoch with its own sequence.
        """
        if epoch:
            self._ids = random.Random(f"{seed}:{self.session_id}:ids:{epoch}")

    def new_message_id(self) -> str:
        """An id in the shape the phone app uses: ``3A`` + 18 upper-case hex digits."""
        return "3A" + self._ids.randbytes(9).hex().upper()

    def new_call_id(self) -> str:
        return self._ids.randbytes(16).hex().upper()

    def new_qr_keys(self) -> tuple[str, str, str]:
        """Per login attempt: noise public key, identity public key, advertising secret."""
        return _b64(self._qr, 32), _b64(self._qr, 32), _b64(self._qr, 32)

    def new_qr(self, keys: tuple[str, str, str]) -> str:
        """A QR payload shaped like WhatsApp's: ``2@<ref>,<noise>,<identity>,<adv secret>``."""
        ref = _b64(self._qr, 60)
        return f"2@{ref},{','.join(keys)}"

    def new_pairing_code(self) -> str:
        chars = "".join(self._pairing.choice(PAIRING_ALPHABET) for _ in range(8))
        return f"{chars[:4]}-{chars[4:]}"

    def new_media_seed(self, wa_message_id: str) -> str:
        return f"{self.session_id}:{wa_message_id}"

    def hold_receipt(
        self, due_at: datetime, wa_message_id: str, chat_id: str, status: MessageStatus
    ) -> PendingReceipt:
        """Remember a receipt the recipient will send; it stays until handed to the session."""
        self._receipt_seq += 1
        receipt = PendingReceipt(due_at, self._receipt_seq, wa_message_id, chat_id, status)
        self.receipts[receipt.seq] = receipt
        return receipt

    # ------------------------------------------------------------------ device link

    def link_device(self, device_id: int | None = None) -> dict[str, Any]:
        """Link the session as a device (a new one unless ``device_id`` is given).

        Returns the credentials the session keeps to reconnect without a scan.
        """
        if device_id is None:
            taken = self.link.revoked | ({self.link.device_id} - {None})
            device_id = next(d for d in range(1, 10_000) if d not in taken)
        self.link.device_id = device_id
        return self.credentials()

    def unlink(self) -> None:
        """Remove the linked device; its credentials will be refused from now on."""
        if self.link.device_id is not None:
            self.link.revoked.add(self.link.device_id)
        self.link.device_id = None

    def credentials(self) -> dict[str, Any]:
        return {"simulator": True, "phone": self.number, "device_id": self.link.device_id}

    def check(self, credentials: dict[str, Any] | None) -> CredentialCheck:
        """Whether saved credentials log this phone in.

        ``foreign``: not a simulator link for this number (ignored, a QR is shown);
        ``revoked``: a device this phone unlinked (answered with 401, like WhatsApp).
        """
        if not credentials or credentials.get("simulator") is not True:
            return "foreign"
        device_id = credentials.get("device_id")
        if credentials.get("phone") != self.number or not isinstance(device_id, int):
            return "foreign"
        if device_id in self.link.revoked:
            return "revoked"
        if self.link.device_id not in (None, device_id):
            return "foreign"
        return "valid"

    # ------------------------------------------------------------------ logs

    def record_sent(self, message: OutgoingMessage) -> bool:
        """Note a transmission; True when this ``wa_message_id`` reached the network first now.

        With a ledger, the transmission is written there before it counts here.
        """
        text = message.text
        if message.reaction is not None:
            text = message.reaction.emoji
        elif message.poll is not None:
            text = message.poll.name
        record = SentRecord(
            wa_message_id=message.wa_message_id,
            message_id=message.message_id,
            to=str(message.to),
            type=message.type.value,
            text=text,
            target=message.target,
        )
        if self.ledger is not None:
            self.ledger.append(record)
        return fold_transmission(self.sent, record)

    def clear_logs(self) -> None:
        self.offline_queue.clear()
        self.receipts.clear()
        self.sent.clear()
        if self.ledger is not None:
            self.ledger.clear()
        self.presence_log.clear()
        self.subscriptions.clear()
        self.read_log.clear()
