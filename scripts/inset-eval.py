#!/usr/bin/env python3
"""Blurred-fill framing (issue #23): how often vigil finds a picture that was re-posted on a
blurred, enlarged copy of itself, by query form, against Meta's plain PDQ; how often the inset
detector fires on plain photos; what detection costs. Run through scripts/inset-eval.

Photos: the skimage/ and debian/ photographs of tests/golden/pdq-reference.jsonl with
reference quality >= 50 (scripts/test-images) and the wallpapers of Debian's ukui-wallpapers
and lomiri-wallpapers-20.04 (.cache/inset-photos/, fetched by the wrapper). Each is first
downscaled to at most 1280 px. They are split in two halves by a hash of their name: `tune`
(the only half to look at while choosing InsetOptions' defaults) and `eval` (the default: what
docs/detection.md reports).

Per photo, COMPOSITES composites from a generator seeded by (--seed, photo, index):
  layout     portrait_in_16x9: a portrait crop (9:16, 3:4 or 4:5) in a 1280x720 or 1920x1080
             canvas; landscape_in_9x16: a landscape crop (16:9, 4:3, 3:2) in 720x1280 or
             1080x1920; square: a landscape or portrait crop in 720x720 or 1080x1080
  blur       the picture scaled to cover the canvas, Gaussian-blurred with a radius of 1 %,
             2 % or 4 % of the canvas's short side
  tint       none, darkened to 60 %, or half desaturated and darkened to 80 %
  margin     the picture fits the canvas, or leaves 4 % of it free on every side
  shadow     none, or a soft dark drop shadow under the picture
  jpeg       the composite saved as JPEG at quality 92, 80 or 65
The crop (a PNG) is the original: what a hash list holds is vigil's plain `pdq` of it.

A composite is found when some query of `vigil hash --queries` is within 31 bits of the
original's hash (what `vigil match` does); "before" counts the forms vigil had before the
inset detector (whole picture, rotations, trimmed), "after" all of them. Meta: pdqhash of the
composite against pdqhash of the original, no other form (what HMA does).
False detections: the fraction of plain photos (the downscaled photos and the crops) that get
an `inset` query. Cost: `inset-probe` (crates/hash/examples) times inset_box and a PDQ hash of
each file's decoded pixels (median of 5 runs each).
Writes .cache/inset-eval/<split>/results.json; prints Markdown.
"""
import argparse
import hashlib
import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict

try:
    import numpy as np
    import pdqhash
    from PIL import Image, ImageEnhance, ImageFilter
except ImportError as e:
    sys.exit(f'inset-eval: {e}; run it through scripts/inset-eval (the oracle venv)')

REPO = pathlib.Path(__file__).resolve().parent.parent
IMAGES, EXTRA = REPO / ".cache/test-images", REPO / ".cache/inset-photos"
THRESHOLD, MIN_QUALITY, MAX_SIDE, COMPOSITES = 31, 50, 1280, 6
LAYOUTS = ("portrait_in_16x9", "landscape_in_9x16", "square")
BLURS = (0.01, 0.02, 0.04)
TINTS = ("none", "dark", "desaturated")
JPEGS = (92, 80, 65)


def photos():
    rows = [json.loads(line) for line in (REPO / "tests/golden/pdq-reference.jsonl").open()]
    paths = sorted(IMAGES / r["path"] for r in rows
                   if r["path"].split("/")[0] in ("skimage", "debian") and r["quality"] >= MIN_QUALITY)
    if EXTRA.is_dir():
        paths += sorted(p for p in EXTRA.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return paths


def half(path):
    name = str(path.relative_to(REPO))
    return "tune" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "eval"


def load(path):
    with Image.open(path) as img:
        img.seek(0)
        rgb = img.convert("RGB")
    if max(rgb.size) > MAX_SIDE:
        f = MAX_SIDE / max(rgb.size)
        rgb = rgb.resize((max(1, round(rgb.width * f)), max(1, round(rgb.height * f))), Image.LANCZOS)
    return rgb


def crop_to(img, aspect):  # aspect = width / height, centred crop
    w, h = img.size
    if w / h > aspect:
        nw = round(h * aspect)
        return img.crop(((w - nw) // 2, 0, (w - nw) // 2 + nw, h))
    nh = round(w / aspect)
    return img.crop((0, (h - nh) // 2, w, (h - nh) // 2 + nh))


def cover(img, size):
    cw, ch = size
    f = max(cw / img.width, ch / img.height)
    big = img.resize((max(cw, round(img.width * f)), max(ch, round(img.height * f))), Image.BILINEAR)
    x, y = (big.width - cw) // 2, (big.height - ch) // 2
    return big.crop((x, y, x + cw, y + ch))


def composite(photo, rng):
    """One blurred-fill composite: (original crop, composite image, settings, true box)."""
    layout = rng.choice(LAYOUTS)
    if layout == "portrait_in_16x9":
        aspect, canvas = rng.choice((9 / 16, 3 / 4, 4 / 5)), rng.choice(((1280, 720), (1920, 1080)))
    elif layout == "landscape_in_9x16":
        aspect, canvas = rng.choice((16 / 9, 4 / 3, 3 / 2)), rng.choice(((720, 1280), (1080, 1920)))
    else:
        aspect, canvas = rng.choice((16 / 9, 4 / 3, 3 / 4)), rng.choice(((720, 720), (1080, 1080)))
    settings = {"layout": layout, "blur": rng.choice(BLURS), "tint": rng.choice(TINTS),
                "margin": rng.choice((0.0, 0.04)), "shadow": rng.random() < 0.3,
                "jpeg": rng.choice(JPEGS)}
    original = crop_to(photo, aspect)
    cw, ch = canvas
    bg = cover(original, canvas).filter(ImageFilter.GaussianBlur(settings["blur"] * min(canvas)))
    if settings["tint"] == "dark":
        bg = ImageEnhance.Brightness(bg).enhance(0.6)
    elif settings["tint"] == "desaturated":
        bg = ImageEnhance.Brightness(ImageEnhance.Color(bg).enhance(0.5)).enhance(0.8)
    m = settings["margin"]
    aw, ah = cw * (1 - 2 * m), ch * (1 - 2 * m)
    f = min(aw / original.width, ah / original.height)
    pw, ph = round(original.width * f), round(original.height * f)
    x, y = (cw - pw) // 2, (ch - ph) // 2
    if settings["shadow"]:
        r = max(3, round(min(canvas) * 0.008))
        mask = Image.new("L", canvas, 0)
        mask.paste(150, (x, y + r, x + pw, y + ph + r))
        mask = mask.filter(ImageFilter.GaussianBlur(r))
        bg = Image.composite(Image.new("RGB", canvas, (0, 0, 0)), bg, mask)
    bg.paste(original.resize((pw, ph), Image.LANCZOS), (x, y))
    return original, bg, settings, [x, y, pw, ph]


def ref_hash(img):
    bits, quality = pdqhash.compute(np.asarray(img.convert("RGB"), dtype=np.uint8))
    return int("".join(map(str, bits)), 2), quality


def dist(a, b):
    return (a ^ b).bit_count()


def run(cmd, paths, chunks):
    outs = [tempfile.TemporaryFile("w+") for _ in range(chunks)]
    procs = [subprocess.Popen([*cmd, *paths[i::chunks]], stdout=out, cwd=REPO)
             for i, out in enumerate(outs)]
    for p, out in zip(procs, outs):
        p.wait()
        out.seek(0)
    recs = [json.loads(line) for out in outs for line in out]
    assert len(recs) == len(paths), f"{cmd[0]} printed {len(recs)} records for {len(paths)} files"
    return {r["path"]: r for r in recs}


def form(variant):
    if variant.startswith("inset"):
        return "inset"
    return "trimmed" if variant.startswith("trimmed") else "whole"


def probe_only(args, cases, plain):
    probe = run([args.probe], [c["composite"] for c in cases] + plain, 1)
    good, lines = 0, []
    for c in cases:
        got, (x, y, w, h) = probe[c["composite"]].get("inset"), c["box"]
        err = None if not got else max(abs(got[0] - x) / w, abs(got[0] + got[2] - x - w) / w,
                                        abs(got[1] - y) / h, abs(got[1] + got[3] - y - h) / h)
        good += err is not None and err <= 0.01
        lines.append(f"{c['name']} {c['settings']} truth {c['box']} got {got} err {err if err is None else round(err, 3)}")
    fired = [p for p in plain if probe[p].get("inset")]
    print("\n".join(lines))
    print(f"boxes within 1 %: {good}/{len(cases)}; fired on plain: {len(fired)}/{len(plain)}: "
          + ", ".join(f"{pathlib.Path(p).stem} {probe[p]['inset']}" for p in fired))
    for key in ("inset_ms", "pdq_ms"):
        print(key, statistics.median(probe[p][key] for p in probe))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("tune", "eval"), default="eval")
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--vigil", default=os.environ.get("VIGIL", str(REPO / "target/debug/vigil")))
    ap.add_argument("--probe", default=os.environ.get("INSET_PROBE"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--probe-only", action="store_true",
                    help="tuning: only the probe's boxes against the true boxes, no vigil run")
    args = ap.parse_args()
    out = REPO / ".cache/inset-eval" / args.split
    (out / "originals").mkdir(parents=True, exist_ok=True)
    (out / "composites").mkdir(parents=True, exist_ok=True)
    (out / "plain").mkdir(parents=True, exist_ok=True)

    chosen = [p for p in photos() if half(p) == args.split]
    cache = out / "cases.json"
    key = {"seed": args.seed, "photos": [str(p) for p in chosen], "script": hashlib.sha256(
        pathlib.Path(__file__).read_bytes().split(b"\ndef ref_hash")[0]).hexdigest()}
    if cache.exists() and json.loads(cache.read_text())["key"] == key:
        cached = json.loads(cache.read_text())
        cases, plain = cached["cases"], cached["plain"]
    else:
        cases, plain = generate(args, out, chosen)
        cache.write_text(json.dumps({"key": key, "cases": cases, "plain": plain}))
    downscaled = list(plain)
    plain += [c["original"] for c in cases]
    if args.probe_only:
        return probe_only(args, cases, plain)

    recs = run([args.vigil, "hash", "--algorithms", "pdq", "--queries"],
               [c["original"] for c in cases] + [c["composite"] for c in cases] + downscaled, args.jobs)
    rest_of_main(args, chosen, cases, plain, recs)
    return 0


def generate(args, out, chosen):
    cases, plain = [], []
    for p in chosen:
        name = str(p.relative_to(REPO)).split("/", 2)[-1].rsplit(".", 1)[0].replace("/", "__")
        photo = load(p)
        path = out / "plain" / f"{name}.png"
        photo.save(path, compress_level=1)
        plain.append(str(path))
        for i in range(COMPOSITES):
            rng = random.Random(f"{args.seed}/{name}/{i}")
            original, comp, settings, box = composite(photo, rng)
            opath = out / "originals" / f"{name}__{i}.png"
            cpath = out / "composites" / f"{name}__{i}.jpg"
            original.save(opath, compress_level=1)
            comp.save(cpath, "JPEG", quality=settings["jpeg"])
            with Image.open(cpath) as back:
                meta = dist(ref_hash(back)[0], ref_hash(original)[0])
            cases.append({"name": f"{name}__{i}", "original": str(opath), "composite": str(cpath),
                          "settings": settings, "box": box, "meta": meta})
    return cases, plain


def rest_of_main(args, chosen, cases, plain, recs):
    out = REPO / ".cache/inset-eval" / args.split
    for c in cases:
        listed = int(recs[c["original"]]["pdq"], 16)
        best = defaultdict(lambda: 256)
        for q in recs[c["composite"]].get("pdq_queries", []):
            f = form(q["variant"])
            best[f] = min(best[f], dist(int(q["pdq"], 16), listed))
        c["best"] = dict(best)
        c["before"] = min(best["whole"], best["trimmed"]) <= THRESHOLD
        c["after"] = min(best.values()) <= THRESHOLD
        c["inset_fired"] = "inset" in best
    fired = [p for p in plain if any(form(q["variant"]) == "inset" for q in recs[p].get("pdq_queries", []))]

    probe = {}
    if args.probe:
        probe = run([args.probe], [c["composite"] for c in cases] + plain, 1)
        for c in cases:
            c["probe_box"] = probe[c["composite"]].get("inset")

    def recall(sub, key):
        return sum(key(c) for c in sub) / max(1, len(sub))

    def row(label, sub):
        return (f"| {label} | {len(sub)} | {recall(sub, lambda c: c['meta'] <= THRESHOLD):.3f} "
                f"| {recall(sub, lambda c: c['before']):.3f} | **{recall(sub, lambda c: c['after']):.3f}** "
                f"| {recall(sub, lambda c: c['best'].get('inset', 256) <= THRESHOLD):.3f} "
                f"| {recall(sub, lambda c: c['inset_fired']):.3f} |")

    lines = [f"Blurred-fill framing, split `{args.split}`, seed {args.seed}: {len(chosen)} photos, "
             f"{len(cases)} composites (match: distance <= {THRESHOLD})", "",
             "| setting | composites | Meta (pdqhash) | vigil before (whole, trimmed) | vigil after "
             "(+ inset) | inset form alone | inset box found |", "|---|---|---|---|---|---|---|",
             row("all", cases)]
    for key, values in (("layout", LAYOUTS), ("blur", BLURS), ("tint", TINTS), ("margin", (0.0, 0.04)),
                        ("shadow", (False, True)), ("jpeg", JPEGS)):
        for v in values:
            label = f"{key} {v:.0%}" if key in ("blur", "margin") else f"{key} {v}"
            if key == "blur":
                label += " of short side"
            lines.append(row(label, [c for c in cases if c["settings"][key] == v]))
    lines += ["", f"False inset detections on plain photos: {len(fired)}/{len(plain)} "
              f"({len(fired) / max(1, len(plain)):.1%}; {len(chosen)} downscaled photos and "
              f"{len(cases)} crops)" + (": " + ", ".join(pathlib.Path(p).stem for p in fired[:20]) if fired else "")]
    if probe:
        for label, paths in (("composites", [c["composite"] for c in cases]), ("plain photos", plain)):
            inset = [probe[p]["inset_ms"] for p in paths]
            pdq = [probe[p]["pdq_ms"] for p in paths]
            ratio = [probe[p]["inset_ms"] / max(1e-9, probe[p]["pdq_ms"]) for p in paths]
            lines.append(f"Cost on {label}: inset_box median {statistics.median(inset):.2f} ms "
                         f"(max {max(inset):.2f}), PDQ of the same pixels median {statistics.median(pdq):.2f} ms; "
                         f"detection / PDQ median {statistics.median(ratio):.1%}")
    misses = [c for c in cases if not c["after"]]
    lines += ["", f"Missed ({len(misses)}): " + ", ".join(
        f"{c['name']} (best {min(c['best'].values())}, inset {'fired' if c['inset_fired'] else 'silent'})"
        for c in misses[:40])]
    print("\n".join(lines))
    (out / "results.json").write_text(json.dumps({"split": args.split, "seed": args.seed, "cases": cases,
                                                   "plain": plain, "fired": fired}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
