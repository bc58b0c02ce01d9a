#!/usr/bin/env bash
# Install what wagate needs to run: uv (if missing) and the locked Python packages in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION="0.13.9"
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv ${UV_VERSION} with pip"
  python3 -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
    || python3 -m pip install --quiet --user --disable-pip-version-check "uv==${UV_VERSION}"
  export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --quiet "$@"
