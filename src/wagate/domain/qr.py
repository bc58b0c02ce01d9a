"""A QR code's text as the PNG image clients show (a ``data:`` URL)."""

from __future__ import annotations

import segno


def qr_data_url(raw: str) -> str:
    return str(segno.make(raw, error="l", micro=False).png_data_uri(scale=6, border=4))
