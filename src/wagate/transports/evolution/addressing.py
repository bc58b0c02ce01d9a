"""Who a message is from and which chat it belongs to, across Evolution's @lid variants.

WhatsApp hides phone numbers behind "linked identities" (``<id>@lid``), and
each Evolution release passed that through differently:

* before 2.3.1: ``key.remoteJid`` / ``key.participant`` are phone JIDs (or a bare @lid);
* 2.3.1-2.3.2: the phone is in ``key.senderPn`` and the LID in ``key.previousRemoteJid``
  (``remoteJid`` may already hold the phone);
* 2.3.3-2.3.4: ``remoteJid`` rewritten to the phone, the LID dropped;
* 2.3.5 and later: ``key.remoteJidAlt`` / ``key.participantAlt`` carry the other
  address; ``key.addressingMode`` says which one ``remoteJid`` is (``"pn"`` means
  the phone is primary and the Alt field holds the LID).

Baileys itself also sets ``senderPn``/``senderLid`` and ``participantPn``/``participantLid``.
Rather than trust ``addressingMode`` or the version, every address is classified by
its server part: ``@s.whatsapp.net``/``@c.us`` is a phone, ``@lid`` a LID.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wagate.domain import ChatType, is_group, is_lid, lid_jid, phone_jid, phone_of, split_jid


@dataclass(frozen=True, slots=True)
class Person:
    """A person's phone digits and ``@lid`` JID, as far as the payload shows them."""

    phone: str | None
    lid: str | None

    @property
    def jid(self) -> str:
        """The contract's JID for this person: the phone JID when known, else the LID."""
        if self.phone:
            return phone_jid(self.phone)
        return self.lid or ""


def person_of(*addresses: Any) -> Person | None:
    """Classify addresses by server; the first phone and the first LID win. None if neither."""
    texts = [a.strip() for a in addresses if isinstance(a, str) and "@" in a]
    phone = next((p for p in map(phone_of, texts) if p), None)
    lid = next((lid_jid(split_jid(a)[0]) for a in texts if is_lid(a) and split_jid(a)[0]), None)
    if phone is None and lid is None:
        return None
    return Person(phone, lid)


@dataclass(frozen=True, slots=True)
class Addressing:
    """Chat and sender of one message, per CONTRACT.md."""

    chat_id: str
    chat_type: ChatType
    sender: str
    sender_phone: str | None
    sender_lid: str | None
    other: Person | None  # the person the message names: sender, or a from_me chat's partner


def resolve(key: dict[str, Any], data: dict[str, Any], own_jid: str | None) -> Addressing:
    """Work out the chat and sender of a message key; ``ValueError`` when there is none."""
    remote = key.get("remoteJid")
    if not isinstance(remote, str) or "@" not in remote:
        raise ValueError("message key has no usable 'remoteJid'")
    from_me = key.get("fromMe") is True
    own = person_of(own_jid)
    if is_group(remote):
        chat_id = split_jid(remote)[0] + "@g.us"
        speaker = person_of(
            key.get("participant"),
            key.get("participantAlt"),
            key.get("participantPn"),
            key.get("participantLid"),
            data.get("participant"),
            *((key.get("senderPn"), key.get("senderLid")) if not from_me else ()),
        )
        if from_me:
            speaker = own or speaker
        if speaker is None:
            raise ValueError(f"group message in {chat_id} has no usable 'participant'")
        return Addressing(
            chat_id=chat_id,
            chat_type=ChatType.GROUP,
            sender=speaker.jid,
            sender_phone=speaker.phone,
            sender_lid=None if from_me else speaker.lid,
            other=None if from_me else speaker,
        )
    partner_addresses = [remote, key.get("remoteJidAlt"), key.get("previousRemoteJid")]
    if not from_me:
        partner_addresses += [key.get("senderPn"), key.get("senderLid")]
    partner = person_of(*partner_addresses)
    if partner is None:
        raise ValueError(f"{remote!r} is neither a person nor a group")
    if from_me:
        return Addressing(
            chat_id=partner.jid,
            chat_type=ChatType.DIRECT,
            sender=own.jid if own else (own_jid or ""),
            sender_phone=own.phone if own else None,
            sender_lid=None,
            other=partner,
        )
    return Addressing(
        chat_id=partner.jid,
        chat_type=ChatType.DIRECT,
        sender=partner.jid,
        sender_phone=partner.phone,
        sender_lid=partner.lid,
        other=partner,
    )


def chat_of(remote: Any, *alternates: Any) -> str | None:
    """The contract's chat id for a bare ``remoteJid`` (receipts, revokes), or None."""
    if not isinstance(remote, str) or "@" not in remote:
        return None
    if is_group(remote):
        return split_jid(remote)[0] + "@g.us"
    person = person_of(remote, *alternates)
    return person.jid if person else None
