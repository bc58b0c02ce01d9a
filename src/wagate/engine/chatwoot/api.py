"""Chatwoot's Application API, the calls the bridge makes: an API-channel inbox, contacts
found by phone number or identifier, conversations, and messages with attachments.

``api_access_token`` authenticates (a Chatwoot user's or agent bot's token). The URL is
a tenant's: connections go to public addresses only unless
``WAGATE_ALLOW_PRIVATE_URLS`` (checked at connect time, in the transport).
"""

from __future__ import annotations

from typing import Any

import httpx

from wagate.domain import WagateError
from wagate.domain.public_net import outbound_transport
from wagate.events.follower import Unreachable
from wagate.events.remote_api import body_of, json_call

TIMEOUT_S = 15.0


class ChatwootError(WagateError):
    """Chatwoot refused a call (a 4xx: retrying the same call will not help)."""

    status_code = 502
    code = "chatwoot_error"


class ChatwootUnavailable(Unreachable):
    """Chatwoot did not answer, or answered 5xx / 429: the call may work later."""

    status_code = 502
    code = "chatwoot_unavailable"


def http_client(*, allow_private: bool) -> httpx.AsyncClient:
    """One client for every link of the process (connections are per host)."""
    return httpx.AsyncClient(
        transport=outbound_transport(allow_private=allow_private),
        timeout=TIMEOUT_S,
        follow_redirects=False,
    )


class ChatwootApi:
    """One account of one Chatwoot server, as one token sees it."""

    def __init__(self, http: httpx.AsyncClient, url: str, account_id: int, token: str) -> None:
        self.http = http
        self.base = f"{url.rstrip('/')}/api/v1/accounts/{account_id}"
        self.headers = {"api_access_token": token}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = await json_call(
            self.http,
            method,
            self.base + path,
            what="Chatwoot",
            unreachable=ChatwootUnavailable,
            refused=ChatwootError,
            headers=self.headers,
            **kwargs,
        )
        if answer.status_code == 409:
            raise ChatwootError(f"Chatwoot answered 409 to {method} {path}: {answer.text[:300]}")
        return body_of(answer)

    # ------------------------------------------------------------------ inboxes

    async def inboxes(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/inboxes")).get("payload") or [])

    async def create_inbox(self, name: str, webhook_url: str) -> dict[str, Any]:
        body = {"name": name, "channel": {"type": "api", "webhook_url": webhook_url}}
        return dict(await self._call("POST", "/inboxes", json=body))

    async def set_inbox_webhook(self, inbox_id: int, webhook_url: str) -> None:
        await self._call(
            "PATCH", f"/inboxes/{inbox_id}", json={"channel": {"webhook_url": webhook_url}}
        )

    # ------------------------------------------------------------------ contacts

    async def find_contact(self, *, phone: str | None, identifier: str) -> dict[str, Any] | None:
        """The contact with this identifier (the chat's JID), else with this phone number."""
        for query in (identifier, phone):
            if not query:
                continue
            found = await self._call("GET", "/contacts/search", params={"q": query})
            for contact in found.get("payload") or []:
                if contact.get("identifier") == identifier:
                    return dict(contact)
                if phone and contact.get("phone_number") == phone:
                    return dict(contact)
        return None

    async def create_contact(
        self, *, inbox_id: int, name: str, phone: str | None, identifier: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"inbox_id": inbox_id, "name": name, "identifier": identifier}
        if phone:
            body["phone_number"] = phone
        payload = (await self._call("POST", "/contacts", json=body))["payload"]
        return dict(payload.get("contact") or payload)

    async def contact(self, contact_id: int) -> dict[str, Any]:
        return dict((await self._call("GET", f"/contacts/{contact_id}"))["payload"])

    async def update_contact(self, contact_id: int, changes: dict[str, Any]) -> None:
        await self._call("PUT", f"/contacts/{contact_id}", json=changes)

    # ------------------------------------------------------------------ conversations

    async def contact_conversations(self, contact_id: int) -> list[dict[str, Any]]:
        found = await self._call("GET", f"/contacts/{contact_id}/conversations")
        return list(found.get("payload") or [])

    async def create_conversation(
        self, *, inbox_id: int, contact_id: int, status: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"inbox_id": inbox_id, "contact_id": contact_id}
        if status:
            body["status"] = status
        return dict(await self._call("POST", "/conversations", json=body))

    async def conversation(self, conversation_id: int) -> dict[str, Any]:
        return dict(await self._call("GET", f"/conversations/{conversation_id}"))

    async def set_status(self, conversation_id: int, status: str) -> None:
        await self._call(
            "POST", f"/conversations/{conversation_id}/toggle_status", json={"status": status}
        )

    # ------------------------------------------------------------------ messages

    async def create_message(
        self,
        conversation_id: int,
        *,
        content: str | None,
        message_type: str,
        private: bool = False,
        source_id: str | None = None,
        attachment: tuple[str, bytes, str] | None = None,
    ) -> dict[str, Any]:
        """A message in the conversation (``incoming`` from the contact, ``outgoing`` from
        the business); ``attachment`` (name, bytes, type) goes as multipart."""
        path = f"/conversations/{conversation_id}/messages"
        fields: dict[str, Any] = {"message_type": message_type, "private": private}
        if content:
            fields["content"] = content
        if source_id:
            fields["source_id"] = source_id
        if attachment is None:
            return dict(await self._call("POST", path, json=fields))
        form = {
            key: str(value).lower() if isinstance(value, bool) else value
            for key, value in fields.items()
        }
        files = {"attachments[]": attachment}
        return dict(await self._call("POST", path, data=form, files=files))

    async def set_message_status(
        self,
        conversation_id: int,
        message_id: int,
        status: str,
        *,
        external_error: str | None = None,
    ) -> None:
        """A message's ticks: ``sent``, ``delivered``, ``read`` or ``failed`` (with
        ``external_error``). API-channel inboxes only; Chatwoot has it since 2025 (a 404
        before)."""
        body: dict[str, Any] = {"status": status}
        if external_error:
            body["external_error"] = external_error
        await self._call(
            "PATCH", f"/conversations/{conversation_id}/messages/{message_id}", json=body
        )
