"""Webhook bodies in another system's shapes, for webhooks that ask for one (``format``).

wagate's deliveries are built from its own event body; a webhook whose ``format`` is
``"evolution"`` (set through ``/evolution/webhook/set``) gets each event the way
Evolution API would have posted it instead (:mod:`wagate.events.evolution`), to the
URL Evolution would have used. The envelope names the instance, its own number and its
token, read from the session row and kept for :data:`INSTANCE_TTL` once the session has
a number (a rename or a new number shows within that time).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from wagate.domain import Clock, NotFound
from wagate.events.evolution import EvolutionFormat, Instance
from wagate.store import Database
from wagate.store.crypto import SecretBox
from wagate.store.models import Webhook
from wagate.store.repositories import sessions, tenants

EVOLUTION = "evolution"
INSTANCE_TTL = timedelta(seconds=30)


def token_context(session_id: str) -> str:
    """What an Evolution instance's token is sealed to (it opens for its session only)."""
    return f"evolution-token:{session_id}"


def evolution_format(hook: Webhook) -> EvolutionFormat | None:
    """The webhook's Evolution options; None for a webhook in wagate's own format."""
    if hook.format != EVOLUTION:
        return None
    options = hook.format_options or {}
    return EvolutionFormat(
        events=frozenset(options.get("events") or ()), by_events=bool(options.get("by_events"))
    )


class FormattedBodies:
    def __init__(self, db: Database, clock: Clock, server_url: str | None, box: SecretBox) -> None:
        self.db = db
        self.box = box
        self.clock = clock
        self.server_url = server_url
        self._instances: dict[str, tuple[Instance, datetime]] = {}

    async def evolution(
        self, hook: Webhook, shape: EvolutionFormat, text: str
    ) -> tuple[str, str] | None:
        """Where and what to post for one delivery (``text``: wagate's body, media links
        already signed); None when the event is not one this webhook sends."""
        if hook.session_id is None:
            return None
        payload: dict[str, Any] = json.loads(text)
        instance = await self._instance(hook.session_id)
        if instance is None:
            return None
        rendered = shape.render(payload, instance, destination=hook.url, server_url=self.server_url)
        if rendered is None:
            return None
        name, body = rendered
        return shape.url(hook.url, name), json.dumps(body, separators=(",", ":"))

    async def _instance(self, session_id: str) -> Instance | None:
        now = self.clock.now()
        cached = self._instances.get(session_id)
        if cached is not None and now - cached[1] < INSTANCE_TTL:
            return cached[0]
        try:
            async with self.db.read() as tx:
                row = await sessions.get_session(tx, session_id, None)
                key = (await tenants.instance_tokens(tx, [session_id])).get(session_id)
        except NotFound:
            self._instances.pop(session_id, None)
            return None
        token = None
        if key is not None and key.sealed_key is not None:
            token = self.box.open(key.sealed_key, token_context(session_id))
        instance = Instance(
            name=row.name, id=row.id, phone=row.phone, profile_name=row.push_name, token=token
        )
        if row.phone is None:  # not linked yet: read again until it is
            return instance
        if len(self._instances) > 10_000:
            self._instances.clear()
        self._instances[session_id] = (instance, now)
        return instance
