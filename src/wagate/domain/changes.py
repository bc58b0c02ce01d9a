"""Editing and revoking a message the session sent: which messages, and until when.

WhatsApp lets the sender edit a text for 15 minutes after sending it and delete it
for everyone for about two days; a phone refuses later changes, and so does
wagate, both when the change is asked for and again when it is about to go out
(it may have waited in the queue while the session was offline).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from wagate.domain.enums import Direction, MessageStatus, MessageType
from wagate.domain.errors import InvalidRequest

EDIT_WINDOW = timedelta(minutes=15)
REVOKE_WINDOW = timedelta(days=2)

WINDOWS = {MessageType.EDIT: EDIT_WINDOW, MessageType.REVOKE: REVOKE_WINDOW}


class MessageNotChangeable(InvalidRequest):
    """The message cannot take this edit or revoke (422); ``code`` says why:
    ``not_editable``, ``message_revoked``, ``message_not_sent``, ``edit_window_passed``,
    ``revoke_window_passed``."""

    code = "message_not_changeable"


class ChangedMessage(Protocol):
    """The fields of a stored message that say whether it may be changed."""

    direction: str
    type: str
    status: str
    sent_at: datetime | None
    revoked_at: datetime | None


def check_change_of(kind: MessageType, target: ChangedMessage, now: datetime) -> None:
    """:func:`check_change` for a stored message."""
    check_change(
        kind,
        direction=target.direction,
        type=target.type,
        status=target.status,
        sent_at=target.sent_at,
        revoked_at=target.revoked_at,
        now=now,
    )


def check_change(
    kind: MessageType,
    *,
    direction: str,
    type: str,
    status: str,
    sent_at: datetime | None,
    revoked_at: datetime | None,
    now: datetime,
) -> None:
    """Raise :class:`MessageNotChangeable` unless ``kind`` (edit or revoke) may change a
    message with these fields now. A message still queued may be changed: the change
    follows it out."""
    verb = "edited" if kind is MessageType.EDIT else "revoked"
    if direction != Direction.OUT.value or type in {t.value for t in WINDOWS}:
        raise MessageNotChangeable(
            f"only messages this session sent can be {verb}",
            code="not_editable" if kind is MessageType.EDIT else "not_revocable",
        )
    if kind is MessageType.EDIT and type != MessageType.TEXT.value:
        raise MessageNotChangeable(
            f"only text messages can be edited; this one is a {type}", code="not_editable"
        )
    if revoked_at is not None:
        raise MessageNotChangeable("the message was deleted for everyone", code="message_revoked")
    if status == MessageStatus.FAILED.value:
        raise MessageNotChangeable(
            "the message was never sent, so there is nothing to change", code="message_not_sent"
        )
    window = WINDOWS[kind]
    if sent_at is not None and now - sent_at > window:
        minutes = int(window.total_seconds() // 60)
        raise MessageNotChangeable(
            f"WhatsApp lets a message be {verb} for {minutes} minutes after it was sent; "
            f"this one was sent at {sent_at.isoformat()}",
            code=f"{kind.value}_window_passed",
        )
