#!/usr/bin/env bash
# Refresh the browser libraries the dashboard ships (src/wagate/web/static/vendor/).
# They are committed, so `make run` works offline; this script only updates them,
# from the npm registry, checking each file against its pinned SHA-256.
#   htmx.org 2.0.11 (BSD Zero Clause License): https://htmx.org
#   swagger-ui-dist 5.36.0 (Apache-2.0): the API console at /docs
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=src/wagate/web/static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() {  # package version
  mkdir -p "$tmp/$1"
  curl -fsSL "https://registry.npmjs.org/$1/-/$1-$2.tgz" | tar xz -C "$tmp/$1"
}

fetch htmx.org 2.0.11
echo "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717  $tmp/htmx.org/package/dist/htmx.min.js" | sha256sum -c -
cp "$tmp/htmx.org/package/dist/htmx.min.js" "$vendor/htmx-2.0.11.min.js"
cp "$tmp/htmx.org/package/LICENSE" "$vendor/htmx-2.0.11.LICENSE"

fetch swagger-ui-dist 5.36.0
sha256sum -c - <<SUMS
b164c5a22535e40dae08c00271674a67e437ec195098c55fcedf8ffac7ac3c88  $tmp/swagger-ui-dist/package/swagger-ui-bundle.js
7eb9f5a125e4bc9b3f0b71869b66d1a3d7c501f972f53d44ef91c2ae6c5bda5e  $tmp/swagger-ui-dist/package/swagger-ui.css
SUMS
mkdir -p "$vendor/swagger-ui-5.36.0"
cp "$tmp/swagger-ui-dist/package/"{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} "$vendor/swagger-ui-5.36.0/"
echo "vendored into $vendor"
