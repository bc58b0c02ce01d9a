"""Users and their tokens: login, roles, expiry, refresh, logout, throttling."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.helpers import create_session
from tests.support.server import RunningServer
from tests.support.users import PASSWORD, login, make_user, token_client


async def test_a_token_works_wherever_a_key_does_within_the_users_role(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    await make_user(admin, "look@acme.test", "viewer", tenant="acme")
    await make_user(admin, "boss@example.test", "admin")
    theirs = await create_session(admin, "elsewhere")  # the default tenant's

    async with await token_client(server, "ops@acme.test") as operator:
        me = (await operator.get("/v1/auth/me")).json()
        assert me["kind"] == "user"
        assert me["role"] == "operator"
        assert me["email"] == "ops@acme.test"
        mine = await create_session(operator, "acme-1")
        listed = (await operator.get("/v1/sessions")).json()["items"]
        assert [s["id"] for s in listed] == [mine["id"]]
        assert (await operator.get(f"/v1/sessions/{theirs['id']}")).status_code == 404
        denied = await operator.get("/v1/admin/tenants")
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "forbidden"

    async with await token_client(server, "look@acme.test") as viewer:
        assert (await viewer.get(f"/v1/sessions/{mine['id']}")).status_code == 200
        refused = await viewer.post(
            f"/v1/sessions/{mine['id']}/messages", json={"to": "5511999990000", "text": "hi"}
        )
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert (await viewer.delete(f"/v1/sessions/{mine['id']}")).status_code == 403
        assert (await viewer.post("/v1/sessions", json={"name": "x"})).status_code == 403

    async with await token_client(server, "boss@example.test") as boss:
        names = {t["name"] for t in (await boss.get("/v1/admin/tenants")).json()["items"]}
        assert {"acme", "default"} <= names
        everything = {s["id"] for s in (await boss.get("/v1/sessions")).json()["items"]}
        assert everything == {mine["id"], theirs["id"]}


async def test_tokens_expire_refresh_rotates_and_logout_ends_the_login(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with server.client(None) as anonymous:
        first = (await login(anonymous, "ops@acme.test")).json()
        assert first["token_type"] == "bearer"
        assert first["expires_in"] == 900

        await server.advance(901)
        async with server.client(first["access_token"]) as expired:
            answer = await expired.get("/v1/sessions")
            assert answer.status_code == 401
            assert "expired" in answer.json()["error"]["message"]

        renewed = await anonymous.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert renewed.status_code == 200, renewed.text
        second = renewed.json()
        assert second["refresh_token"] != first["refresh_token"]
        reused = await anonymous.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert reused.status_code == 401

        async with server.client(second["access_token"]) as user:
            assert (await user.get("/v1/sessions")).status_code == 200
            assert (await user.post("/v1/auth/logout")).status_code == 204
            assert (await user.get("/v1/sessions")).status_code == 401
        after_logout = await anonymous.post(
            "/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        )
        assert after_logout.status_code == 401

    answer = await admin.post("/v1/auth/logout")  # an API key has no login to end
    assert answer.status_code == 422


async def test_a_forged_or_foreign_token_is_refused(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    import jwt

    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with server.client(None) as anonymous:
        token = (await login(anonymous, "ops@acme.test")).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "a key we do not use, long enough for hs256", algorithm="HS256")
    unsigned = jwt.encode(claims, None, algorithm="none")
    for bad in (forged, unsigned, token[:-4] + "AAAA"):
        async with server.client(bad) as client:
            answer = await client.get("/v1/sessions")
            assert answer.status_code == 401, bad
            assert answer.json()["error"]["code"] == "unauthorized"


async def test_a_disabled_user_or_new_password_ends_their_logins_at_once(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    user = await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with await token_client(server, "ops@acme.test") as client:
        assert (await client.get("/v1/sessions")).status_code == 200
        changed = await admin.patch(
            f"/v1/admin/users/{user['id']}", json={"password": "another long password"}
        )
        assert changed.status_code == 200, changed.text
        assert (await client.get("/v1/sessions")).status_code == 401
    async with server.client(None) as anonymous:
        assert (await login(anonymous, "ops@acme.test")).status_code == 401
        assert (await login(anonymous, "ops@acme.test", "another long password")).status_code == 200

    async with await token_client_with(server, "ops@acme.test", "another long password") as client:
        disabled = await admin.patch(f"/v1/admin/users/{user['id']}", json={"disabled": True})
        assert disabled.json()["disabled"] is True
        assert (await client.get("/v1/sessions")).status_code == 401
    async with server.client(None) as anonymous:
        refused = await login(anonymous, "ops@acme.test", "another long password")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_credentials"


async def token_client_with(server: RunningServer, email: str, password: str) -> httpx.AsyncClient:
    async with server.client(None) as anonymous:
        response = await login(anonymous, email, password)
    assert response.status_code == 200, response.text
    return server.client(response.json()["access_token"])


async def test_failed_logins_slow_down_per_account_and_per_address(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with server.client(None) as anonymous:
        for _ in range(5):
            wrong = await login(anonymous, "ops@acme.test", "not the password")
            assert wrong.status_code == 401
            assert wrong.json()["error"]["code"] == "invalid_credentials"
        # the fifth failure blocks the account and the address for 1 s, then 2 s, 4 s ...
        blocked = await login(anonymous, "ops@acme.test")
        assert blocked.status_code == 429
        assert blocked.json()["error"]["code"] == "too_many_attempts"
        assert blocked.headers["retry-after"] == "1"
        other_account = await login(anonymous, "someone@acme.test", "whatever it is")
        assert other_account.status_code == 429  # the same address

        await server.advance(1.5)
        assert (await login(anonymous, "ops@acme.test", "still wrong")).status_code == 401
        again = await login(anonymous, "ops@acme.test")
        assert again.status_code == 429
        assert again.headers["retry-after"] == "2"

        await server.advance(2.5)
        assert (await login(anonymous, "ops@acme.test")).status_code == 200


async def test_user_rules_weak_passwords_scopes_and_duplicates(
    server: RunningServer, admin: httpx.AsyncClient
) -> None:
    await admin.post("/v1/admin/tenants", json={"name": "acme"})
    cases = [
        ({"email": "a@acme.test", "password": "short", "role": "viewer", "tenant": "acme"}, 422),
        ({"email": "a@acme.test", "password": PASSWORD, "role": "admin", "tenant": "acme"}, 422),
        ({"email": "a@acme.test", "password": PASSWORD, "role": "operator"}, 422),
        ({"email": "not-an-email", "password": PASSWORD, "role": "viewer", "tenant": "acme"}, 422),
        ({"email": "a@acme.test", "password": PASSWORD, "role": "owner", "tenant": "acme"}, 422),
        ({"email": "a@acme.test", "password": PASSWORD, "role": "viewer", "tenant": "nope"}, 404),
    ]
    for body, expected in cases:
        answer = await admin.post("/v1/admin/users", json=body)
        assert answer.status_code == expected, (body, answer.text)
    created = await admin.post(
        "/v1/admin/users",
        json={"email": "A@Acme.test", "password": PASSWORD, "role": "viewer", "tenant": "acme"},
    )
    assert created.status_code == 201
    assert created.json()["email"] == "a@acme.test"
    assert created.json()["tenant"] == "acme"
    again = await admin.post(
        "/v1/admin/users",
        json={"email": "a@acme.test", "password": PASSWORD, "role": "viewer", "tenant": "acme"},
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "user_exists"
    promoted = await admin.patch(
        f"/v1/admin/users/{created.json()['id']}", json={"role": "operator"}
    )
    assert promoted.json()["role"] == "operator"
    to_admin = await admin.patch(f"/v1/admin/users/{created.json()['id']}", json={"role": "admin"})
    assert to_admin.status_code == 422
    listed = (await admin.get("/v1/admin/users")).json()["items"]
    assert [u["email"] for u in listed] == ["a@acme.test"]


@pytest.mark.parametrize("path", ["/v1/admin/users"])
async def test_only_the_admin_manages_users(
    server: RunningServer, admin: httpx.AsyncClient, path: str
) -> None:
    await make_user(admin, "ops@acme.test", "operator", tenant="acme")
    async with await token_client(server, "ops@acme.test") as operator:
        assert (await operator.get(path)).status_code == 403
        answer = await operator.post(
            path, json={"email": "x@acme.test", "password": PASSWORD, "role": "admin"}
        )
        assert answer.status_code == 403


async def test_the_docs_page_can_authorize_with_a_login_or_a_key(
    admin: httpx.AsyncClient,
) -> None:
    spec = (await admin.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    sessions = spec["paths"]["/v1/sessions"]["get"]
    assert {"OAuth2PasswordBearer": []} in sessions["security"]
    assert not any(path.startswith("/ui") for path in spec["paths"])


async def test_two_setups_at_once_make_one_admin(db_url: str) -> None:
    """Two workers' setup pages submitted together: both see no user yet, one wins."""
    from wagate.api.auth.accounts import Accounts
    from wagate.api.auth.passwords import Passwords
    from wagate.domain import FakeClock, SetupDone
    from wagate.store import Database
    from wagate.store.repositories import users

    workers = [Database.connect(db_url) for _ in range(2)]
    try:
        await workers[0].migrate()
        together = asyncio.Barrier(2)

        class HashingTogether(Passwords):
            """Both finish hashing at once, so their transactions start together."""

            async def hash(self, password: str) -> str:
                hashed = await super().hash(password)
                await together.wait()
                return hashed

        accounts = [Accounts(db, FakeClock(), HashingTogether()) for db in workers]
        outcomes = await asyncio.gather(
            *(
                account.create_first_admin(email=f"admin{n}@example.test", password=PASSWORD)
                for n, account in enumerate(accounts)
            ),
            return_exceptions=True,
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["SetupDone", "User"]
        async with workers[0].read() as tx:
            assert await users.count_users(tx) == 1
        with pytest.raises(SetupDone):  # and later ones are refused before hashing
            await accounts[1].create_first_admin(email="late@example.test", password=PASSWORD)
    finally:
        for db in workers:
            await db.dispose()
