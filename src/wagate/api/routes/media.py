"""Media by signed link: the file of a message for whoever holds a link wagate made
(``store/media_links.py``), no API key needed until the link expires."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from wagate.api.deps import DatabaseDep, MediaDep, MediaLinksDep
from wagate.domain import Forbidden, NotFound
from wagate.store.media import MediaStore, media_key
from wagate.store.models import Message
from wagate.store.repositories import messages

router = APIRouter(tags=["messages"])

FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        "description": "the file, with its own content type",
    }
}


async def media_file(store: MediaStore, row: Message) -> Response:
    """The message's stored file as a download; 404 ``media_not_found`` when it has none."""
    mime = (row.media or {}).get("mime_type")
    data = await store.read(row.session_id, row.id, mime)
    if data is None:
        raise NotFound("this message has no stored media", code="media_not_found")
    name = (row.media or {}).get("file_name") or media_key(row.session_id, row.id, mime).split("/")[
        -1
    ]
    return Response(
        data,
        media_type=mime or "application/octet-stream",
        headers={"content-disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/v1/media/{message_id}", response_class=Response, responses=FILE_RESPONSE)
async def get_linked_media(
    message_id: str,
    db: DatabaseDep,
    store: MediaDep,
    links: MediaLinksDep,
    expires: Annotated[int, Query(description="unix seconds")],
    kid: Annotated[int, Query(description="the key id the link was made with")],
    sig: Annotated[str, Query(max_length=64)],
) -> Any:
    """A message's media through a signed link from an event, a webhook or a brain's
    request: no API key; 403 ``invalid_link`` when the link is not wagate's, is for
    another message, or has expired."""
    if not links.verify(message_id, expires, kid, sig):
        raise Forbidden("this media link is invalid or has expired", code="invalid_link")
    async with db.read() as tx:
        row = await messages.get_message(tx, message_id, None)
    return await media_file(store, row)
