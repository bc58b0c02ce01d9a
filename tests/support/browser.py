"""Debian's Chromium driven by Playwright: the dashboard's tests run in a real browser.

``scripts/system-deps.sh`` installs the ``chromium`` package; Playwright starts it
through ``executable_path`` (no browser download). Without it the browser tests are
skipped with a message, unless ``WAGATE_TEST_REQUIRE_BROWSER=1`` (CI) makes that a
failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    configured = os.environ.get("WAGATE_TEST_CHROMIUM")
    if configured:
        return configured
    return next((found for name in CANDIDATES if (found := shutil.which(name))), None)


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium; scripts/system-deps.sh)"
        if os.environ.get("WAGATE_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    path = require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=path,
            # the sandbox needs user namespaces, which containers and root lack
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def screenshot(page: Page, name: str) -> None:
    """With ``WAGATE_SCREENSHOTS=<dir>``, save the page (docs/dashboard.md uses them)."""
    where = os.environ.get("WAGATE_SCREENSHOTS")
    if where:  # playwright creates the directory
        await page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=True)


async def offline(context: BrowserContext) -> list[str]:
    """Refuse every request that leaves this machine; the list fills with their URLs.

    The dashboard promises to work without internet access: a test asserts the list
    stays empty.
    """
    blocked: list[str] = []

    async def only_loopback(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost", "::1") or route.request.url.startswith("data:"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_loopback)
    return blocked
