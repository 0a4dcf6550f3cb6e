"""Peak memory of decoding photos at once: ``--uploads`` concurrent cleanings of one huge,
tiny-on-disk PNG (7300 × 5466 = 39.9 MP, a few hundred KB), in a fresh process. The hardening
issue measured 2.9 GB for four such uploads; decoding is now bounded (geo.reports.photos).

    .venv/bin/python bench/photo_memory.py [--uploads 4]
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(uploads: int) -> None:
    sys.path.insert(0, str(ROOT))
    from PIL import Image

    from geo.reports.photos import clean_image

    out = io.BytesIO()
    Image.new("RGB", (7300, 5466), (40, 90, 160)).save(out, format="PNG", optimize=False)
    data = out.getvalue()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    threads = [threading.Thread(target=clean_image, args=(data,)) for _ in range(uploads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"png_bytes": len(data), "megapixels": 7300 * 5466 / 1e6, "baseline_mib": base / 1024,
                      "peak_mib": peak / 1024}))


def measure(uploads: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(uploads)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uploads", type=int, default=4)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child)
        return 0
    one, many = measure(1), measure(args.uploads)
    print(f"{many['megapixels']:.1f} MP PNG of {many['png_bytes'] / 1024:.0f} KB: peak RSS {one['peak_mib']:.0f} MiB "
          f"for one upload, {many['peak_mib']:.0f} MiB for {args.uploads} at once "
          f"(process baseline {many['baseline_mib']:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
