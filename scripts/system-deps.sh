#!/usr/bin/env bash
# Install the Debian packages the test suite uses (a PostgreSQL server), when we can.
# Never fails: when a package cannot be installed, the tests that need it are skipped
# and the test run says so in its summary.
set -uo pipefail

have_postgres() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }

if have_postgres; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: PostgreSQL server not installed and this is not root with apt-get;"
  echo "system-deps: the PostgreSQL variants of the tests will be SKIPPED (install 'postgresql')."
  exit 0
fi
echo "system-deps: installing Debian package postgresql"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; then
  echo "system-deps: could not install postgresql; PostgreSQL tests will be SKIPPED"
fi
exit 0
