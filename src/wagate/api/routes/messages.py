"""Messages: send (queue), list, get, and download media."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, status
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime

from wagate.api.cursors import parse_cursor
from wagate.api.deps import (
    AcceptorDep,
    DatabaseDep,
    MediaDep,
    OutboxDep,
    PrincipalDep,
)
from wagate.api.routes.media import FILE_RESPONSE, media_file
from wagate.api.routes.sessions import load_session_row
from wagate.api.schemas import ErrorResponse, MessageOut, MessagePage
from wagate.api.send_body import SendBody, send_body
from wagate.domain import (
    Direction,
    InvalidDestination,
    InvalidRequest,
    MessageEditRequest,
    MessageStatus,
    MessageType,
    normalize_destination,
)
from wagate.outbox.accept import Accepted
from wagate.store.repositories import messages
from wagate.store.serialize import message_json

router = APIRouter(tags=["messages"])

SEND_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/OutboundMessageRequest"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["to", "file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "to": {"type": "string"},
                    "type": {"type": "string", "description": "default: from the file's type"},
                    "caption": {"type": "string"},
                    "mime_type": {"type": "string"},
                    "file_name": {"type": "string"},
                    "reply_to": {"type": "string"},
                    "message": {
                        "type": "string",
                        "description": "the whole JSON body at once (fields beside it win)",
                    },
                },
            }
        },
    },
}


@router.post(
    "/v1/sessions/{session_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    openapi_extra={"requestBody": SEND_BODY},
    responses={
        404: {"model": ErrorResponse, "description": "no such session"},
        409: {
            "model": ErrorResponse,
            "description": "`duplicate_message`: the same text to the same chat within the "
            "session's duplicate window; `idempotency_key_in_flight`: a request with this "
            "key is still being processed",
        },
        422: {
            "model": ErrorResponse,
            "description": "`validation_error`, `invalid_destination`, `recipient_opted_out`, "
            "`idempotency_key_reused` (the key was used with a different body), ...",
        },
    },
)
async def send_message(
    session_id: str,
    body: Annotated[SendBody, Depends(send_body)],
    db: DatabaseDep,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    """Queue a message. It is sent once the session is connected; follow it by its ``id``.

    The body is JSON, or ``multipart/form-data`` with the file as its ``file`` part and
    the same fields as form fields (objects such as ``location`` as JSON).

    The same ``Idempotency-Key`` with the same body returns the original message
    (with the header ``Idempotent-Replayed: true``) for ``WAGATE_IDEMPOTENCY_TTL_S``
    (24 h by default). ``ttl_s`` in the body overrides the session's message TTL.
    """
    session = await load_session_row(db, session_id, principal)
    accepted = await acceptor.accept(session, body.request, idempotency_key, body.upload)
    if accepted.created:
        outbox.wake(session.id)
    return _accepted(accepted)


def _accepted(accepted: Accepted) -> Any:
    """202 with the queued message; a replay of an ``Idempotency-Key`` says so in a header."""
    if accepted.created:
        return accepted.json
    return JSONResponse(
        accepted.json,
        status_code=status.HTTP_202_ACCEPTED,
        headers={"Idempotent-Replayed": "true"},
    )


CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "no such message"},
    422: {
        "model": ErrorResponse,
        "description": "`not_editable` / `not_revocable` (not a message this session sent, "
        "or not a text), `message_revoked`, `message_not_sent` (it failed), "
        "`edit_window_passed` (15 minutes) / `revoke_window_passed` (2 days), "
        "`unsupported_by_transport`",
    },
}


@router.patch(
    "/v1/messages/{message_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    responses=CHANGE_RESPONSES,
)
async def edit_message(
    message_id: str,
    body: MessageEditRequest,
    db: DatabaseDep,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    """Edit the text of a message this session sent (WhatsApp allows 15 minutes).

    The edit is queued in the message's chat, after the message, and answered with
    202 and the edit's own record (``type: "edit"``); follow it by its ``id``. Once
    it is sent, the message shows the new ``text`` and ``edited: true``, and a
    ``message.updated`` event (``change: "edited"``) announces it.
    """
    return await _change(
        message_id, MessageType.EDIT, body.text, db, acceptor, outbox, principal, idempotency_key
    )


@router.delete(
    "/v1/messages/{message_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=MessageOut,
    responses=CHANGE_RESPONSES,
)
async def revoke_message(
    message_id: str,
    db: DatabaseDep,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    principal: PrincipalDep,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Any:
    """Delete a message this session sent, for everyone (WhatsApp allows about 2 days).

    Queued like an edit (``type: "revoke"``); once sent, the message shows
    ``revoked: true`` and ``message.updated`` (``change: "revoked"``) announces it.
    """
    return await _change(
        message_id, MessageType.REVOKE, None, db, acceptor, outbox, principal, idempotency_key
    )


async def _change(
    message_id: str,
    kind: MessageType,
    text: str | None,
    db: DatabaseDep,
    acceptor: AcceptorDep,
    outbox: OutboxDep,
    principal: PrincipalDep,
    idempotency_key: str | None,
) -> Any:
    async with db.read() as tx:
        target = await messages.get_message(tx, message_id, principal.tenant_id)
    session = await load_session_row(db, target.session_id, principal)
    accepted = await acceptor.accept_change(session, target, kind, text, idempotency_key or None)
    if accepted.created:
        outbox.wake(session.id)
    return _accepted(accepted)


@router.get("/v1/sessions/{session_id}/messages", response_model=MessagePage)
async def list_messages(
    session_id: str,
    db: DatabaseDep,
    principal: PrincipalDep,
    chat_id: str | None = None,
    direction: Direction | None = None,
    type: Annotated[
        list[MessageType] | None, Query(description="one or more types (repeat the parameter)")
    ] = None,
    status: Annotated[list[MessageStatus] | None, Query(description="one or more statuses")] = None,
    since: Annotated[AwareDatetime | None, Query(description="created at or after")] = None,
    until: Annotated[AwareDatetime | None, Query(description="created before")] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="part of the text, any case")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> Any:
    """A session's messages, newest first, narrowed by chat, direction, type, status, time
    (``since``/``until``, ISO 8601 with a time zone) and text (``q``: part of the text or
    caption). Pass ``next_cursor`` as ``cursor`` for the next page."""
    session = await load_session_row(db, session_id, principal)
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("'since' must be before 'until'", code="validation_error")
    where = messages.MessageFilter(
        chat_id=normalize_chat(chat_id) if chat_id else None,
        direction=direction,
        types=tuple(t.value for t in type or ()),
        statuses=tuple(s.value for s in status or ()),
        since=since,
        until=until,
        text=q,
    )
    async with db.read() as tx:
        rows, next_seq = await messages.list_messages(
            tx,
            session_id=session.id,
            limit=limit,
            before_seq=parse_cursor(cursor),
            where=where,
        )
    return {
        "items": [message_json(r) for r in rows],
        "next_cursor": str(next_seq) if next_seq is not None else None,
    }


def normalize_chat(chat_id: str) -> str:
    """A chat as the caller wrote it (phone digits, a JID) as it is stored."""
    try:
        return normalize_destination(chat_id)
    except InvalidDestination:
        return chat_id  # matches nothing, as an unknown chat should


@router.get("/v1/messages/{message_id}", response_model=MessageOut)
async def get_message(message_id: str, db: DatabaseDep, principal: PrincipalDep) -> Any:
    async with db.read() as tx:
        row = await messages.get_message(tx, message_id, principal.tenant_id)
    return message_json(row)


@router.get("/v1/messages/{message_id}/media", response_class=Response, responses=FILE_RESPONSE)
async def get_media(
    message_id: str, db: DatabaseDep, store: MediaDep, principal: PrincipalDep
) -> Any:
    """The message's media file, for callers of the message's tenant."""
    async with db.read() as tx:
        row = await messages.get_message(tx, message_id, principal.tenant_id)
    return await media_file(store, row)
