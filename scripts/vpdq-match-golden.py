#!/usr/bin/env python3
"""The vPDQ golden table: seeded random and clustered query/list pairs and what
python-threatexchange's brute matcher (`match_VPDQ_hash_brute`) makes of every pair.

Writes tests/golden/vpdq-matches.jsonl, one case per line:
  {"case", "distance_tolerance", "quality_tolerance", "query": [compact features],
   "listed": [[compact features], ...],
   "results": [{"query_match_percent", "compared_match_percent"} or null, ...]}
with `null` where the reference divides by zero (a side with no frame left). The features are
written as python-threatexchange writes them (`VpdqCompactFeature.__str__`).
crates/index/tests/reference_matches.rs checks VpdqIndex against it.

Run with any Python that has `threatexchange` (and the `vpdq` extension it imports):
  python3 scripts/vpdq-match-golden.py [OUTPUT]
"""

import json
import pathlib
import random
import sys

from threatexchange.extensions.vpdq.vpdq_brute_matcher import match_VPDQ_hash_brute
from threatexchange.extensions.vpdq.vpdq_util import VpdqCompactFeature

SEED = 20261207
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests/golden/vpdq-matches.jsonl"


def flip(value: int, bits) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def hex256(value: int) -> str:
    return f"{value:064x}"


def feature(value: int, quality: int, timestamp: float) -> VpdqCompactFeature:
    return VpdqCompactFeature(hex256(value), quality, timestamp)


def drift(rng: random.Random, start: int, frames: int, step: int, quality) -> list:
    """A shot: each frame a few bits from the one before, some repeated exactly."""
    value, out = start, []
    for i in range(frames):
        if rng.random() < 0.8:
            value = flip(value, rng.sample(range(256), rng.randint(0, step)))
        out.append(feature(value, quality(), i * 1.0))
    return out


def noisy(rng: random.Random, frames: list, noise: int, offset: float) -> list:
    return [
        feature(
            flip(int(f.pdq_hex, 16), rng.sample(range(256), rng.randint(0, noise))),
            rng.randint(40, 100),
            offset + i * 0.5,
        )
        for i, f in enumerate(frames)
    ]


def cases(rng: random.Random):
    # Edge cases: exact distances and shares at the thresholds.
    base = [rng.getrandbits(256) for _ in range(6)]
    for bits in (30, 31, 32, 33):
        yield f"distance-{bits}", [feature(flip(base[0], range(bits)), 100, 0.0)], [
            [feature(base[0], 100, 0.0)]
        ]
    yield "four-of-five", [feature(b, 100, float(i)) for i, b in enumerate(base[:5])], [
        [feature(b, 100, float(i)) for i, b in enumerate(base[:4])],
        [feature(b, 100, float(i)) for i, b in enumerate(base[:3])],
    ]
    yield "duplicates-and-quality", [
        feature(base[0], 49, 0.0),
        feature(base[0], 100, 1.0),
        feature(base[1], 50, 2.0),
        feature(base[2], 100, 3.0),
        feature(base[2], 100, 4.0),
    ], [
        [feature(base[1], 100, 0.0), feature(base[1], 100, 1.0), feature(base[2], 60, 2.0)],
        [feature(base[0], 100, 0.0), feature(base[3], 20, 1.0)],
        [feature(base[4], 10, 0.0)],
    ]
    yield "low-quality-query", [feature(base[0], 10, 0.0)], [[feature(base[0], 100, 0.0)]]
    yield "empty-query", [], [[feature(base[0], 100, 0.0)]]
    # Random videos: unrelated, so nearly nothing matches.
    for n in range(4):
        listed = [
            [feature(rng.getrandbits(256), rng.randint(0, 100), float(i)) for i in range(rng.randint(1, 20))]
            for _ in range(8)
        ]
        query = [feature(rng.getrandbits(256), rng.randint(0, 100), float(i)) for i in range(rng.randint(1, 20))]
        yield f"random-{n}", query, listed
    # Clustered: shots drifting from a start, queries noisy clips of one or two of them.
    for n in range(24):
        listed = [
            drift(rng, rng.getrandbits(256), rng.randint(1, 30), rng.randint(2, 16), lambda: rng.randint(30, 100))
            for _ in range(rng.randint(2, 10))
        ]
        source = rng.choice(listed)
        start = rng.randrange(len(source))
        frames = source[start : start + rng.randint(1, 30)]
        if rng.random() < 0.4:
            other = rng.choice(listed)
            frames = frames + other[: rng.randint(1, 10)]
        query = noisy(rng, frames, rng.choice([0, 8, 16, 24, 32, 40]), rng.uniform(0, 100))
        yield f"clustered-{n}", query, listed


def main() -> None:
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    rng = random.Random(SEED)
    quality, distance = 50, 31
    lines = []
    for name, query, listed in cases(rng):
        results = []
        for video in listed:
            try:
                r = match_VPDQ_hash_brute(query, video, quality, distance)
                results.append(
                    {"query_match_percent": r.query_match_percent, "compared_match_percent": r.compared_match_percent}
                )
            except ZeroDivisionError:
                results.append(None)
        lines.append(
            json.dumps(
                {
                    "case": name,
                    "distance_tolerance": distance,
                    "quality_tolerance": quality,
                    "query": [str(f) for f in query],
                    "listed": [[str(f) for f in video] for video in listed],
                    "results": results,
                }
            )
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} cases to {out}")


if __name__ == "__main__":
    main()
