"""Status and kind enumerations shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """Observed connection state of a session (CONTRACT.md)."""

    STOPPED = "stopped"  # not running in any worker, by request
    STARTING = "starting"  # transport is being opened
    QR = "qr"  # waiting for a QR scan or a pairing code to be entered
    CONNECTED = "connected"  # logged in and able to send
    RECONNECTING = "reconnecting"  # dropped; waiting for backoff before the next attempt
    LOGGED_OUT = "logged_out"  # credentials gone; needs a new QR scan
    FAILED = "failed"  # gave up; see the status reason


class DesiredState(StrEnum):
    """What the operator asked for; workers converge observed state onto it."""

    RUNNING = "running"  # keep the session connected
    STOPPED = "stopped"  # keep it closed


class Role(StrEnum):
    """What a dashboard user (or the token they hold) may do. API keys keep their old
    meaning: the admin key acts as ``admin``, a tenant's key as that tenant's ``operator``.
    """

    ADMIN = "admin"  # everything, every tenant, tenants, keys and users included
    OPERATOR = "operator"  # sessions, messages, inbox, assistant, webhooks of one tenant
    VIEWER = "viewer"  # reads what the operator sees, changes nothing


class Direction(StrEnum):
    IN = "in"  # received from WhatsApp (including messages typed on the phone)
    OUT = "out"  # sent through wagate's API


class ChatType(StrEnum):
    DIRECT = "direct"  # a one-to-one chat
    GROUP = "group"  # a group chat (@g.us)


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    VOICE = "voice"  # a push-to-talk voice note (OGG/Opus)
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"  # one contact card (outbound)
    CONTACTS = "contacts"  # one or more contact cards (inbound)
    REACTION = "reaction"
    INTERACTIVE = "interactive"  # a button or list reply
    POLL = "poll"  # a question with options that people vote on
    BUTTONS = "buttons"  # outbound: a text with up to 3 reply buttons (Cloud API)
    LIST = "list"  # outbound: a text with a menu of up to 10 rows (Cloud API)
    EDIT = "edit"  # outbound: new text for a message the session sent
    REVOKE = "revoke"  # outbound: deletes a message the session sent, for everyone
    UNSUPPORTED = "unsupported"  # a shape we could not normalize; kept, never dropped


MEDIA_TYPES = frozenset(
    {
        MessageType.IMAGE,
        MessageType.VIDEO,
        MessageType.AUDIO,
        MessageType.VOICE,
        MessageType.DOCUMENT,
        MessageType.STICKER,
    }
)


# Changes to a message the session sent (``PATCH``/``DELETE /v1/messages/{id}``): queued
# in the chat's lane after the message they change; a transport lists them among its
# ``message_types`` when its engine can edit and revoke.
CHANGE_TYPES = frozenset({MessageType.EDIT, MessageType.REVOKE})


# What ``POST /v1/sessions/{id}/messages`` takes; a transport declares which of
# these it can send (``Capabilities.message_types``), and may add ``sticker``.
SENDABLE_TYPES = frozenset(
    {
        MessageType.TEXT,
        MessageType.IMAGE,
        MessageType.VIDEO,
        MessageType.AUDIO,
        MessageType.VOICE,
        MessageType.DOCUMENT,
        MessageType.LOCATION,
        MessageType.CONTACT,
        MessageType.REACTION,
    }
)


class MessageStatus(StrEnum):
    """Delivery state. Outbound statuses only move forward (see :func:`advances`)."""

    QUEUED = "queued"  # accepted and stored; waiting for its session's sender
    SENDING = "sending"  # handed to the transport; its WhatsApp id is already fixed
    SENT = "sent"  # the network acknowledged it
    DELIVERED = "delivered"  # reached the recipient's device
    READ = "read"  # the recipient opened it
    PLAYED = "played"  # a voice note or video was played
    FAILED = "failed"  # terminal; ``error`` says why
    RECEIVED = "received"  # an inbound message


_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
    MessageStatus.PLAYED: 5,
}


def advances(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether moving from ``current`` to ``new`` is a step forward.

    ``failed`` is terminal and can only be reached from a status before ``sent``;
    receipts never move a message backwards.
    """
    if current in (MessageStatus.FAILED, MessageStatus.RECEIVED):
        return False
    if new is MessageStatus.FAILED:
        return _RANK[current] < _RANK[MessageStatus.SENT]
    if new is MessageStatus.RECEIVED:
        return False
    return _RANK[new] > _RANK[current]


def statuses_before(new: MessageStatus) -> list[MessageStatus]:
    """Statuses from which ``new`` is a forward step (for a guarded SQL UPDATE)."""
    return [s for s in _RANK if advances(s, new)]


class PresenceState(StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"
    COMPOSING = "composing"  # typing
    RECORDING = "recording"  # recording a voice note
    PAUSED = "paused"  # stopped typing or recording
