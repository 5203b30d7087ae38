"""
Draws the web app's icons (tracker/static/tracker/icons/): a white arrow leaving a
ring on the app's dark blue, as PNG, with the standard library only. Run it again
after changing the drawing: `python scripts/make_icons.py`.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

BLUE = (0x1D, 0x35, 0x57)
WHITE = (0xFF, 0xFF, 0xFF)
OUT = Path(__file__).resolve().parent.parent / "tracker" / "static" / "tracker" / "icons"


def pixel(x: float, y: float, safe: float) -> tuple[int, int, int]:
    """The colour at (x, y) in a unit square; `safe` shrinks the drawing into the maskable safe zone."""
    cx, cy = (x - 0.5) / safe, (y - 0.5) / safe
    radius = math.hypot(cx, cy)
    ring = 0.30 <= radius <= 0.38 and not (cx > 0.1 and abs(cy) < 0.12)
    shaft = -0.05 <= cx <= 0.34 and abs(cy) <= 0.05
    head = 0.22 <= cx <= 0.44 and abs(cy) <= (0.44 - cx) * 0.9
    return WHITE if ring or shaft or head else BLUE


def png(size: int, *, safe: float) -> bytes:
    rows = b"".join(
        b"\x00" + bytes(channel for x in range(size) for channel in pixel((x + 0.5) / size, (y + 0.5) / size, safe))
        for y in range(size)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon-192.png").write_bytes(png(192, safe=1.0))
    (OUT / "icon-512.png").write_bytes(png(512, safe=1.0))
    (OUT / "icon-maskable-512.png").write_bytes(png(512, safe=0.8))
