"""The dashboard in a real browser (Debian's Chromium), on SQLite and PostgreSQL.

The whole walk an operator makes: log in, link a simulator number by its QR code,
watch it turn green, send, answer as the contact, see the assistant reply, pause
and resume, reply by hand, replay a webhook delivery; then a viewer who cannot
change anything and a user of another tenant who sees nothing of it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from standardwebhooks import Webhook as StandardWebhook

from tests.events.support import Receiver
from tests.support.browser import offline, screenshot
from tests.support.server import RunningServer, eventually
from tests.support.users import PASSWORD, make_user

pytestmark = pytest.mark.slow


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = await Receiver().start()
    yield rx
    await rx.stop()


def _assert_offline(blocked: list[str]) -> None:
    assert not blocked, f"the dashboard reached off this machine: {blocked}"


async def log_in(browser: Browser, server: RunningServer, email: str) -> Page:
    context = await browser.new_context(
        base_url=server.base_url, viewport={"width": 1280, "height": 900}
    )
    blocked = await offline(context)
    page = await context.new_page()
    page.on("close", lambda _: _assert_offline(blocked))
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Log in to wagate")).to_be_visible()
    await screenshot(page, "00-login")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    return page


async def test_an_operator_links_a_number_and_runs_a_conversation_in_the_browser(
    server: RunningServer, admin: httpx.AsyncClient, browser: Browser, receiver: Receiver
) -> None:
    await make_user(admin, "boss@example.test", "admin")
    page = await log_in(browser, server, "boss@example.test")
    await screenshot(page, "01-sessions-empty")

    # Link a number: the simulator, by its QR code
    await page.get_by_role("link", name="Link a number").click()
    await page.get_by_label("Session name").fill("demo")
    await screenshot(page, "02-link-a-number")
    await page.get_by_role("button", name="Create and connect").click()
    await expect(page.get_by_role("heading", name="demo")).to_be_visible()
    session_id = page.url.rstrip("/").split("/")[-1]
    await expect(page.get_by_test_id("qr").locator("svg")).to_be_visible()
    await expect(page.get_by_test_id("light").first).to_have_attribute("data-colour", "yellow")
    await screenshot(page, "03-qr-code")

    phone = await page.context.new_page()  # the simulator's phone, beside the session page
    await phone.goto(f"/ui/simulator/{session_id}")
    await phone.get_by_test_id("scan").click()
    await expect(phone.get_by_test_id("linked")).to_contain_text("yes")
    # the session page turns green by itself: the live stream, opened with the cookie
    await expect(page.get_by_test_id("light").first).to_have_attribute(
        "data-colour", "green", timeout=10_000
    )
    await expect(page.get_by_test_id("qr")).to_have_count(0)

    # The assistant: the echo brain, answering one second after the contact stops typing,
    # showing it read the message and typed
    form = page.get_by_test_id("assistant-form")
    await form.get_by_label("Answer chats automatically").check()
    await form.get_by_label("Wait for typing to stop (ms)").fill("1000")
    await form.get_by_label("Pacing").select_option("fast")  # reads the chat, types, then sends
    await form.get_by_role("button", name="Save assistant").click()
    await expect(page.locator("#flash")).to_contain_text("Assistant saved.")
    await screenshot(page, "04-session")
    assistant = (await admin.get(f"/v1/sessions/{session_id}/assistant")).json()
    assert assistant["enabled"] is True
    assert assistant["batching"]["window_ms"] == 1000
    assert assistant["history_window"] == 20  # what the form does not show is kept

    # Send a message from the inbox
    contacts = (await admin.get(f"/v1/simulator/{session_id}/phone")).json()["contacts"]
    contact = contacts[0]["phone"]
    await page.goto(f"/ui/sessions/{session_id}/inbox")
    new = page.get_by_test_id("new-message")
    await new.get_by_label("To").fill(contact)
    await new.get_by_label("Text").fill("Hello from the dashboard")
    await new.get_by_role("button", name="Send").click()
    await expect(page.get_by_test_id("timeline")).to_contain_text("Hello from the dashboard")
    chat_url = page.url
    await page.goto(f"/ui/sessions/{session_id}/inbox")  # the chat is listed in the inbox
    await expect(page.locator(f"tr[data-chat^='{contact}']")).to_contain_text(
        "Hello from the dashboard"
    )
    await screenshot(page, "12-inbox")
    sent = (await admin.get(f"/v1/sessions/{session_id}/messages?direction=out")).json()["items"]

    async def left_the_queue() -> bool:
        await server.advance(0.5)  # a retry after a hiccup waits on the test's clock
        body = (await admin.get(f"/v1/messages/{sent[0]['id']}")).json()
        return body["status"] in ("sent", "delivered", "read")

    await eventually(left_the_queue)
    await page.goto(chat_url)
    await expect(page.get_by_test_id("status").first).to_have_text(
        re.compile("sent|delivered|read")
    )

    # Answer as the contact on the simulator's phone; the assistant answers back
    await phone.goto(f"/ui/simulator/{session_id}?contact={contact}")
    await expect(phone.get_by_test_id("thread")).to_contain_text("Hello from the dashboard")
    says = phone.get_by_test_id("contact-says")
    await says.get_by_label("message").fill("Hi! Do you deliver on Sundays?")
    await says.get_by_role("button", name="Send").click()
    await expect(phone.get_by_test_id("thread")).to_contain_text("Do you deliver on Sundays?")

    async def replied() -> bool:
        await server.advance(1.5)  # the batching window passes, then the typing
        texts = (
            await phone.get_by_test_id("thread").locator("[data-direction=out]").all_inner_texts()
        )
        return any("Sundays" in text for text in texts)

    await eventually(replied, timeout=15)
    await expect(phone.get_by_test_id("ticks").last).to_have_class("ticks read", timeout=10_000)
    await screenshot(phone, "05-simulator-phone")

    # The chat in the inbox: the reply, the engine's steps, pause and resume
    await page.goto(chat_url)
    timeline = page.get_by_test_id("timeline")
    await expect(timeline).to_contain_text("Do you deliver on Sundays?")
    await expect(timeline).to_contain_text("replied")
    await expect(page.get_by_test_id("chat-state")).to_have_text("bot")
    await page.get_by_role("button", name="Pause the assistant").click()
    await expect(page.get_by_test_id("chat-state")).to_have_text("paused")
    await page.get_by_role("button", name="Resume the assistant").click()
    await expect(page.get_by_test_id("chat-state")).to_have_text("bot")

    reply = page.get_by_test_id("reply")
    await reply.get_by_label("Your reply").fill("A person here: yes, we do.")
    await reply.get_by_role("button", name="Send").click()
    await expect(timeline).to_contain_text("A person here: yes, we do.")
    await expect(page.get_by_test_id("chat-state")).to_have_text("paused")  # a human answered
    await screenshot(page, "06-chat")
    chat = (await admin.get(f"/v1/sessions/{session_id}/chats/{contact}")).json()
    assert chat["paused_reason"] == "human_reply"

    # The overview: green, with today's traffic
    await page.goto("/ui/")
    row = page.locator(f"tr[data-session='{session_id}']")
    await expect(row.get_by_test_id("light")).to_have_attribute("data-colour", "green")
    await expect(row).to_contain_text(
        "+" + (await admin.get(f"/v1/sessions/{session_id}")).json()["phone"]
    )
    await screenshot(page, "07-sessions")

    # Webhooks: a delivery replayed from the page reaches the receiver again
    await page.goto("/ui/webhooks")
    add = page.get_by_test_id("add-webhook")
    await add.get_by_label("URL").fill(receiver.url)
    await add.get_by_label("Events").fill("session.status")
    await add.get_by_role("button", name="Add").click()
    secret = page.get_by_test_id("new-secret")
    await expect(secret).to_contain_text("whsec_")  # shown once, to give to the receiver
    signing_secret = (await secret.locator("code").inner_text()).strip()
    await screenshot(page, "08-webhook-added")
    await secret.get_by_role("link", name="Open the webhook").click()
    await expect(page.get_by_role("heading", name=re.compile("Webhooks"))).to_be_visible()
    await admin.post(f"/v1/sessions/{session_id}/stop")

    async def delivered() -> bool:
        return len(receiver.accepted()) >= 1

    await eventually(delivered)
    # the receiver checks the signature with what the page showed (the test clock's
    # timestamp is not "now", so the signature is recomputed rather than verify()-ed)
    got = receiver.received[0]
    stamp = datetime.fromtimestamp(int(got.headers["webhook-timestamp"]), UTC)
    expected = StandardWebhook(signing_secret).sign(got.id, stamp, got.body.decode())
    assert expected in got.headers["webhook-signature"].split()
    first = page.get_by_test_id("deliveries").locator("tr[data-status=delivered]").first
    await expect(first).to_be_visible(timeout=20_000)  # the table follows every 5 s
    before = len(receiver.received)
    replayed_id = receiver.received[0].id
    await first.get_by_role("button", name="Replay").click()
    await expect(page.locator("#flash")).to_contain_text("Delivery queued again.")

    async def redelivered() -> bool:
        return len(receiver.received) > before

    await eventually(redelivered)
    assert replayed_id in [r.id for r in receiver.received[before:]]
    await screenshot(page, "09-webhook")

    await page.goto("/ui/activity")
    await expect(page.get_by_test_id("totals")).to_contain_text("received")
    await expect(page.get_by_test_id("rate-chart").locator("svg")).to_be_visible()
    await screenshot(page, "10-activity")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in to wagate")).to_be_visible()
    await page.goto(f"/ui/sessions/{session_id}")
    await expect(page.get_by_role("heading", name="Log in to wagate")).to_be_visible()


async def test_a_viewer_cannot_change_anything_and_other_tenants_see_nothing(
    server: RunningServer, admin: httpx.AsyncClient, browser: Browser
) -> None:
    session = (await admin.post("/v1/sessions", json={"name": "shop"})).json()
    await make_user(admin, "look@example.test", "viewer", tenant="default")
    await make_user(admin, "ops@other.test", "operator", tenant="other")

    viewer = await log_in(browser, server, "look@example.test")
    await expect(viewer.locator(f"tr[data-session='{session['id']}']")).to_be_visible()
    await expect(viewer.get_by_role("link", name="Link a number")).to_have_count(0)
    await viewer.goto(f"/ui/sessions/{session['id']}")
    await expect(viewer.get_by_role("button", name="Start")).to_have_count(0)
    await expect(viewer.get_by_role("button", name="Save assistant")).to_have_count(0)
    await viewer.goto(f"/ui/sessions/{session['id']}/chats/5511999990001")
    await expect(viewer.get_by_test_id("reply")).to_have_count(0)
    # and the API refuses the browser's own request, CSRF token and all
    answer = await viewer.evaluate(
        """async (id) => {
            const csrf = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch(`/v1/sessions/${id}/messages`, {method: "POST",
                headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
                body: JSON.stringify({to: "5511999990001", text: "hi"})});
            return [r.status, (await r.json()).error.code];
        }""",
        session["id"],
    )
    assert answer == [403, "forbidden"]

    other = await log_in(browser, server, "ops@other.test")
    await expect(other.get_by_text("No numbers yet.")).to_be_visible()
    for path in (f"/ui/sessions/{session['id']}", f"/ui/sessions/{session['id']}/inbox"):
        response = await other.goto(path)
        assert response is not None
        assert response.status == 404
    await expect(other.get_by_role("heading", name="Not found")).to_be_visible()


async def test_a_fresh_install_sets_up_its_first_admin_with_the_admin_key(
    server: RunningServer, browser: Browser
) -> None:
    from tests.support.server import ADMIN_KEY

    context = await browser.new_context(base_url=server.base_url)
    page = await context.new_page()
    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Welcome to wagate")).to_be_visible()
    await page.get_by_label("Admin key").fill("not the key")
    await page.get_by_label("Your e-mail").fill("first@example.test")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the admin and log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not the admin key")
    await page.get_by_label("Admin key").fill(ADMIN_KEY)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create the admin and log in").click()
    await expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    await expect(page.get_by_test_id("who")).to_contain_text("first@example.test · admin")
    await page.goto("/ui/setup")  # done once: the page is gone
    await expect(page.get_by_role("heading", name="Sessions")).to_be_visible()


async def test_a_number_links_by_pairing_code_and_the_pages_fit_a_phone(
    server: RunningServer, admin: httpx.AsyncClient, browser: Browser
) -> None:
    await make_user(admin, "boss@example.test", "admin")
    session = (await admin.post("/v1/sessions", json={"name": "by-code"})).json()
    page = await log_in(browser, server, "boss@example.test")
    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    await page.goto(f"/ui/sessions/{session['id']}")
    await expect(page.get_by_test_id("qr").locator("svg")).to_be_visible()
    pairing = page.get_by_test_id("pairing-form")
    await pairing.get_by_label("Link with a pairing code instead").fill("5511987654321")
    await pairing.get_by_role("button", name="Get a code").click()
    await expect(page.locator("#flash")).to_contain_text("Pairing code")
    code = await page.get_by_test_id("pairing-code").inner_text()
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}", code), code

    phone = await page.context.new_page()
    await phone.set_viewport_size({"width": 390, "height": 844})
    await phone.goto(f"/ui/simulator/{session['id']}")
    typed = phone.get_by_test_id("type-pairing-code")
    await typed.get_by_label("Or type a pairing code").fill(code)
    await typed.get_by_role("button", name="Link with the code").click()
    await expect(page.get_by_test_id("light").first).to_have_attribute(
        "data-colour", "green", timeout=10_000
    )
    await expect(page.get_by_text("Linked to +5511987654321")).to_be_visible()

    for path in ("/ui/", f"/ui/sessions/{session['id']}", "/ui/webhooks", "/ui/activity"):
        await page.goto(path)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"

    # an admin adds a user from the Users page
    await page.goto("/ui/users")
    await page.get_by_label("E-mail").fill("new@example.test")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.locator("select[name=role]").select_option("viewer")
    await page.locator("select[name=tenant]").select_option("default")
    await page.get_by_role("button", name="Add").click()
    await expect(page.get_by_role("cell", name="new@example.test")).to_be_visible()
    await screenshot(page, "11-users")
    users = (await admin.get("/v1/admin/users")).json()["items"]
    assert {u["email"]: u["role"] for u in users if u["email"] == "new@example.test"} == {
        "new@example.test": "viewer"
    }


async def test_the_api_console_works_offline_with_a_users_login(
    server: RunningServer, admin: httpx.AsyncClient, browser: Browser
) -> None:
    await make_user(admin, "boss@example.test", "admin")
    context = await browser.new_context(base_url=server.base_url)
    blocked = await offline(context)
    page = await context.new_page()
    await page.goto("/docs")
    await page.get_by_role("button", name="Authorize").click()
    login = page.locator(".dialog-ux .auth-container", has=page.get_by_label("username:"))
    await login.get_by_label("username:").fill("boss@example.test")
    await login.get_by_label("password:").fill(PASSWORD)
    await login.get_by_role("button", name="Apply given OAuth2 credentials").click()
    await expect(page.get_by_role("button", name="Logout").first).to_be_visible()
    await login.get_by_role("button", name="Close").click()
    me = page.locator("#operations-auth-me_v1_auth_me_get")
    await me.locator(".opblock-summary").click()
    await me.get_by_role("button", name="Try it out").click()
    await me.get_by_role("button", name="Execute").click()
    answer = me.locator(".live-responses-table")
    await expect(answer).to_contain_text('"email": "boss@example.test"')
    assert not blocked, blocked
