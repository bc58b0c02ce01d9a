"""The simulator's wire format, and how a control-route request becomes one.

The simulated network carries each message as a JSON-able dict, shaped after
what WhatsApp clients see (a key, a sender name, a timestamp and a message
with exactly one content kind). The transport never reads the control-route
models; it only sees these payloads and hands them to the pure normalizer,
which is tested on golden files under ``tests/data/simulator/``::

    {
      "key": {
        "id": "3A0F...",                  # the WhatsApp message id
        "remote_jid": "<chat JID>",       # a person (phone or @lid JID) or a group (@g.us)
        "remote_jid_alt": "<JID>|null",   # direct chats: the person's other address
        "from_me": false,                 # typed by the phone's owner
        "participant": "<JID>|null",      # groups: who wrote it (phone or @lid JID)
        "participant_alt": "<JID>|null"   # groups: the participant's other address
      },
      "push_name": "Ana Silva",           # the name the sender chose, or null
      "timestamp": 1767614400,            # unix seconds, WhatsApp's resolution
      "message": {                        # one content kind, plus an optional "context"
        "text": {"body": "hi"}
        | "image" | "video" | "audio" | "document" | "sticker": {
              "mime_type", "file_name", "size", "sha256", "caption", "voice" (audio only),
              "data" (base64 of the bytes; the simulated network carries media inline)}
        | "location": {"latitude", "longitude", "name", "address"}
        | "contacts": {"items": [{"name", "phone"}]}
        | "reaction": {"target_id", "emoji"}   # "" removes an earlier reaction
        | "interactive": {"title", "selected_id"}
        | "edit": {"target_id", "text"}
        | "revoke": {"target_id"}
        | any other key (e.g. "poll_creation"): a kind wagate does not understand,
        "context": {"quoted_id": "<WhatsApp id of the quoted message>"}
      }
    }

An alternate address (``*_alt``) holds the person's @lid when the primary is
their phone JID, or their phone JID when the primary is an @lid; when the
network hides the phone number, the primary is the @lid and there is no alt.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from wagate.domain import lid_jid, phone_jid
from wagate.transports.simulator.models import DEFAULT_MIME, VOICE_MIME, SimulatorInbound
from wagate.transports.simulator.phone import VirtualPhone


def build_wire_payload(
    inbound: SimulatorInbound, phone: VirtualPhone, wa_message_id: str, now: datetime
) -> dict[str, Any]:
    """The payload the network delivers to ``phone`` for ``inbound``."""
    when = inbound.timestamp or now
    return {
        "key": _key(inbound, phone, wa_message_id),
        "push_name": _push_name(inbound, phone),
        "timestamp": int(when.timestamp()),
        "message": _message(inbound, phone.new_media_seed(wa_message_id)),
    }


def _addresses(digits: str | None, lid: str | None, hide_phone: bool) -> tuple[str, str | None]:
    """(primary, alternate) address of a person."""
    if hide_phone and lid is not None:
        return lid_jid(lid), None
    assert digits is not None  # SimulatorInbound guarantees a phone unless it is hidden
    return phone_jid(digits), (lid_jid(lid) if lid else None)


def _key(inbound: SimulatorInbound, phone: VirtualPhone, wa_message_id: str) -> dict[str, Any]:
    key: dict[str, Any] = {
        "id": wa_message_id,
        "remote_jid": None,
        "remote_jid_alt": None,
        "from_me": inbound.from_me,
        "participant": None,
        "participant_alt": None,
    }
    if inbound.group is not None:
        key["remote_jid"] = inbound.group
        if inbound.from_me:
            key["participant"] = phone_jid(phone.number)
        else:
            key["participant"], key["participant_alt"] = _addresses(
                inbound.from_, inbound.lid, inbound.hide_phone
            )
    else:
        key["remote_jid"], key["remote_jid_alt"] = _addresses(
            inbound.partner, inbound.lid, inbound.hide_phone
        )
    return key


def _push_name(inbound: SimulatorInbound, phone: VirtualPhone) -> str | None:
    if inbound.push_name is not None:
        return inbound.push_name
    if inbound.from_me:
        return phone.push_name
    contact = phone.contact(inbound.from_) if inbound.from_ else None
    return contact.name if contact else None


def _message(inbound: SimulatorInbound, media_seed: str) -> dict[str, Any]:
    message: dict[str, Any] = {}
    kind, content = _content(inbound, media_seed)
    message[kind] = content
    if inbound.reply_to is not None:
        message["context"] = {"quoted_id": inbound.reply_to}
    return message


def _content(inbound: SimulatorInbound, media_seed: str) -> tuple[str, dict[str, Any]]:
    t = inbound.type
    if t == "text":
        return "text", {"body": inbound.text}
    if inbound.media is not None:
        return _media(inbound, media_seed)
    if t == "location" and inbound.location is not None:
        return "location", inbound.location.model_dump()
    if t == "contacts" and inbound.contacts:
        return "contacts", {"items": [c.model_dump() for c in inbound.contacts]}
    if t == "reaction" and inbound.reaction is not None:
        emoji = inbound.reaction.emoji or ""
        return "reaction", {"target_id": inbound.reaction.message_id, "emoji": emoji}
    if t == "interactive":
        return "interactive", {"title": inbound.text, "selected_id": "option-1"}
    if t == "edit":
        return "edit", {"target_id": inbound.message_id, "text": inbound.text}
    if t == "revoke":
        return "revoke", {"target_id": inbound.message_id}
    if t == "poll_vote":  # encrypted on WhatsApp: a device sees only each option's SHA-256
        hashes = [hashlib.sha256(o.encode()).hexdigest() for o in inbound.options or []]
        return "poll_vote", {"target_id": inbound.message_id, "option_hashes": hashes}
    # "unsupported": something real phones send that wagate does not model.
    return "poll_creation", {"name": inbound.text or "Poll", "options": ["Yes", "No"]}


def _media(inbound: SimulatorInbound, media_seed: str) -> tuple[str, dict[str, Any]]:
    assert inbound.media is not None
    media = inbound.media
    data = media.data(media_seed)
    voice = inbound.type == "voice"
    content: dict[str, Any] = {
        "mime_type": VOICE_MIME if voice else (media.mime_type or DEFAULT_MIME[inbound.type]),
        "file_name": media.file_name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "caption": media.caption if media.caption is not None else inbound.text,
        "data": base64.b64encode(data).decode("ascii"),
    }
    kind = "audio" if voice else inbound.type
    if kind == "audio":
        content["voice"] = voice
    return kind, content
