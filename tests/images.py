"""Tiny images for upload tests (photos are content-addressed: vary ``colour`` for distinct files)."""

from __future__ import annotations

import io

from PIL import Image


def png(size: tuple[int, int] = (8, 8), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A PNG of one colour."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()
