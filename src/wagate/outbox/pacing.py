"""Pacing: what a person would do before a message appears (seed 001, section 9).

Mark the chat read, think, show typing (or recording, for voice notes) for a
time proportional to the length, refreshed every 20 s and capped, pause, then
send. A courtesy to the reader, so they see a reply being written. The plan
is pure; the chat lane carries it out on the injected clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from wagate.domain import MessageType, PresenceState

TYPING_REFRESH_S = 20.0  # WhatsApp drops a typing indicator after ~25 s
MAX_TYPING_S = 25.0
MIN_TYPING_S = 1.0


@dataclass(frozen=True, slots=True)
class Profile:
    chars_per_second: tuple[float, float]
    pre_typing_s: tuple[float, float]
    post_typing_s: tuple[float, float]


PROFILES: dict[str, Profile | None] = {
    "instant": None,
    "fast": Profile((6, 10), (0.3, 0.8), (0.2, 0.4)),
    "normal": Profile((3, 6), (0.5, 2.0), (0.3, 0.8)),
    "slow": Profile((1, 3), (1.0, 3.0), (0.5, 1.5)),
}


@dataclass(frozen=True, slots=True)
class PacingPlan:
    think_s: float
    presence: PresenceState  # composing, or recording for voice notes
    typing_s: float
    pause_s: float

    @property
    def total_s(self) -> float:
        return self.think_s + self.typing_s + self.pause_s

    def typing_chunks(self) -> list[float]:
        """Typing time split so the indicator is refreshed every 20 s."""
        chunks, left = [], self.typing_s
        while left > 0:
            chunks.append(min(TYPING_REFRESH_S, left))
            left -= TYPING_REFRESH_S
        return chunks


def _length_of(kind: MessageType, text: str | None, media_size: int | None) -> float:
    """Characters a person would type; for voice notes, seconds of speech as characters."""
    if kind is MessageType.VOICE:
        seconds = (media_size or 0) / 2000  # Opus voice is about 16 kbit/s
        return max(5.0, seconds) * 5  # recorded while "typing" at 5 chars/s
    return float(len(text or "")) or 10.0


def plan(
    profile_name: str,
    kind: MessageType,
    text: str | None,
    media_size: int | None,
    rng: random.Random,
) -> PacingPlan | None:
    """The pacing for one message, or None for the ``instant`` profile."""
    profile = PROFILES[profile_name]
    if profile is None:
        return None
    cps = rng.uniform(*profile.chars_per_second)
    typing = _length_of(kind, text, media_size) / cps
    typing = min(MAX_TYPING_S, max(MIN_TYPING_S, typing)) * rng.uniform(0.8, 1.2)
    return PacingPlan(
        think_s=rng.uniform(*profile.pre_typing_s),
        presence=PresenceState.RECORDING if kind is MessageType.VOICE else PresenceState.COMPOSING,
        typing_s=min(MAX_TYPING_S, typing),
        pause_s=rng.uniform(*profile.post_typing_s),
    )
