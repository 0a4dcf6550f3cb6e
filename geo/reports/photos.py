"""Report photos: stored without any metadata (no EXIF GPS, camera, owner or timestamps).

A phone photo's EXIF carries the exact position and the device: personal data the report
does not need. Images are re-encoded from their pixels only (after applying the EXIF
orientation, so they still look upright), then stored under the media directory.

Decoding is bounded: at most ``MAX_PIXELS`` are accepted; JPEGs are decoded at reduced scale
straight to at most ``MAX_EDGE`` pixels a side, other formats are shrunk to it; and only
``DECODE_SLOTS`` large images decode at once per process, so a handful of concurrent 40 MP
uploads cannot exhaust a worker's memory.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import uuid
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from geo.errors import Busy, InvalidInput

ALLOWED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
MAX_PIXELS = 40_000_000  # a 40 MP photo; larger is refused before decoding the pixels
MAX_EDGE = 4096  # stored photos are at most this many pixels on their long side
LARGE_PIXELS = 4_000_000  # images above this wait for a decode slot
DECODE_SLOTS = 1
DECODE_WAIT_S = 30.0  # longer in the queue and the upload is refused (503) rather than held
MAX_WAITING = 2  # more large uploads than this in the queue: refused at once (each holds a thread)
_slots = threading.BoundedSemaphore(DECODE_SLOTS)
_queue_lock = threading.Lock()
_waiting = 0


def clean_image(data: bytes) -> tuple[bytes, str]:
    """Re-encode ``data`` with pixels only, at most ``MAX_EDGE`` a side; returns (bytes, file
    extension).

    Raises InvalidInput (field ``photo``) for anything that is not a JPEG, PNG or WebP image,
    Busy when large decodes have queued for longer than DECODE_WAIT_S.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            if fmt not in ALLOWED_FORMATS:
                raise InvalidInput(f"must be a JPEG, PNG or WebP image, not {fmt or 'unknown'}", field="photo")
            if img.width * img.height > MAX_PIXELS:
                raise InvalidInput(f"at most {MAX_PIXELS // 1_000_000} megapixels", field="photo")
            large = img.width * img.height > LARGE_PIXELS
            if large:
                _take_slot()
            try:
                bare = _pixels_only(img, fmt)
            finally:
                if large:
                    _slots.release()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError):
        raise InvalidInput("is not a readable image", field="photo") from None
    out = io.BytesIO()
    bare.save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue(), ALLOWED_FORMATS[fmt]


def _take_slot() -> None:
    """Wait for a decode slot; Busy when the queue is full or the wait too long."""
    global _waiting
    with _queue_lock:
        if _waiting >= MAX_WAITING:
            raise Busy("too many large photos are being processed; send it again in a minute")
        _waiting += 1
    try:
        if not _slots.acquire(timeout=DECODE_WAIT_S):
            raise Busy("too many large photos are being processed; send it again in a minute")
    finally:
        with _queue_lock:
            _waiting -= 1


def _pixels_only(img: Image.Image, fmt: str) -> Image.Image:
    if fmt == "JPEG":  # the decoder itself scales by 1/2, 1/4 or 1/8: the full image never exists
        img.draft("RGB", (MAX_EDGE, MAX_EDGE))
    img.thumbnail((MAX_EDGE, MAX_EDGE), reducing_gap=2.0)  # in place; no-op when already small
    upright = ImageOps.exif_transpose(img)
    mode = "RGB" if fmt == "JPEG" and upright.mode not in ("RGB", "L") else upright.mode
    upright = upright.convert(mode) if upright.mode != mode else upright
    # A fresh image from raw pixels carries no info/exif/icc/xmp of the original.
    return Image.frombytes(upright.mode, upright.size, upright.tobytes())


def photo_name(clean: bytes, ext: str) -> str:
    """The stored name of a cleaned photo: content-addressed, so a re-upload is the same file."""
    return f"{hashlib.sha256(clean).hexdigest()[:20]}.{ext}"


def write_photo(media_dir: Path, *, report_id: uuid.UUID, name: str, data: bytes) -> bool:
    """Store ``data`` as ``name`` of the report; returns whether the file is new. Each call
    writes its own temporary file and renames it into place, so concurrent uploads of the
    same photo never share one and a reader never sees half a file."""
    folder = media_dir / str(report_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if target.exists():
        return False
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def remove_photo(media_dir: Path, *, report_id: uuid.UUID, name: str) -> None:
    """Delete a stored photo (when the database refused to record it)."""
    (media_dir / str(report_id) / name).unlink(missing_ok=True)


def photo_path(media_dir: Path, *, report_id: uuid.UUID, name: str) -> Path | None:
    """The stored file for (report, name), or None; ``name`` must be one of ours (no paths)."""
    if "/" in name or "\\" in name or name.startswith("."):
        return None
    path = media_dir / str(report_id) / name
    return path if path.is_file() else None
