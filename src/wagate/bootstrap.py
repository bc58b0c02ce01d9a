"""First-start chores: the data directory and the admin key."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ADMIN_KEY_FILE = "admin-key"


def ensure_data_dir(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    with_mode = data_dir.stat().st_mode & 0o777
    if with_mode & 0o077:
        data_dir.chmod(0o700)


def load_or_create_admin_key(data_dir: Path, configured: str | None) -> tuple[str, bool]:
    """The admin key: the configured one, the saved one, or a new one (saved with mode 0600).

    Returns the key and whether it was created now (the caller prints it once).
    """
    if configured:
        return configured, False
    path = data_dir / ADMIN_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key, False
    key = "wga_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)
    return key, True
