"""The ``echo`` brain, for demos: it answers the batch's texts back in one message."""

from __future__ import annotations

from wagate.engine.brains.base import BrainReply, BrainRequest


class EchoBrain:
    async def reply(self, request: BrainRequest) -> BrainReply:
        return BrainReply([f"echo: {' / '.join(request.text.splitlines())}"])
