#!/usr/bin/env python3
"""Draws the app icons (public/icon-192.png, icon-512.png, icon-maskable-512.png) from the
same shapes as public/favicon.svg: a rounded square in the accent colour with a white "V".
Pure Python (zlib only), so it runs anywhere; the PNGs are committed, run this only to
change them:  python3 scripts/icons.py"""
import math
import struct
import zlib
from pathlib import Path

ACCENT = (0x4F, 0x46, 0xE5)
WHITE = (255, 255, 255)


def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def draw(size, maskable):
    # Shapes in the favicon's 32-unit space; a maskable icon is full-bleed with the mark
    # inside the central 80 % safe zone.
    scale = size / 32
    mark = 0.7 if maskable else 1.0
    radius = 0 if maskable else 7
    rows = []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            # 4×4 supersampling for smooth edges.
            cover_bg = cover_v = 0
            for sy in range(4):
                for sx in range(4):
                    u = (x + (sx + 0.5) / 4) / scale
                    v = (y + (sy + 0.5) / 4) / scale
                    cx, cy = min(max(u, radius), 32 - radius), min(max(v, radius), 32 - radius)
                    if radius == 0 or math.hypot(u - cx, v - cy) <= radius:
                        cover_bg += 1
                        # The V: (8,9) → (16,24) → (24,9), stroke 3.5, scaled about the centre.
                        mu, mv = 16 + (u - 16) / mark, 16 + (v - 16) / mark
                        d = min(seg_dist(mu, mv, 8, 9, 16, 24), seg_dist(mu, mv, 16, 24, 24, 9))
                        if d <= 1.75:
                            cover_v += 1
            a = cover_bg / 16
            w = cover_v / 16
            rgb = [round(ACCENT[i] * (a - w) + WHITE[i] * w) for i in range(3)]
            alpha = round(255 * a)
            # Straight (not premultiplied) colour.
            rgb = [min(255, round(c / a)) if a > 0 else 0 for c in rgb]
            row += bytes(rgb + [alpha])
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


public = Path(__file__).resolve().parent.parent / "public"
for name, size, maskable in [("icon-192.png", 192, False), ("icon-512.png", 512, False), ("icon-maskable-512.png", 512, True)]:
    (public / name).write_bytes(draw(size, maskable))
    print("wrote", public / name)
