#!/usr/bin/env python3
"""URL-list evaluation: recall per disguise and the benign false-positive rate, measured end
to end through the real CLI (`vigil scan` with `lists.url_lists`).

List:      --entries synthetic entries (seeded) in a CSV URL list: pages
           (https://host/dir/page.html), folders (host/dir/), whole domains (host) and IPv4
           pages (http://a.b.c.d/dir/page.html). Hosts are random labels under common TLDs,
           some with subdomains.
Positives: for every disguise, every entry (or --per-disguise of them): the link as a person
           would write it to that entry — a page as listed, a folder or domain with a deeper
           path below it — disguised, then inserted at a random word boundary of a random
           benign sentence. The expected span is the disguised link exactly; the expected
           match is the entry's id. Disguises are written here in Python, independently of
           vigil's code.
Benign:    sentences of Debian's `fortunes` package (as scripts/text-eval reads them) when
           .cache/text-eval/fortunes exists, plus generated sentences that carry ordinary URLs
           not on the list and domain-like words: file names, `e.g.`, `Mr.Smith`, version and
           decimal numbers, and e-mail addresses AT LISTED DOMAINS (an address is not a link).
Metrics:   recall (exact span) per disguise = positives flagged with the expected entry and a
           span equal to the expected one; benign FP rate = flagged benign / benign.
Output:    a Markdown table and a JSON summary (--json). With --assert, exit 1 unless every
           disguise's recall is >= 0.99 and the benign FP rate <= 0.001 (the CI test runs this).
Usage:     scripts/url-eval.py --vigil target/debug/vigil [--seed N] [--entries N]
                               [--per-disguise N] [--max-benign N] [--json PATH] [--assert]
"""
import argparse
import importlib.util
import ipaddress
import json
import pathlib
import random
import string
import subprocess
import sys
import tempfile
import urllib.parse

REPO = pathlib.Path(__file__).resolve().parent.parent
FORTUNES = REPO / ".cache/text-eval/fortunes"
TLDS = ["com", "net", "org", "info", "ru", "de", "io", "xyz", "top", "co.uk", "com.br", "onion"]


def label(rng, lo=4, hi=11):
    first = rng.choice(string.ascii_lowercase)
    rest = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(rng.randint(lo, hi) - 1))
    return first + rest


def make_entries(rng, n):
    """(entry_id, kind, listed text, host, path) per entry."""
    entries = []
    for i in range(n):
        kind = rng.choices(["page", "folder", "domain", "ip"], [5, 3, 2, 1])[0]
        if kind == "ip":
            host = str(ipaddress.IPv4Address(rng.randint(0x0B000000, 0xDF000000)))
        else:
            host = f"{label(rng)}.{rng.choice(TLDS)}"
            if rng.random() < 0.3:
                host = f"{label(rng, 2, 6)}.{host}"
        directory = "/".join(label(rng, 3, 8) for _ in range(rng.randint(1, 2)))
        if kind in ("page", "ip"):
            path = f"/{directory}/{label(rng)}.html"
            listed = f"{'http' if kind == 'ip' else 'https'}://{host}{path}"
        elif kind == "folder":
            path = f"/{directory}/"
            listed = f"{host}{path}"
        else:
            path = "/"
            listed = host
        entries.append((f"e-{i:05d}", kind, listed, host, path))
    return entries


def link_to(entry, rng):
    """(scheme, host, path) of a link a person would write to this entry."""
    _, kind, _, host, path = entry
    if kind in ("folder", "domain"):
        path = path + f"{label(rng, 3, 8)}/{label(rng)}.jpg"
    scheme = "http" if kind == "ip" else rng.choice(["http", "https"])
    return scheme, host, path


def is_ip(host):
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        return False


def fw(c):
    """The full-width form of an ASCII letter or digit."""
    return chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c


# Each disguise: (scheme, host, path, rng) -> the written link, or None when it does not apply.
def d_plain(s, h, p, rng):
    return f"{s}://{h}{p}"


def d_no_scheme(s, h, p, rng):
    return f"{h}{p}"


def d_upper_host(s, h, p, rng):
    return f"{s.upper()}://{h.upper()}{p}"


def d_hxxp(s, h, p, rng):
    return f"{s.replace('tt', 'xx')}://{h}{p}"


def d_stars(s, h, p, rng):
    return f"{s.replace('tt', '**')}://{h}{p}"


def d_bracket_dot(s, h, p, rng):
    return f"{s}://{h.replace('.', '[.]')}{p}"


def d_paren_dot(s, h, p, rng):
    return f"{h.replace('.', '(.)')}{p}"


def d_paren_word_dot(s, h, p, rng):
    return f"{h.replace('.', ' (dot) ')}{p}"


def d_word_dot(s, h, p, rng):
    if is_ip(h):
        return None
    return f"{h.replace('.', ' dot ')}{p}"


def d_spaced_dots(s, h, p, rng):
    if is_ip(h):
        return None
    return f"{h.replace('.', ' . ')}{p}"


def d_zero_width(s, h, p, rng):
    labels = h.split(".")
    out = []
    for lab in labels:
        if len(lab) > 1:
            i = rng.randint(1, len(lab) - 1)
            lab = lab[:i] + rng.choice(["\u200b", "\u200c", "\u00ad", "\u2060"]) + lab[i:]
        out.append(lab)
    return f"{s}://{'.'.join(out)}{p}"


def d_full_width(s, h, p, rng):
    return "".join(fw(c) for c in h).replace(".", "\uff0e") + p


def d_ideographic_dot(s, h, p, rng):
    return h.replace(".", "\u3002") + p


def d_percent_path(s, h, p, rng):
    escaped = "".join(c if c == "/" else f"%{ord(c):02X}" for c in p)
    return f"{s}://{h}{escaped}"


def d_ip_decimal(s, h, p, rng):
    if not is_ip(h):
        return None
    return f"http://{int(ipaddress.IPv4Address(h))}{p}"


def d_ip_hex(s, h, p, rng):
    if not is_ip(h):
        return None
    return f"http://0x{int(ipaddress.IPv4Address(h)):08x}{p}"


def d_query_fragment(s, h, p, rng):
    return f"{s}://{h}{p}?ref={label(rng)}#{label(rng)}"


def d_comma(s, h, p, rng):
    if is_ip(h):
        return None
    return f"{h.replace('.', ',')}{p}"


CYRILLIC = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
            "x": "\u0445", "y": "\u0443", "i": "\u0456"}


def d_cyrillic(s, h, p, rng):
    """Some Latin letters of the host replaced by Cyrillic look-alikes (each label keeps a
    Latin letter, as a mixed-script disguise does)."""
    labels = []
    for lab in h.split("."):
        spots = [i for i, c in enumerate(lab) if c in CYRILLIC]
        latin = [i for i, c in enumerate(lab) if c.isascii() and c.isalpha()]
        chosen = set(rng.sample(spots, min(len(spots), max(0, len(latin) - 1), 2)))
        labels.append("".join(CYRILLIC[c] if i in chosen else c for i, c in enumerate(lab)))
    out = ".".join(labels)
    return None if out == h else f"{s}://{out}{p}"


def d_mixed(s, h, p, rng):
    return f"{s.replace('tt', 'xx')}://{h.upper().replace('.', '[.]')}{p}"


DISGUISES = [
    d_plain, d_no_scheme, d_upper_host, d_hxxp, d_stars, d_bracket_dot, d_paren_dot,
    d_paren_word_dot, d_word_dot, d_spaced_dots, d_zero_width, d_full_width, d_ideographic_dot,
    d_percent_path, d_ip_decimal, d_ip_hex, d_query_fragment, d_comma, d_cyrillic, d_mixed,
]


def embed(sentence, link, rng):
    """The sentence with `link` at a random word boundary (sometimes followed by sentence
    punctuation, which is not part of the link); returns (text, start, end) in characters."""
    words = sentence.split(" ")
    at = rng.randint(0, len(words))
    tail = rng.choice(["", "", ".", ",", "!", ")"])
    before = " ".join(words[:at])
    prefix = before + (" " if before else "")
    if tail == ")":
        prefix += "("
    after = " ".join(words[at:])
    text = prefix + link + tail + (" " + after if after else "")
    return text, len(prefix), len(prefix) + len(link)


def generated_benign(rng, entries, n):
    """Sentences with ordinary URLs and domain-like words, none of them a listed link."""
    listed_hosts = [e[3] for e in entries if not is_ip(e[3])]
    templates = [
        lambda: f"the docs are at https://{label(rng)}.{rng.choice(TLDS)}/guide/{label(rng)} if you need them",
        lambda: f"open {label(rng)}.{rng.choice(['txt', 'pdf', 'docx', 'csv', 'log', 'jpeg'])} and check it",
        lambda: "bring snacks, e.g. chips, i.e. anything salty",
        lambda: f"ask Mr.{label(rng).capitalize()} or Dr.{label(rng).capitalize()} tomorrow",
        lambda: f"version {rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)} is {rng.randint(2, 9)}.{rng.randint(0, 9)} times faster",
        lambda: f"it costs {rng.randint(1, 99)}.{rng.randint(10, 99)} euros, or {rng.randint(1, 9)}.5%",
        lambda: f"mail {label(rng)}@{rng.choice(listed_hosts)} for the invoice",
        lambda: f"see www.{label(rng)}.{rng.choice(TLDS)} for the schedule",
        lambda: "connect the dots, the dot is small. Really. Ok.",
        lambda: f"ping {rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)} from the router",
    ]
    return [rng.choice(templates)() for _ in range(n)]


def fortunes(max_benign, seed):
    if not FORTUNES.is_dir():
        return [], 0
    spec = importlib.util.spec_from_file_location("text_eval", REPO / "scripts/text-eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sentences, total, _ = module.benign_sentences(FORTUNES, max_benign, seed)
    return sentences, total


def scan(vigil, directory, name, texts):
    path = directory / f"{name}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            message = {"message_id": f"{name}-{i}", "conversation_id": "c", "sender_id": "u",
                       "recipient_ids": ["r"], "sent_at": "2026-12-07T10:00:00Z", "text": text}
            f.write(json.dumps(message, ensure_ascii=False) + "\n")
    out = subprocess.run([vigil, "scan", "--config", str(directory / "vigil.toml"), str(path)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"url-eval: vigil scan failed: {out.stderr}")
    flags = {}
    for line in out.stdout.splitlines():
        flag = json.loads(line)
        flags[int(flag["message_id"].rsplit("-", 1)[1])] = flag
    return flags


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vigil", default=str(REPO / "target/release/vigil"))
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--per-disguise", type=int, default=0, help="0: every entry")
    parser.add_argument("--max-benign", type=int, default=20000)
    parser.add_argument("--generated-benign", type=int, default=5000)
    parser.add_argument("--json", default=str(REPO / ".cache/url-eval/summary.json"))
    parser.add_argument("--assert", dest="check", action="store_true")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    entries = make_entries(rng, args.entries)
    benign_fortunes, fortunes_total = fortunes(args.max_benign, args.seed)
    carriers = benign_fortunes or generated_benign(random.Random(f"{args.seed}:carriers"), entries, 2000)
    # Carriers hold no link of their own, and no word `dot` (a link written with word dots
    # right after one cannot say where it starts: `the dot example dot com`).
    carriers = [c for c in carriers
                if "http" not in c and "www." not in c and " dot " not in f" {c.lower()} "]
    benign = benign_fortunes + generated_benign(random.Random(f"{args.seed}:benign"), entries, args.generated_benign)

    positives = []  # (disguise, text, start, end, entry_id)
    for disguise in DISGUISES:
        chosen = entries if args.per_disguise == 0 else random.Random(f"{args.seed}:{disguise.__name__}").sample(entries, args.per_disguise)
        for entry in chosen:
            r = random.Random(f"{args.seed}:{disguise.__name__}:{entry[0]}")
            scheme, host, path = link_to(entry, r)
            link = disguise(scheme, host, path, r)
            if link is None:
                continue
            text, start, end = embed(r.choice(carriers), link, r)
            positives.append((disguise.__name__[2:], text, start, end, entry[0]))

    with tempfile.TemporaryDirectory() as tmp:
        directory = pathlib.Path(tmp)
        with (directory / "urls.csv").open("w", encoding="utf-8") as f:
            f.write("url,entry_id,category\n")
            for entry_id, _, listed, _, _ in entries:
                f.write(f"{listed},{entry_id},eval\n")
        (directory / "vigil.toml").write_text('[lists]\nurl_lists = ["urls.csv"]\n')
        flagged_positives = scan(args.vigil, directory, "positive", [p[1] for p in positives])
        flagged_benign = scan(args.vigil, directory, "benign", benign)

    per = {}
    failures = {}
    for i, (disguise, text, start, end, entry_id) in enumerate(positives):
        stats = per.setdefault(disguise, [0, 0])
        stats[1] += 1
        flag = flagged_positives.get(i)
        ok = flag is not None and any(
            m["rule_id"] == entry_id and {"start": start, "end": end} in m["spans"]
            for m in flag["matches"])
        stats[0] += ok
        if not ok and len(failures.setdefault(disguise, [])) < 3:
            failures[disguise].append({"text": text, "expected": [start, end, entry_id],
                                       "got": flag["matches"] if flag else None})
    fp = len(flagged_benign)
    fp_rate = fp / max(len(benign), 1)
    print(f"URL evaluation: {args.entries} listed entries, seed {args.seed}")
    print("| disguise | positives | recall (exact span) |")
    print("|---|---:|---:|")
    for disguise, (hit, n) in per.items():
        print(f"| {disguise} | {n} | {hit / n:.4f} |")
    print(f"benign: {len(benign)} sentences ({len(benign_fortunes)} of {fortunes_total} fortunes, "
          f"{len(benign) - len(benign_fortunes)} generated), flagged {fp} ({fp_rate:.4%})")
    for disguise, examples in failures.items():
        print(f"misses of {disguise}: {json.dumps(examples, ensure_ascii=False)[:600]}")
    summary = {"seed": args.seed, "entries": args.entries,
               "recall": {d: h / n for d, (h, n) in per.items()},
               "positives": {d: n for d, (_, n) in per.items()},
               "benign": len(benign), "benign_fortunes": len(benign_fortunes),
               "benign_flagged": fp, "benign_fp_rate": fp_rate,
               "benign_flagged_examples": [benign[i] for i in sorted(flagged_benign)[:20]]}
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    if args.check:
        low = {d: r for d, r in summary["recall"].items() if r < 0.99}
        if low or fp_rate > 0.001:
            sys.exit(f"url-eval: goals not met: recall below 0.99 {low}, benign FP rate {fp_rate:.4%}")


if __name__ == "__main__":
    main()
