"""Requests that the worker running a session carries out (groups, profiles): the route
checks that the session's transport can, then the call goes to that worker, wherever
it runs (:class:`~wagate.sessions.RemoteCalls`), and its answer comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel

from wagate.api.deps import DatabaseDep, PrincipalDep, RegistryDep, RemoteDep
from wagate.api.principal import Principal
from wagate.api.routes.sessions import load_session_row
from wagate.sessions.remote import RemoteCalls
from wagate.store import Database
from wagate.store.models import Session
from wagate.transports import TransportRegistry
from wagate.transports.base import Capabilities


@dataclass(frozen=True, slots=True)
class OwnerCalls:
    db: Database
    registry: TransportRegistry
    remote: RemoteCalls
    principal: Principal

    async def session(self, session_id: str) -> Session:
        return await load_session_row(self.db, session_id, self.principal)

    async def run(
        self,
        session_id: str,
        what: str,
        supported: Callable[[Capabilities], bool],
        call: str,
        action: BaseModel,
    ) -> dict[str, Any]:
        """``action`` carried out as ``call`` by the session's worker; 422
        ``unsupported_by_transport`` (naming ``what``) when its transport cannot."""
        session = await self.session(session_id)
        self.registry.require(session.transport, what, supported)
        return await self.remote.call(session.id, call, action.model_dump(mode="json"))


async def owner_calls(
    db: DatabaseDep, registry: RegistryDep, remote: RemoteDep, principal: PrincipalDep
) -> OwnerCalls:
    return OwnerCalls(db, registry, remote, principal)


OwnerCallsDep = Annotated[OwnerCalls, Depends(owner_calls)]
