"""The ways one input is cut into reads. Every cut is derived from the input itself (its CRC
picks the cut points), so a crash reproduces from the input file alone and the seed corpus can
hold plain HTTP messages."""
from __future__ import annotations

import random
import zlib

#: Inputs up to this size are also fed one byte per read (every boundary at once).
BYTEWISE_MAX = 2048


def seed_of(data: bytes) -> int:
    return zlib.crc32(data)


def random_cuts(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut at 1 to 12 points chosen by ``seed``."""
    if len(data) < 2:
        return [data]
    rng = random.Random(seed)
    points = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 12))))
    return [data[start:end] for start, end in zip([0, *points], [*points, len(data)])]


def bytewise(data: bytes) -> list[bytes]:
    return [data[at:at + 1] for at in range(len(data))]


def chunkings(data: bytes) -> dict[str, list[bytes]]:
    """Named cuts of ``data`` besides the whole: random points, and bytewise when it is small."""
    cuts = {"random": random_cuts(data, seed_of(data))}
    if len(data) <= BYTEWISE_MAX:
        cuts["bytewise"] = bytewise(data)
    return cuts
