#!/usr/bin/env python3
"""Writes Tests/Fixtures/resize/: what Pillow's Image.resize((W, H), Image.BILINEAR) gives for many shapes.

Needs Python 3 with numpy and Pillow 13 or later (`pip install numpy "pillow>=13"`; Pillow 12 orders the
resampling passes differently, see Sources/VAEFormats/Images/PILResize.swift). Run from the repository root:
    python3 tools/make_resize_fixtures.py
The inputs are not stored: every sample is a hash of (seed, index), which PILResizeTests.swift recomputes.
Outputs: `expected.bin` (every case's resized pixels, uint8, rows top to bottom, interleaved channels, one
case after another) and `index.json` (the Pillow version and, per case, the input shape, target, channel
count, seed, and the case's byte range in expected.bin).
"""
import json
import os

import numpy as np
import PIL
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "resize")

# (input width, input height, target width, target height, channels). Channels 3 is RGB, 1 is grey ("L").
CASES = [
    # Shapes where Pillow resamples vertically first (height shrinks by more than twice the width's change).
    (150, 200, 128, 128, 3), (130, 170, 128, 128, 3), (300, 500, 128, 128, 3),
    (100, 200, 64, 64, 3), (128, 200, 64, 64, 3), (96, 160, 64, 64, 3),
    (20, 1000, 64, 64, 3), (63, 66, 64, 64, 3), (72, 63, 64, 37, 3),
    # Horizontal first.
    (200, 150, 128, 128, 3), (257, 255, 128, 128, 3), (255, 257, 128, 128, 3), (65, 66, 64, 64, 3),
    (1000, 20, 64, 64, 3), (107, 95, 60, 38, 3), (77, 66, 11, 4, 3), (640, 480, 64, 64, 3),
    # The boundary of the rule: height shrinks by exactly, then by one more than, twice the width's change.
    (100, 120, 80, 80, 3), (100, 121, 80, 80, 3),
    # Upscales, one axis unchanged, odd sizes, degenerate sizes, identity.
    (20, 30, 64, 64, 3), (7, 5, 64, 64, 3), (17, 64, 64, 64, 3), (64, 17, 64, 64, 3), (33, 47, 64, 64, 3),
    (40, 30, 17, 50, 3), (1, 1, 8, 8, 3), (1, 50, 16, 16, 3), (50, 1, 16, 16, 3), (64, 64, 64, 64, 3),
    (512, 512, 64, 64, 3),
    # Grey.
    (150, 200, 128, 128, 1), (257, 255, 128, 128, 1), (31, 29, 64, 64, 1), (300, 500, 64, 64, 1),
]


def samples(seed, count):
    """uint8 noise: a 32-bit integer hash of (seed, sample index), mirrored in PILResizeTests.swift."""
    with np.errstate(over="ignore"):
        h = np.arange(count, dtype=np.uint32) * np.uint32(0x9E3779B1) + np.uint32(seed) * np.uint32(0x85EBCA77)
        h ^= h >> np.uint32(15)
        h *= np.uint32(0x2C1B3C6D)
        h ^= h >> np.uint32(12)
        h *= np.uint32(0x297A2D39)
        h ^= h >> np.uint32(15)
    return (h >> np.uint32(24)).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    blob = bytearray()
    index = []
    for seed, (w, h, tw, th, channels) in enumerate(CASES, start=1):
        pixels = samples(seed, w * h * channels).reshape((h, w, channels) if channels == 3 else (h, w))
        image = Image.fromarray(pixels, "RGB" if channels == 3 else "L")
        resized = np.asarray(image.resize((tw, th), Image.BILINEAR), dtype=np.uint8)
        data = resized.tobytes()
        assert len(data) == tw * th * channels
        index.append({"width": w, "height": h, "targetWidth": tw, "targetHeight": th, "channels": channels,
                      "seed": seed, "offset": len(blob), "length": len(data)})
        blob += data
    with open(os.path.join(OUT, "expected.bin"), "wb") as f:
        f.write(blob)
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump({"pillow": PIL.__version__,
                   "call": "Image.fromarray(input, 'RGB' or 'L').resize((targetWidth, targetHeight), Image.BILINEAR)",
                   "cases": index}, f, indent=1)
        f.write("\n")
    print(f"{len(index)} cases, {len(blob)} bytes")


if __name__ == "__main__":
    main()
