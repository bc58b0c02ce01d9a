#!/usr/bin/env bash
# Refresh the browser libraries the dashboard ships (src/wagate/web/static/vendor/).
# They are committed, so `make run` works offline; this script only updates them,
# from the npm registry, checking the file against the pinned SHA-256.
#   htmx.org 2.0.11 (BSD Zero Clause License): https://htmx.org
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.0.11
sha256=d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717
out=src/wagate/web/static/vendor/htmx-${version}.min.js
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL "https://registry.npmjs.org/htmx.org/-/htmx.org-${version}.tgz" | tar xz -C "$tmp"
echo "${sha256}  $tmp/package/dist/htmx.min.js" | sha256sum -c -
cp "$tmp/package/dist/htmx.min.js" "$out"
echo "vendored $out"
