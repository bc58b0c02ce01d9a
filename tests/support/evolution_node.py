"""Drive the published n8n community node for Evolution API against a running server.

The node (npm ``n8n-nodes-evolution-api``, pinned in ``tests/clients/evolution_n8n``) is a
client nobody here wrote, so it checks wagate's Evolution-compatible surface the way real
n8n users will hit it. ``drive.js`` there runs its operations with a fake n8n context; see
that directory's README for the call and result format.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

HARNESS_DIR = Path(__file__).resolve().parents[1] / "clients" / "evolution_n8n"
DRIVER = HARNESS_DIR / "drive.js"
NODE_PACKAGE = HARNESS_DIR / "node_modules" / "n8n-nodes-evolution-api"
INSTALL_HINT = "npm ci --prefix tests/clients/evolution_n8n"


class EvolutionNodeError(RuntimeError):
    """The harness itself failed (bad input, missing operation, crash), not an API call."""


def evolution_node_available() -> str | None:
    """None when the harness can run, else why not (for ``pytest.skip``).

    Callers skip with the reason, except when ``WAGATE_TEST_REQUIRE_NODE=1`` is set (as in
    CI, which installs the harness): then a missing harness must fail the test instead,
    so the check cannot silently stop running.
    """
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not NODE_PACKAGE.is_dir():
        return f"n8n-nodes-evolution-api is not installed; run `{INSTALL_HINT}`"
    return None


async def run_evolution_node(
    server_url: str,
    apikey: str,
    calls: list[dict[str, Any]],
    *,
    timeout_s: float = 60,
) -> list[dict[str, Any]]:
    """Run ``calls`` in order through the node; one result dict per call.

    ``server_url`` is the Evolution base URL (``http://127.0.0.1:<port>/evolution``, no
    trailing slash: the node appends paths such as ``/instance/create`` verbatim). Each
    call is ``{"operation": "<resource>/<name>", "params": {...}}`` with an optional
    ``"continue_on_fail"`` (default true). Failed API calls come back as results with
    ``ok`` false; only harness failures raise.
    """
    node = shutil.which("node")
    if node is None:
        raise EvolutionNodeError("node is not on PATH")
    document = json.dumps({"server_url": server_url, "apikey": apikey, "calls": calls})
    process = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER),
        cwd=HARNESS_DIR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(
            process.communicate(document.encode()), timeout=timeout_s
        )
    except TimeoutError:
        # Not left running behind the test (it may be blocked on a hung request).
        process.kill()
        await process.wait()
        raise EvolutionNodeError(f"drive.js did not finish within {timeout_s}s") from None
    errors = stderr.decode(errors="replace").strip()
    if process.returncode != 0:
        raise EvolutionNodeError(f"drive.js exited with {process.returncode}: {errors}")
    try:
        parsed: object = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise EvolutionNodeError(f"drive.js printed no JSON ({exc}); stderr: {errors}") from exc
    if not isinstance(parsed, list) or len(parsed) != len(calls):
        raise EvolutionNodeError(f"drive.js did not return one result per call: {parsed!r:.500}")
    results: list[dict[str, Any]] = parsed
    return results
