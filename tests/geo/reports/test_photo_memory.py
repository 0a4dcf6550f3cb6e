"""Photo decoding is bounded: four concurrent uploads of a 39.9 MP PNG (a few hundred KB on
disk) once took a worker to 2.9 GB; now large decodes queue for one slot and are shrunk."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from geo.reports.photos import MAX_EDGE, clean_image

BENCH = Path(__file__).resolve().parents[3] / "bench" / "photo_memory.py"


def test_four_huge_uploads_at_once_stay_small():
    out = subprocess.run([sys.executable, str(BENCH), "--child", "4"], capture_output=True, text=True, check=True)
    m = json.loads(out.stdout)
    assert m["peak_mib"] - m["baseline_mib"] < 600, m  # was ~1,900 MiB above the baseline


def test_large_photos_are_stored_at_most_max_edge():
    out = io.BytesIO()
    Image.new("RGB", (6000, 3000), (1, 2, 3)).save(out, format="JPEG")
    clean, ext = clean_image(out.getvalue())
    img = Image.open(io.BytesIO(clean))
    assert ext == "jpg" and max(img.size) <= MAX_EDGE and img.size[0] == 2 * img.size[1]


def test_a_full_decode_queue_refuses_at_once():
    import pytest

    from geo.errors import Busy
    from geo.reports import photos

    photos._slots.acquire()  # one decode running
    try:
        photos._waiting = photos.MAX_WAITING  # and the queue full
        with pytest.raises(Busy):
            photos._take_slot()
    finally:
        photos._waiting = 0
        photos._slots.release()
