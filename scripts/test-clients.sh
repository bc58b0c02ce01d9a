#!/usr/bin/env bash
# Install the third-party clients the test suite drives against a running wagate:
#   tests/clients/evolution_n8n   the published n8n node for Evolution API (npm, pinned
#                                 in its package-lock.json)
# Needs Node.js and npm (scripts/system-deps.sh installs Debian's when missing).
# Reinstalls only when the lock file changed. Never fails: without the client, its tests
# are SKIPPED, unless WAGATE_TEST_REQUIRE_NODE=1 (CI) makes that a failure.
set -uo pipefail
cd "$(dirname "$0")/.."

dir=tests/clients/evolution_n8n
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "test-clients: node/npm not found; the n8n client's tests will be SKIPPED"
  exit 0
fi
stamp="$dir/node_modules/.package-lock.json"
if [ -d "$dir/node_modules/n8n-nodes-evolution-api" ] && [ "$stamp" -nt "$dir/package-lock.json" ]; then
  exit 0
fi
echo "test-clients: npm ci in $dir"
if ! npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error >/dev/null; then
  echo "test-clients: npm ci failed; the n8n client's tests will be SKIPPED"
fi
exit 0
