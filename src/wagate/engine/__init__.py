"""The conversation engine: batching, brains, pacing through the delivery queue, takeover.

- ``settings.py`` / ``assistants.py``: a session's engine settings, stored with the key sealed;
- ``ingest.py``: the event log applied to chat state (one reader, fenced cursor);
- ``batching.py``: the batching window; ``timers.py``: resume and flush timers;
- ``takeover.py``: pauses (human reply, hand-off keyword, by hand) and resumes;
- ``worker.py``: one batch answered once; ``replies.py``: parts, quotes, reactions;
  ``voice.py``: voice replies as OGG/Opus; ``brains/``: echo, webhook, OpenAI, Anthropic;
- ``timeline.py``: messages and engine steps interleaved;
- ``engine.py``: the loop of one process.
"""

from wagate.engine.engine import ConversationEngine, EngineSettings

__all__ = ["ConversationEngine", "EngineSettings"]
