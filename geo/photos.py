"""Report photos: stored without any metadata (no EXIF GPS, camera, owner or timestamps).

A phone photo's EXIF carries the exact position and the device: personal data the report
does not need. Images are re-encoded from their pixels only (after applying the EXIF
orientation, so they still look upright), then stored under the media directory.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from geo.errors import InvalidInput

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_PIXELS = 40_000_000  # a 40 MP photo; larger is refused before decoding the pixels


def clean_image(data: bytes) -> tuple[bytes, str]:
    """Re-encode ``data`` with pixels only; returns (bytes, file extension).

    Raises InvalidInput (field ``photo``) for anything that is not a JPEG, PNG or WebP image.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if fmt not in ALLOWED_FORMATS:
                raise InvalidInput(f"must be a JPEG, PNG or WebP image, not {fmt or 'unknown'}", field="photo")
            if img.width * img.height > MAX_PIXELS:
                raise InvalidInput(f"at most {MAX_PIXELS // 1_000_000} megapixels", field="photo")
            upright = ImageOps.exif_transpose(img)
            mode = "RGB" if fmt == "JPEG" and upright.mode not in ("RGB", "L") else upright.mode
            upright = upright.convert(mode)
            # A fresh image from raw pixels carries no info/exif/icc/xmp of the original.
            bare = Image.frombytes(upright.mode, upright.size, upright.tobytes())
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InvalidInput("is not a readable image", field="photo") from None
    out = io.BytesIO()
    bare.save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue(), ALLOWED_FORMATS[fmt]


def store_photo(media_dir: Path, *, report_id: uuid.UUID, data: bytes) -> str:
    """Clean and store one photo; returns its file name (content-addressed, so a re-upload is
    the same file)."""
    clean, ext = clean_image(data)
    name = f"{hashlib.sha256(clean).hexdigest()[:20]}.{ext}"
    folder = media_dir / str(report_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(clean)
        tmp.replace(target)  # atomic: a reader never sees half a file
    return name


def photo_path(media_dir: Path, *, report_id: uuid.UUID, name: str) -> Path | None:
    """The stored file for (report, name), or None; ``name`` must be one of ours (no paths)."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = media_dir / str(report_id) / name
    return path if path.is_file() else None
