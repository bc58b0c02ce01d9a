"""The batching window (seed 000's smart queue), as pure functions of time.

A message opens or extends its chat's window: the batch is due ``window``
after the last message (``media_window`` after media), but never later than
``max_wait`` after the first, and at once when ``max_batch`` messages wait.
While the contact types or records, the batch waits for the maximum wait;
when they stop, the window starts again from that moment.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from wagate.engine.settings import Batching


def _ms(value: int) -> timedelta:
    return timedelta(milliseconds=value)


def due_after_message(
    rules: Batching, *, first_at: datetime, at: datetime, media: bool, pending: int, typing: bool
) -> datetime:
    cap = first_at + _ms(rules.max_wait_ms)
    if pending >= rules.max_batch:
        return at
    if typing:
        return cap
    window = rules.media_window_ms if media else rules.window_ms
    return min(at + _ms(window), cap)


def due_after_typing(
    rules: Batching, *, first_at: datetime, at: datetime, typing: bool
) -> datetime:
    cap = first_at + _ms(rules.max_wait_ms)
    if typing:
        return cap
    return min(at + _ms(rules.window_ms), cap)
