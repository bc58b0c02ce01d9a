"""Evolution's chat routes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.api.deps import (
    DatabaseDep,
    RemoteDep,
)
from wagate.api.evolution import shapes
from wagate.api.evolution.base import CallerDep, evolution_router, load_instance
from wagate.domain import (
    normalize_phone,
)

if TYPE_CHECKING:
    pass

router = evolution_router()


class NumbersBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    numbers: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=100
    )


@router.post("/chat/whatsappNumbers/{instance}")
async def whatsapp_numbers(
    instance: str, body: NumbersBody, remote: RemoteDep, caller: CallerDep, db: DatabaseDep
) -> list[dict[str, Any]]:
    """Which numbers have a WhatsApp account, and at which JID (asked of WhatsApp)."""
    row = await load_instance(db, instance, caller)
    digits = [normalize_phone(n) for n in body.numbers]
    found = await remote.call(row.id, "check_numbers", {"phones": digits})
    return shapes.whatsapp_numbers(list(found["items"]))
