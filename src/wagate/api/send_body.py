"""The body of ``POST /v1/sessions/{id}/messages``: JSON, or ``multipart/form-data`` with a
``file`` beside the same fields.

In a multipart request the message's fields are form fields of the same names
(``to``, ``type``, ``text``, ``reply_to``, ``caption``, ``mime_type``,
``file_name``, ...); a field that holds an object (``location``, ``poll``, ...)
is given as JSON, and a ``message`` field may carry the whole JSON body at once.
The file is spooled to disk by the form parser (never held whole in memory)
and becomes the message's media; without a ``type`` the file's content type
says which (``image/*`` an image, and so on).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from wagate.api.deps import PrincipalDep
from wagate.domain import InvalidRequest, MessageType, OutboundMessageRequest

_MEDIA_FIELDS = ("caption", "mime_type", "file_name")
_OBJECT_FIELDS = ("media", "location", "contact", "reaction", "poll", "buttons", "list")
MAX_FIELDS = 40


@dataclass(frozen=True, slots=True)
class Upload:
    """The ``file`` part of a multipart send, spooled to a temporary file."""

    file: BinaryIO
    content_type: str | None
    file_name: str | None

    @property
    def size(self) -> int:
        self.file.seek(0, 2)
        size = self.file.tell()
        self.file.seek(0)
        return size


@dataclass(frozen=True, slots=True)
class SendBody:
    request: OutboundMessageRequest
    upload: Upload | None = None


async def send_body(request: Request, _caller: PrincipalDep) -> AsyncIterator[SendBody]:
    """The send request, from JSON or from a multipart form (a FastAPI dependency: the
    spooled file is closed, and its temporary file removed, once the answer is sent).
    It depends on the caller, so a request without a valid key is answered 401 before
    its body is read."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=1, max_fields=MAX_FIELDS)
        try:
            yield _from_form(form)
        finally:
            await form.close()
        return
    yield _from_json(await request.body())


def _from_json(body: bytes) -> SendBody:
    try:
        data = json.loads(body)
    except ValueError:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}]
        ) from None
    parsed = _validated(data)
    if parsed.media is not None and parsed.media.upload:
        raise InvalidRequest(
            "media.upload refers to the file of a multipart/form-data request; send the file "
            "as its 'file' part, or give media.url or media.base64",
            code="validation_error",
        )
    return SendBody(parsed)


def _from_form(form: FormData) -> SendBody:
    data: dict[str, Any] = {}
    upload: Upload | None = None
    whole = form.get("message")
    if isinstance(whole, str):
        data.update(_json_object("message", whole))
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "file":
                raise InvalidRequest(f"a file goes in the 'file' part, not {name!r}")
            upload = Upload(value.file, value.content_type, value.filename)
            continue
        if "\x00" in value:
            raise InvalidRequest(f"form field {name!r} holds a NUL character")
        if name == "message":
            continue
        if name in _OBJECT_FIELDS:
            data[name] = _json_object(name, value)
        elif name in _MEDIA_FIELDS:
            data.setdefault("media", {})[name] = value
        else:
            data[name] = value
    if upload is None:
        if "media" in data and set(data["media"]) <= set(_MEDIA_FIELDS):
            raise InvalidRequest("a form with media fields needs its 'file' part")
        return SendBody(_validated(data))
    media = data.setdefault("media", {})
    media["upload"] = True
    media.setdefault("mime_type", upload.content_type)
    media.setdefault("file_name", upload.file_name)
    data.setdefault("type", _type_of(upload.content_type).value)
    return SendBody(_validated(data), upload)


def _validated(data: Any) -> OutboundMessageRequest:
    try:
        return OutboundMessageRequest.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def _json_object(name: str, value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError:
        raise InvalidRequest(
            f"form field {name!r} is not valid JSON", code="invalid_json"
        ) from None
    if not isinstance(parsed, dict):
        raise InvalidRequest(f"form field {name!r} must be a JSON object", code="validation_error")
    return parsed


def _type_of(content_type: str | None) -> MessageType:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.startswith("image/"):
        return MessageType.IMAGE
    if kind.startswith("video/"):
        return MessageType.VIDEO
    if kind.startswith("audio/"):
        return MessageType.AUDIO
    return MessageType.DOCUMENT


def document_send_body(app: FastAPI) -> None:
    """Put :class:`OutboundMessageRequest` (the send route's JSON body) in the OpenAPI
    components: the route reads its body itself (JSON or a form), so FastAPI does not
    collect the model on its own, and generated clients look it up by that name."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        model = OutboundMessageRequest.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in model.pop("$defs", {}).items():
            components.setdefault(name, definition)
        components["OutboundMessageRequest"] = model
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
