"""Turning a brain's answer into outbound requests for the delivery queue.

Each part becomes one text message, accepted in order, so the chat's lane
sends them in order with its pacing (reading, typing, pause) between them.
When the batch held several messages, the first part quotes the last of them
(``quote_when_batched``). A reaction to the last message is added with the
configured probability (default 0), decided by a generator seeded with the
batch id, so a batch resumed after a crash decides the same way.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass

from wagate.domain import MessageType, OutboundMessageRequest
from wagate.domain.messages import MAX_TEXT, OutboundMedia, OutboundReaction
from wagate.engine.settings import AssistantSettings

VOICE_MIME = "audio/ogg; codecs=opus"


@dataclass(frozen=True, slots=True)
class Planned:
    key: str  # suffix of the idempotency key: stable for the batch's n-th reply
    request: OutboundMessageRequest


def plan(
    *,
    batch_id: str,
    chat_id: str,
    parts: list[str],
    voice: bytes | None,
    voice_mime: str | None,
    message_ids: list[str],
    settings: AssistantSettings,
) -> list[Planned]:
    humanize = False if settings.pacing == "instant" else None
    quote = message_ids[-1] if settings.quote_when_batched and len(message_ids) > 1 else None
    planned: list[Planned] = []
    if voice is not None:
        planned.append(
            Planned(
                "voice",
                OutboundMessageRequest(
                    to=chat_id,
                    type=MessageType.VOICE
                    if (voice_mime or VOICE_MIME) == VOICE_MIME
                    else MessageType.AUDIO,
                    media=OutboundMedia(
                        base64=base64.b64encode(voice).decode(),
                        mime_type=voice_mime or VOICE_MIME,
                    ),
                    reply_to=quote,
                    humanize=humanize,
                    pacing=settings.pacing,
                ),
            )
        )
    for index, part in enumerate(parts):
        planned.append(
            Planned(
                f"part{index}",
                OutboundMessageRequest(
                    to=chat_id,
                    type=MessageType.TEXT,
                    text=part[:MAX_TEXT],
                    reply_to=quote if not planned else None,
                    humanize=humanize,
                    pacing=settings.pacing,
                ),
            )
        )
    rng = random.Random(batch_id)
    if message_ids and rng.random() < settings.reactions.probability:
        planned.insert(
            0,
            Planned(
                "reaction",
                OutboundMessageRequest(
                    to=chat_id,
                    type=MessageType.REACTION,
                    reaction=OutboundReaction(
                        message_id=message_ids[-1], emoji=rng.choice(settings.reactions.emojis)
                    ),
                    humanize=False,
                ),
            ),
        )
    return planned


READING_CPS = {"fast": 40.0, "normal": 25.0, "slow": 15.0}
MAX_READING_S = 8.0


def reading_time(text: str, pacing: str) -> float:
    """Seconds a person takes to read the batch before answering (0 for ``instant``)."""
    cps = READING_CPS.get(pacing)
    if cps is None or not text:
        return 0.0
    return min(MAX_READING_S, 0.5 + len(text) / cps)
