"""The session's own profile (name, about, picture), a contact's profile, and blocking.

Like group actions, each request is a pydantic model with a ``kind`` that travels as
JSON to the worker that runs the session and reaches the transport as one
:data:`ProfileAction`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

MAX_NAME = 25  # WhatsApp's limit on a profile name
MAX_ABOUT = 139  # and on the "about" text


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OwnProfile(_Action):
    """The session's own profile: ``{"jid", "phone", "name", "about", "picture_url"}``."""

    kind: Literal["own"] = "own"


class UpdateProfile(_Action):
    """Change the session's name or about text; only what is given changes."""

    kind: Literal["update"] = "update"
    name: str | None = Field(default=None, min_length=1, max_length=MAX_NAME)
    about: str | None = Field(default=None, max_length=MAX_ABOUT)

    @model_validator(mode="after")
    def _something(self) -> UpdateProfile:
        if self.name is None and self.about is None:
            raise ValueError("give 'name', 'about' or both")
        return self


class SetProfilePicture(_Action):
    kind: Literal["picture"] = "picture"
    jpeg_base64: str = Field(min_length=4, max_length=2_000_000)


class ContactProfile(_Action):
    """A contact's about text and picture: ``{"jid", "about", "picture_url"}``."""

    kind: Literal["contact"] = "contact"
    jid: str


class Block(_Action):
    """Block (or unblock) a contact: ``{"jid", "blocked"}``."""

    kind: Literal["block"] = "block"
    jid: str
    blocked: bool = True


ProfileAction = Annotated[
    OwnProfile | UpdateProfile | SetProfilePicture | ContactProfile | Block,
    Field(discriminator="kind"),
]
PROFILE_ACTION: TypeAdapter[ProfileAction] = TypeAdapter(ProfileAction)
