#!/usr/bin/env python3
"""Compares Meta's published vPDQ hashes of its sample videos with the reference computed here.

Meta's hashes (facebook/ThreatExchange vpdq/sample-hashes/<video>.txt, lines
"frame,quality,hex,timestamp", every frame) were made with another FFmpeg build; this runs the
same reference (PyPI vpdq, built by scripts/pyenv against this machine's FFmpeg) on every video
of DIR that has such a file, at seconds_per_hash=0, and prints a Markdown table per video:
frames (here / Meta's), frames compared (same frame number), identical hashes, mean and max
Hamming distance per frame, quality differences, and python-threatexchange's brute matcher
with the oracle's features as the query and Meta's as the compared video (quality 50,
distance 31 by default).
Usage (venv python from scripts/pyenv):
  vpdq-meta-compare.py [DIR] [--hashes DIR] [--quality 50] [--distance 31]
Defaults: tests/fixtures/videos and tests/golden/vpdq-meta (three of Meta's sample videos; point
DIR at a checkout's tmk/sample-videos and --hashes at its vpdq/sample-hashes for all of them).
Exits 1 when no video has hashes.
"""
import argparse
import pathlib
import sys

try:
    import vpdq
except ImportError as e:
    sys.exit(f'vpdq-meta-compare: {e}; run it with the oracle venv: "$(scripts/pyenv | tail -n1)" {sys.argv[0]}')
try:
    from threatexchange.extensions.vpdq.vpdq_brute_matcher import match_VPDQ_hash_brute
    from threatexchange.extensions.vpdq.vpdq_util import VpdqCompactFeature
except ImportError:
    match_VPDQ_hash_brute = None

REPO = pathlib.Path(__file__).resolve().parent.parent


def read_meta(path):
    """{frame: (quality, hex, timestamp)} from Meta's "frame,quality,hex,timestamp" lines."""
    frames = {}
    for line in path.read_text().splitlines():
        if line.strip():
            frame, quality, hex_, timestamp = line.strip().split(",")
            frames[int(frame)] = (int(quality), hex_, float(timestamp))
    return frames


def hamming(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def brute(ours, meta, quality, distance):
    if match_VPDQ_hash_brute is None:
        return "n/a (no threatexchange)"
    query = [VpdqCompactFeature(f.hex, f.quality, f.timestamp) for f in ours]
    compared = [VpdqCompactFeature(h, q, t) for q, h, t in meta.values()]
    try:
        r = match_VPDQ_hash_brute(query, compared, quality, distance)
    except ZeroDivisionError:
        return "null (empty after filtering)"
    return f"{r.query_match_percent:.1f} / {r.compared_match_percent:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default=str(REPO / "tests" / "fixtures" / "videos"))
    ap.add_argument("--hashes", default=str(REPO / "tests" / "golden" / "vpdq-meta"))
    ap.add_argument("--quality", type=int, default=50)
    ap.add_argument("--distance", type=int, default=31)
    args = ap.parse_args()
    hashes = pathlib.Path(args.hashes)
    videos = [v for v in sorted(pathlib.Path(args.dir).iterdir())
              if v.is_file() and v.stat().st_size > 0 and (hashes / f"{v.stem}.txt").is_file()]
    if not videos:
        sys.exit(f"vpdq-meta-compare: no video in {args.dir} has hashes in {hashes}")
    print("| video | frames here / Meta | compared | identical | mean bits | max bits "
          f"| quality differs | brute match % here→Meta (q {args.quality}, d {args.distance}) |")
    print("|---|---|---|---|---|---|---|---|")
    for video in videos:
        meta = read_meta(hashes / f"{video.stem}.txt")
        try:
            ours = vpdq.computeHash(str(video), seconds_per_hash=0, thread_count=1)
        except Exception as e:
            print(f"| {video.name} | error: {e} | | | | | | |")
            continue
        pairs = [(f, meta[f.frame_number]) for f in ours if f.frame_number in meta]
        dists = [hamming(f.hex, m[1]) for f, m in pairs]
        mean = f"{sum(dists) / len(dists):.2f}" if dists else "-"
        print(f"| {video.name} | {len(ours)} / {len(meta)} | {len(pairs)} | {dists.count(0)} | {mean} "
              f"| {max(dists, default='-')} | {sum(f.quality != m[0] for f, m in pairs)} "
              f"| {brute(ours, meta, args.quality, args.distance)} |")


if __name__ == "__main__":
    main()
