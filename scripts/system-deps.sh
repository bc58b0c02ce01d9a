#!/usr/bin/env bash
# Install the Debian packages wagate and its test suite use, when we can:
#   ffmpeg      voice notes converted to OGG/Opus (whatsmeow, brains that answer in audio)
#   libmagic1   neonize (whatsmeow) detects media types with it
#   postgresql  the PostgreSQL variants of every storage test (not with --runtime)
#   chromium    the dashboard's browser tests, driven by Playwright (not with --runtime)
#   podman, runc, mmdebstrap
#               the container image test builds the Dockerfile on a Debian root file system
#               made here, and runs it (not with --runtime)
#   rabbitmq-server
#               the RabbitMQ event sink's tests start their own broker (not with --runtime)
#   nodejs, npm the Evolution surface's test drives the published n8n node (not with --runtime;
#               scripts/test-clients.sh installs the node itself)
# `scripts/system-deps.sh --runtime` (make run) installs only what the server uses.
# Never fails: when a package cannot be installed, the features and tests that need
# it say so (the test run's summary lists what was skipped).
set -uo pipefail

have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
have_ffmpeg() { command -v ffmpeg >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }
have_containers() { command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && command -v mmdebstrap >/dev/null 2>&1; }
have_rabbitmq() { test -x /usr/lib/rabbitmq/bin/rabbitmq-server; }
have_node() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }
have_libmagic() { ls /usr/lib/*/libmagic.so.1 >/dev/null 2>&1 || ls /usr/lib/libmagic.so.1 >/dev/null 2>&1; }

missing=()
if [ "${1:-}" != "--runtime" ]; then
  have_postgres || missing+=(postgresql)
  have_chromium || missing+=(chromium)
  have_containers || missing+=(podman runc mmdebstrap uidmap slirp4netns fuse-overlayfs)
  have_rabbitmq || missing+=(rabbitmq-server)
  have_node || missing+=(nodejs npm)
fi
have_ffmpeg || missing+=(ffmpeg)
have_libmagic || missing+=(libmagic1)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not installed: ${missing[*]}, and this is not root with apt-get;"
  echo "system-deps: what needs them will be SKIPPED or unavailable (install them with apt-get)."
  exit 0
fi
echo "system-deps: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "system-deps: could not install ${missing[*]}; the tests that need them will be SKIPPED"
fi
exit 0
