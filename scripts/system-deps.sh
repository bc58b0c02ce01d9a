#!/usr/bin/env bash
# Install the Debian packages wagate and its test suite use, when we can:
#   postgresql  the PostgreSQL variants of every storage test
#   ffmpeg      voice notes converted to OGG/Opus (whatsmeow, brains that answer in audio)
#   libmagic1   neonize (whatsmeow) detects media types with it
# Never fails: when a package cannot be installed, the tests that need it are skipped
# and the test run says so in its summary.
set -uo pipefail

have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
have_ffmpeg() { command -v ffmpeg >/dev/null 2>&1; }
have_libmagic() { ls /usr/lib/*/libmagic.so.1 /usr/lib/libmagic.so.1 >/dev/null 2>&1; }

missing=()
have_postgres || missing+=(postgresql)
have_ffmpeg || missing+=(ffmpeg)
have_libmagic || missing+=(libmagic1)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: not installed: ${missing[*]}, and this is not root with apt-get;"
  echo "system-deps: the tests that need them will be SKIPPED (install them with apt-get)."
  exit 0
fi
echo "system-deps: installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "system-deps: could not install ${missing[*]}; the tests that need them will be SKIPPED"
fi
exit 0
