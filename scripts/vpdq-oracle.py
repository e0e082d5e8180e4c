#!/usr/bin/env python3
"""Reference vPDQ hashes of test videos, from Meta's C++ vPDQ (PyPI vpdq, built by scripts/pyenv
against this machine's FFmpeg), and the reference matcher (python-threatexchange).

Hashing (default): for each clip in DIR (the files of DIR/manifest.json when there is one,
else every file not ending in .json/.jsonl), for each seconds-per-hash S, runs
vpdq.computeHash(path, seconds_per_hash=S, thread_count=1) and writes one JSON line:
  {"file": name, "seconds_per_hash": S,
   "features": [{"frame": n, "hex": "...", "quality": q, "timestamp": t}, ...], "error": null}
or, when the reference fails, "features": [] and "error": the exception text. Timestamps are the
reference's single-precision values (frame / (float) frame rate) widened to double, written at
full precision (repr). The hashes are bit-exact only against the same FFmpeg build.

Matching (--match PAIRS.jsonl): each input line is an object with "query" and "compared", lists
of compact features ("<hex>,<quality>,<timestamp>" strings, as python-threatexchange serialises
them, or {"hex", "quality", "timestamp"} objects), optionally "quality_tolerance" (default 50)
and "distance_tolerance" (default 31); any other keys (e.g. "id") are copied to the output.
Writes one JSON line per pair with "query_match_percent" and "compared_match_percent" from
threatexchange's match_VPDQ_hash_brute, or both null with "error" when the reference raises
(ZeroDivisionError when either list is empty after de-duplication and the quality filter).

Usage (venv python from scripts/pyenv; clips from scripts/test-videos):
  vpdq-oracle.py [DIR] [--out FILE] [--seconds-per-hash S ...]
  vpdq-oracle.py --match PAIRS.jsonl [--out FILE]     (default output: stdout)
Defaults: DIR .cache/videos, --out DIR/oracle.jsonl, seconds per hash 1.0 and 0.0.
"""
import argparse
import json
import pathlib
import sys
import time

try:
    import vpdq
except ImportError as e:
    sys.exit(f'vpdq-oracle: {e}; run it with the oracle venv: "$(scripts/pyenv | tail -n1)" {sys.argv[0]}')

REPO = pathlib.Path(__file__).resolve().parent.parent


def clips(directory):
    manifest = directory / "manifest.json"
    if manifest.is_file():
        return [e["file"] for e in json.loads(manifest.read_text())]
    return sorted(p.name for p in directory.iterdir()
                  if p.is_file() and not p.name.startswith(".") and p.suffix not in (".json", ".jsonl"))


def hash_clip(path, seconds_per_hash):
    try:
        features = vpdq.computeHash(str(path), seconds_per_hash=seconds_per_hash, thread_count=1)
    except Exception as e:  # the reference raises a bare Exception when hashing fails
        return [], f"{type(e).__name__}: {e}"
    return [{"frame": f.frame_number, "hex": f.hex, "quality": f.quality, "timestamp": f.timestamp}
            for f in features], None


def hash_mode(args):
    directory = pathlib.Path(args.dir)
    out = pathlib.Path(args.out) if args.out else directory / "oracle.jsonl"
    rates = args.seconds_per_hash or [1.0, 0.0]
    started = time.monotonic()
    lines = []
    for name in clips(directory):
        for s in rates:
            features, error = hash_clip(directory / name, s)
            lines.append(json.dumps({"file": name, "seconds_per_hash": s, "features": features, "error": error}))
    out.write_text("".join(line + "\n" for line in lines))
    print(f"vpdq-oracle: {len(lines)} lines to {out} ({time.monotonic() - started:.1f} s)", file=sys.stderr)


def compact(item, feature_type):
    if isinstance(item, str):
        return feature_type.from_str(item)
    return feature_type(item["hex"], int(item["quality"]), float(item["timestamp"]))


def match_mode(args):
    try:
        from threatexchange.extensions.vpdq.vpdq_brute_matcher import match_VPDQ_hash_brute
        from threatexchange.extensions.vpdq.vpdq_util import VpdqCompactFeature
    except ImportError as e:
        sys.exit(f"vpdq-oracle --match: python-threatexchange is not installed ({e})")
    out = open(args.out, "w") if args.out else sys.stdout
    with open(args.match) as pairs:
        for line in pairs:
            if not line.strip():
                continue
            pair = json.loads(line)
            query = [compact(x, VpdqCompactFeature) for x in pair.pop("query")]
            compared = [compact(x, VpdqCompactFeature) for x in pair.pop("compared")]
            quality = pair.setdefault("quality_tolerance", 50)
            distance = pair.setdefault("distance_tolerance", 31)
            try:
                r = match_VPDQ_hash_brute(query, compared, quality, distance)
                pair.update(query_match_percent=r.query_match_percent,
                            compared_match_percent=r.compared_match_percent, error=None)
            except ZeroDivisionError as e:
                pair.update(query_match_percent=None, compared_match_percent=None,
                            error=f"{type(e).__name__}: {e}")
            out.write(json.dumps(pair) + "\n")
    out.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default=str(REPO / ".cache" / "videos"))
    ap.add_argument("--out")
    ap.add_argument("--seconds-per-hash", type=float, action="append",
                    help="repeatable; default 1.0 and 0.0 (every frame)")
    ap.add_argument("--match", metavar="PAIRS.jsonl", help="match pairs of compact feature lists instead")
    args = ap.parse_args()
    if args.match:
        match_mode(args)
    else:
        hash_mode(args)


if __name__ == "__main__":
    main()
