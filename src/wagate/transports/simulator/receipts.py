"""What the recipient of a simulated message sends back, and when. Pure."""

from __future__ import annotations

from wagate.domain import MessageStatus, MessageType, OutgoingMessage, is_group
from wagate.transports.simulator.settings import SimulatorSettings


def receipt_plan(
    message: OutgoingMessage, settings: SimulatorSettings
) -> list[tuple[float, MessageStatus]]:
    """(seconds after the send, status) for each receipt the recipient will send.

    * every message: ``delivered`` after ``delivery_delay_s``;
    * direct chats with ``auto_read``: ``read`` after ``read_delay_s``, and for a
      voice note ``played`` after ``played_delay_s``;
    * groups: only ``delivered`` (WhatsApp reports reads per participant);
    * reactions, edits and revokes: none.

    Later receipts never come before earlier ones, whatever the settings say.
    """
    if message.type in (MessageType.REACTION, MessageType.EDIT, MessageType.REVOKE):
        return []
    delivered = settings.delivery_delay_s
    plan = [(delivered, MessageStatus.DELIVERED)]
    if is_group(message.to) or not settings.auto_read:
        return plan
    read = max(settings.read_delay_s, delivered)
    plan.append((read, MessageStatus.READ))
    if message.type is MessageType.VOICE:
        plan.append((max(settings.played_delay_s, read), MessageStatus.PLAYED))
    return plan
