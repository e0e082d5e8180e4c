#!/usr/bin/env python3
"""Generates vigil's example data, and the expected matches as an independent oracle.

Writes (all derived from this script alone; CC0, see examples/README.md):
  examples/images/*.png          small synthetic images
  examples/lists/sample-hashes.csv
  examples/dms.jsonl             messages: some with listed images, some with listed phrases
  tests/golden/example-matches.json
                                 what `vigil scan examples/dms.jsonl` must find, computed here
                                 with Python's hashlib and str (not with vigil's code)

The keyword list (examples/lists/sample-keywords.csv) is hand-written and read here.
Run from anywhere: python3 scripts/gen-examples.py
"""
import base64
import csv
import hashlib
import json
import math
import os
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples")


def png(width, height, pixel):
    """A truecolour PNG; pixel(x, y) -> (r, g, b)."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            raw.extend(pixel(x, y))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield state >> 56


def clamp(v):
    return max(0, min(255, int(v)))


def sunset(x, y):
    s = math.sin((x + 2 * y) / 5.0)
    return clamp(200 + 50 * s), clamp(80 + 3 * y), clamp(40 + 2 * x)


def checker(x, y):
    on = ((x // 6) + (y // 6)) % 2
    return (230, 230, 60) if on else (30, 60, 160)


def rings(x, y):
    r = math.hypot(x - 24, y - 24)
    v = 128 + 127 * math.cos(r / 2.0)
    return clamp(v), clamp(255 - v), clamp(v / 2 + 60)


def noise_image(seed):
    rand = lcg(seed)
    values = [next(rand) for _ in range(48 * 48 * 3)]
    return lambda x, y: tuple(values[(y * 48 + x) * 3:(y * 48 + x) * 3 + 3])


IMAGES = {
    "sunset": png(48, 48, sunset),
    "checker": png(48, 48, checker),
    "rings": png(48, 48, rings),
    "noise": png(48, 48, noise_image(7)),
}

# Which images are listed, under which algorithm, entry and category (IWF-style A/B/C).
LISTED = [
    ("sha256", "sunset", "iwf-000101", "A", "critical"),
    ("md5", "checker", "ncmec-55012", "B", "high"),
    ("sha1", "rings", "own-2026-0007", "C", ""),
]


def digest(algorithm, data):
    return hashlib.new(algorithm, data).hexdigest()


def write_lists():
    path = os.path.join(EX, "lists", "sample-hashes.csv")
    rand = lcg(99)
    with open(path, "w", newline="") as f:
        f.write("# Sample hash list for vigil's examples (synthetic images; see examples/README.md)\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["algorithm", "hash", "entry_id", "category", "severity", "source", "added_at"])
        for algorithm, image, entry, category, severity in LISTED:
            w.writerow([algorithm, digest(algorithm, IMAGES[image]), entry, category, severity,
                        "example", "2026-11-01"])
        # Decoys: hashes of bytes that appear in no message.
        for i, algorithm in enumerate(["sha256", "md5", "sha1", "sha256"]):
            decoy = bytes(next(rand) for _ in range(64))
            w.writerow([algorithm, digest(algorithm, decoy), f"decoy-{i}", "B", "", "example",
                        "2026-11-01"])
    return path


def attachment(attachment_id, image):
    return {"attachment_id": attachment_id, "media_type": "image/png",
            "data": base64.b64encode(IMAGES[image]).decode()}


# (text, attachments, expected keyword rule ids). Hash matches follow from LISTED.
MESSAGES = [
    ("hey, are we still on for football practice tomorrow?", [], []),
    ("look at this", [("a1", "sunset")], []),
    ("you can tell me anything. but keep this a secret, ok?", [], ["kw-secrecy-001"]),
    ("my drawing from art class", [("a1", "noise")], []),
    ("ARE YOU HOME ALONE right now?", [], ["kw-isolation-001"]),
    ("we used a sextant on my grandad's boat", [], []),
    ("lol", [("a1", "checker"), ("a2", "noise")], []),
    ("Add me on Snapchat, it's easier", [], ["kw-platform-001"]),
    ("I told the secretary to keep the meeting short", [], []),
    (None, [("img-9", "rings")], []),
    ("Happy birthday! \U0001F382 see you at 6", [], []),
    ("here. dont tell your parents", [("a1", "sunset")], ["kw-secrecy-003"]),
    ("what time does the bus leave?", [], []),
    ("can you send me the homework answers", [], []),
    ("don't tell mum I ate all the biscuits", [("a1", "noise")], []),
    ("the group photo is up on the class page", [], []),
]


def spans(text, term):
    folded, needle, found, at = text.lower(), term.lower(), [], 0
    while (i := folded.find(needle, at)) >= 0:
        found.append({"start": i, "end": i + len(needle)})
        at = i + 1
    assert found, (text, term)
    return found


def main():
    os.makedirs(os.path.join(EX, "images"), exist_ok=True)
    for name, data in IMAGES.items():
        with open(os.path.join(EX, "images", f"{name}.png"), "wb") as f:
            f.write(data)
    hash_list = write_lists()
    keyword_list = os.path.join(EX, "lists", "sample-keywords.csv")

    def version(path):
        with open(path, "rb") as f:
            return "sha256:" + hashlib.sha256(f.read()).hexdigest()[:12]

    with open(keyword_list, newline="") as f:
        rules = {r["rule_id"]: r for r in csv.DictReader(line for line in f if not line.startswith("#"))}

    listed = {image: (algorithm, entry, category, severity or "critical")
              for algorithm, image, entry, category, severity in LISTED}
    lines, expected = [], []
    for i, (text, attachments, rule_ids) in enumerate(MESSAGES, start=1):
        message = {
            "schema_version": 1,
            "message_id": f"msg-{i:04d}",
            "conversation_id": f"conv-{(i % 5) + 1:02d}",
            "sender_id": f"user-{100 + i % 7}",
            "recipient_ids": [f"user-{200 + i % 3}"] + ([f"user-{300 + i}"] if i % 4 == 0 else []),
            "sent_at": f"2026-11-26T07:{i:02d}:00Z",
        }
        if text is not None:
            message["text"] = text
        if attachments:
            message["attachments"] = [attachment(a, img) for a, img in attachments]
        lines.append(json.dumps(message, ensure_ascii=False))
        matches = []
        for attachment_id, image in attachments:
            if image in listed:
                algorithm, entry, category, severity = listed[image]
                matches.append({"detector": algorithm, "list": "sample-hashes",
                                "list_version": version(hash_list), "category": category,
                                "severity": severity, "attachment_id": attachment_id,
                                "entry_id": entry, "distance": 0})
        for rule_id in rule_ids:
            rule = rules[rule_id]
            matches.append({"detector": "keyword", "list": "sample-keywords",
                            "list_version": version(keyword_list), "category": rule["category"],
                            "severity": rule["severity"] or "medium", "rule_id": rule_id,
                            "spans": spans(text, rule["term"])})
        if matches:
            expected.append({"message_id": message["message_id"], "line": i, "matches": matches})
    with open(os.path.join(EX, "dms.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(ROOT, "tests", "golden", "example-matches.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{len(lines)} messages, {len(expected)} expected flags")


if __name__ == "__main__":
    main()
