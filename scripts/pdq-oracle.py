#!/usr/bin/env python3
"""Reference PDQ hashes for the test images, from Meta's C++ PDQ (PyPI pdqhash).

The Rust port in crates/hash must reproduce these bit for bit. Each image is decoded the way
our reference pipeline does it: Pillow, first frame, convert("RGB") (alpha dropped, EXIF
orientation and ICC profiles ignored), then pdqhash.compute and pdqhash.compute_dihedral
(which compute luma themselves: float64 0.299 R + 0.587 G + 0.114 B, cast to float32).
Writes one JSON object per image, sorted by path:
  path, sha256 (file), width, height, pil_mode, format, pdq (64 hex), quality,
  dihedral (8 x 64 hex: original, rot90, rot180, rot270, flipX, flipY, flipPlus1,
  flipMinus1), dihedral_quality, rgb_sha256 (of the decoded H x W x 3 RGB bytes, row-major,
  so a mismatch can be pinned on the decoder or on the hash).
Usage (venv python from scripts/pyenv; images from scripts/test-images):
  pdq-oracle.py --out tests/golden/pdq-reference.jsonl [ROOT[=PREFIX] ...]
  pdq-oracle.py --check --out tests/golden/pdq-reference.jsonl   (exit 1 on any difference)
Default roots: tests/fixtures/images=fixtures/ and .cache/test-images (paths under it keep
their skimage/ or debian/ prefix).
"""
import argparse
import hashlib
import json
import pathlib
import sys
import time

try:
    import numpy as np
    import pdqhash
    from PIL import Image
except ImportError as e:
    sys.exit(f'pdq-oracle: {e}; run it with the oracle venv: "$(scripts/pyenv | tail -n1)" {sys.argv[0]}')

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_ROOTS = [f"{REPO}/tests/fixtures/images=fixtures/", f"{REPO}/.cache/test-images="]
EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def to_hex(bits):
    return "%064x" % int("".join(map(str, bits)), 2)


def record(rel, path):
    data = path.read_bytes()
    with Image.open(path) as img:
        img.seek(0)
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
        info = {"width": img.width, "height": img.height, "pil_mode": img.mode, "format": img.format}
    bits, quality = pdqhash.compute(rgb)
    dihedral, dihedral_quality = pdqhash.compute_dihedral(rgb)
    return {
        "path": rel,
        "sha256": hashlib.sha256(data).hexdigest(),
        **info,
        "pdq": to_hex(bits),
        "quality": int(quality),
        "dihedral": [to_hex(b) for b in dihedral],
        "dihedral_quality": int(dihedral_quality),
        "rgb_sha256": hashlib.sha256(rgb.tobytes()).hexdigest(),
    }


def images(roots):
    for spec in roots:
        root, _, prefix = spec.partition("=")
        root = pathlib.Path(root)
        if not root.is_dir():
            sys.exit(f"pdq-oracle: no such image root: {root} (run scripts/test-images?)")
        for p in root.rglob("*"):
            if p.is_file() and p.suffix.lower() in EXTENSIONS:
                yield prefix + p.relative_to(root).as_posix(), p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    ap.add_argument("roots", nargs="*", default=DEFAULT_ROOTS, metavar="ROOT[=PREFIX]")
    args = ap.parse_args()

    start, counts, lines = time.perf_counter(), {}, []
    for rel, path in sorted(images(args.roots)):
        lines.append(json.dumps(record(rel, path)) + "\n")
        group = rel.split("/")[0]
        counts[group] = counts.get(group, 0) + 1
    took = time.perf_counter() - start
    summary = ", ".join(f"{n} {g}" for g, n in counts.items())
    print(f"pdq-oracle: {len(lines)} images ({summary}) in {took:.1f} s, "
          f"{1000 * took / max(1, len(lines)):.0f} ms/image", file=sys.stderr)

    if not args.check:
        args.out.write_text("".join(lines))
        return 0
    old = {r["path"]: r for r in map(json.loads, args.out.read_text().splitlines())}
    new = {r["path"]: r for r in map(json.loads, lines)}
    bad = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
    for p in bad:
        if p not in old or p not in new:
            print(f"pdq-oracle: {p}: only in {'the file' if p in old else 'the images'}", file=sys.stderr)
            continue
        for k in sorted(old[p].keys() | new[p].keys()):
            if old[p].get(k) != new[p].get(k):
                print(f"pdq-oracle: {p}: {k}: file {old[p].get(k)} != now {new[p].get(k)}", file=sys.stderr)
    if bad:
        print(f"pdq-oracle: {len(bad)} of {len(new)} records differ from {args.out}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
