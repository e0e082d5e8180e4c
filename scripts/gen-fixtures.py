#!/usr/bin/env python3
"""Generates the small synthetic PDQ test images in tests/fixtures/images/ (committed, CC0).

They cover what real photographs rarely do: the PDQ edge cases (below 5 px, exactly 64x64,
odd and extreme aspect ratios, flat images), every Pillow mode and container we decode
(L, LA, P, RGBA, 16-bit, CMYK, JPEG, GIF, WebP, BMP) and bordered variants of one picture.
Deterministic: fixed seeds, pinned numpy and Pillow (scripts/requirements-oracle.txt), so a
rerun rewrites identical bytes. It removes stale images and rewrites the README listing.
Usage: "$(scripts/pyenv | tail -n1)" scripts/gen-fixtures.py
"""
import pathlib
import sys

try:
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter
except ImportError as e:
    sys.exit(f'gen-fixtures: {e}; run it with the oracle venv: "$(scripts/pyenv | tail -n1)" {sys.argv[0]}')

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "images"


def gradient(w, h):
    """Smooth RGB ramps: red along x, green along y, blue along the diagonal."""
    x = np.linspace(0, 255, w)[None, :]
    y = np.linspace(0, 255, h)[:, None]
    rgb = [x + 0 * y, y + 0 * x, (x + y) / 2]
    return Image.fromarray(np.stack(rgb, axis=2).round().astype(np.uint8))


def noise(w, h, seed):
    """Uniform random RGB, one independent byte per channel."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def checker(w, h, cell, a=(20, 30, 40), b=(230, 220, 200)):
    yy, xx = np.mgrid[0:h, 0:w]
    on = ((xx // cell + yy // cell) % 2).astype(bool)
    return Image.fromarray(np.where(on[..., None], np.uint8(a), np.uint8(b)))


def photo_like(w, h, seed, grain=0, smooth=False, blur=1):
    """Blurred shapes over a soft background (upsampled coarse noise, or for large, small-on-
    disk images the smooth ramps), with optional fine grain shared by all channels."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, h // 48), max(2, w // 48), 3), dtype=np.uint8)
    if smooth:
        img = gradient(w, h)
    else:
        img = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(10):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(min(w, h) // 12 + 1, min(w, h) // 4 + 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((cx - r, cy - r // 2, cx + r, cy + r), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(blur))
    if grain:
        arr = np.asarray(img, dtype=np.int16) + rng.integers(-grain, grain + 1, (h, w, 1))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return img


def bordered(img, colour):
    """Pads img with a uniform border 10 % of its width/height on every side."""
    w, h = img.size
    bx, by = w // 10, h // 10
    out = Image.new("RGB", (w + 2 * bx, h + 2 * by), colour)
    out.paste(img, (bx, by))
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        if old.name != "README.md":
            old.unlink()
    notes = []

    def save(name, img, note, **kw):
        img.save(OUT / name, **kw)
        notes.append((name, note))

    base = photo_like(160, 120, seed=7, grain=1)
    # Smooth, noise, checkerboard, photo-like content.
    save("gradient-rgb-256x256.png", gradient(256, 256), "smooth RGB ramps")
    save("noise-rgb-seed1-96x80.png", noise(96, 80, 1), "uniform random RGB (seed 1)")
    save("checker-8px-256x256.png", checker(256, 256, 8), "checkerboard, 8 px cells")
    save("checker-1px-128x96.png", checker(128, 96, 1), "1 px checkerboard (aliasing worst case)")
    save("checker-13px-300x200.png", checker(300, 200, 13), "checkerboard, 13 px cells, not a multiple of 64")
    save("photo-like-seed7-160x120.png", base, "photo-like: blurred colour field + shapes + grain; the base of the format, mode and border variants")
    # PDQ size edge cases (reference: hash 0 and quality 0 below 5 px in either dimension).
    save("tiny-noise-4x4.png", noise(4, 4, 2), "below the 5 px minimum")
    save("tiny-gradient-4x100.png", gradient(4, 100), "4 px wide: below the minimum")
    save("tiny-gradient-100x4.png", gradient(100, 4), "4 px high: below the minimum")
    save("min-noise-5x5.png", noise(5, 5, 3), "smallest hashable size")
    save("min-gradient-5x300.png", gradient(5, 300), "5 px wide, tall")
    save("min-gradient-300x5.png", gradient(300, 5), "5 px high, wide")
    save("exact-photo-like-64x64.png", photo_like(64, 64, seed=11), "exactly 64x64: reference skips the downsampling blur in compute()")
    save("exact-noise-64x64.png", noise(64, 64, 4), "exactly 64x64, noise")
    save("exact-checker-8px-64x64.png", checker(64, 64, 8), "exactly 64x64: compute() and dihedral[0] differ in many bits (tied DCT values)")
    save("exact-gradient-64x64.png", gradient(64, 64), "exactly 64x64: compute() and dihedral[0] differ in 2 bits")
    save("odd-photo-like-63x65.png", photo_like(63, 65, seed=12), "just off 64x64 in both directions")
    save("odd-photo-like-65x63.png", photo_like(65, 63, seed=13), "just off 64x64, transposed")
    save("strip-photo-like-1000x7.png", photo_like(1000, 7, seed=14), "extreme aspect ratio")
    save("large-scene-800x600.png", photo_like(800, 600, 15, smooth=True, blur=2), "800x600: blurred shapes over smooth ramps")
    save("large-scene-1280x720.png", photo_like(1280, 720, 16, smooth=True, blur=2), "1280x720: blurred shapes over smooth ramps")
    save("flat-grey-128x96.png", Image.new("RGB", (128, 96), (128, 128, 128)), "single colour: degenerate, quality 0")
    save("flat-teal-64x64.png", Image.new("RGB", (64, 64), (0, 128, 128)), "single colour at exactly 64x64")
    # Pillow modes, all from the same picture.
    save("photo-like-mode-L.png", base.convert("L"), "greyscale PNG (mode L)")
    rgba = base.copy()
    alpha = np.asarray(gradient(160, 120))[..., 0].copy()
    alpha[:, :24] = 0  # fully transparent band: its RGB is still the picture
    rgba.putalpha(Image.fromarray(alpha))
    save("photo-like-mode-RGBA.png", rgba, "RGBA PNG, alpha ramp and a transparent band (decoders drop alpha)")
    la = base.convert("L")
    la.putalpha(Image.fromarray(alpha))
    save("photo-like-mode-LA.png", la, "grey + alpha PNG (mode LA)")
    pal = base.quantize(64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    save("photo-like-mode-P.png", pal, "palette PNG (mode P), 64 colours")
    deep = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    save("photo-like-mode-I16.png", Image.fromarray(deep), "16-bit greyscale PNG (Pillow: mode I;16; convert('RGB') clips, does not scale)")
    save("photo-like-cmyk-q90.jpg", base.convert("CMYK"), "CMYK JPEG", quality=90)
    # Containers and codecs, same picture.
    save("photo-like-q95.jpg", base, "JPEG quality 95", quality=95)
    save("photo-like-q75.jpg", base, "JPEG quality 75, 4:2:0", quality=75)
    save("photo-like-gray-q90.jpg", base.convert("L"), "greyscale JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("photo-like-exif-orientation6-q90.jpg", base, "JPEG with EXIF Orientation 6 (hashed as stored, not rotated)", quality=90, exif=exif)
    frames = [pal, checker(160, 120, 16).quantize(8)]
    save("photo-like-2frames.gif", frames[0], "GIF, 2 frames: the first is hashed", save_all=True, append_images=frames[1:], duration=100, loop=0)
    save("photo-like-lossless.webp", base, "lossless WebP", lossless=True, quality=100, method=6)
    save("photo-like.bmp", base, "24-bit BMP")
    # Bordered variants.
    for colour, rgb in [("black", (0, 0, 0)), ("white", (255, 255, 255)), ("mid", (96, 128, 160))]:
        save(f"photo-like-border10-{colour}.png", bordered(base, rgb), f"base padded with a 10 % {colour} {rgb} border")

    lines = [
        "# PDQ test fixtures",
        "",
        "Synthetic images generated by `scripts/gen-fixtures.py` (fixed seeds; pinned numpy and",
        "Pillow). They are this project's own work, dedicated to the public domain under",
        "[CC0 1.0](https://creativecommons.org/publicdomain/zero/1.0/). Their reference PDQ",
        "hashes are in `tests/golden/pdq-reference.jsonl` (`scripts/pdq-oracle.py`).",
        "",
        "Sizes are width x height; mode is the Pillow mode as opened. Regenerate with",
        '`"$(scripts/pyenv | tail -n1)" scripts/gen-fixtures.py`.',
        "",
        "| file | size | mode | what it is |",
        "| --- | --- | --- | --- |",
    ]
    for name, note in notes:
        with Image.open(OUT / name) as im:
            lines.append(f"| `{name}` | {im.width}x{im.height} | {im.mode} | {note} |")
    (OUT / "README.md").write_text("\n".join(lines) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(notes)} images, {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
