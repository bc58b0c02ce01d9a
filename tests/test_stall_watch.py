"""The stall watcher (tests/support/stalls.py) names a blocked event loop and its culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_blocked_loop_is_reported_with_the_line_that_blocked_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest('pytest_plugins = ["tests.support.stalls"]')
    pytester.makepyfile(
        test_blocking="""
        import asyncio
        import time

        async def test_holds_the_loop():
            await asyncio.sleep(0.1)
            time.sleep(2)  # a blocking call inside the loop

        def test_quiet():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-o", "asyncio_mode=auto", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*stalls (the process made no progress)*",
            "*test_holds_the_loop: * loop blocked for 2.* s*",
            "*time.sleep(2)  # a blocking call inside the loop*",
        ]
    )
    assert "test_quiet:" not in result.stdout.str()
