#!/usr/bin/env python3
"""Text-detection evaluation for docs: recall per disguise and the benign false-positive rate,
measured end to end through the real CLI (`vigil scan --config CONFIG FILE.jsonl`).

Phrases:   scripts/text-eval-phrases.csv (a vigil keyword list; one rule per phrase).
Benign:    sentences of Debian's `fortunes` package (scripts/text-eval fetches and extracts it
           into .cache/text-eval/fortunes/): every text file under usr/share/games/fortunes/
           except *.dat, *.u8 and off/; fortunes split on `%` lines, then into sentences on
           `.!?` + white space, white space collapsed, 20-200 characters kept, deduplicated,
           at most --max-benign (seeded sample, original order kept).
Positives: every phrase x every disguise x --embeds: the disguised phrase is inserted at a
           random word boundary of a random benign sentence (prefix + " " + disguised + " " +
           suffix). Each keeps its expected rule id and the character span of the disguised
           phrase. A disguise that leaves a phrase unchanged (leet_symbols on a phrase with no
           a or s) is skipped for that phrase. Every draw is seeded (--seed) per
           (disguise, rule, embedding), so one disguise's draws do not depend on another's.
vigil:     positives.jsonl and benign.jsonl are scanned by two concurrent `vigil scan` runs
           with a config holding only the phrase list.
Metrics:   recall (exact span) = share of positives with a match of the expected rule whose
           spans include exactly the expected span; recall (rule only) = the expected rule
           matched anywhere; "span differs" = rule found but no span equal to the expected one.
           Benign FP rate = flagged benign sentences / benign sentences.
Output:    a Markdown table, the benign line, flagged benign sentences (up to 30), failure
           examples per disguise, and a JSON summary (--json, default
           .cache/text-eval/summary.json). Exit status 1 if a vigil run fails (non-zero exit,
           unparseable output, or error records). Goals are not asserted: it only reports.
Usage:     scripts/text-eval [--seed N] [--embeds N] [--max-benign N] [--json PATH] ...
"""
import argparse
import csv
import json
import os
import pathlib
import random
import re
import subprocess
import sys
import time
import unicodedata

REPO = pathlib.Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache/text-eval"

# ---------------------------------------------------------------------------------------------
# Disguises. Each takes (text, rng) and returns the disguised text; each is applied to the
# phrase as written in the list (lower case ASCII, apostrophes), or in `mixed` to the output
# of the previous disguise (so they also accept upper case and non-ASCII input).


def _pick(rng, items, p):
    """Indices chosen with probability p each; at least one when there are any."""
    chosen = [i for i in items if rng.random() < p]
    if not chosen and items:
        chosen = [rng.choice(items)]
    return set(chosen)


def _substitute(text, rng, table, p):
    idx = [i for i, c in enumerate(text) if c in table]
    chosen = _pick(rng, idx, p)
    out = []
    for i, c in enumerate(text):
        if i in chosen:
            sub = table[c]
            out.append(rng.choice(sub) if isinstance(sub, list) else sub)
        else:
            out.append(c)
    return "".join(out)


def plain(text, rng):
    return text


def upper(text, rng):
    return text.upper()


def title(text, rng):
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
LEET.update({k.upper(): v for k, v in LEET.items()})


def leet(text, rng):
    return _substitute(text, rng, LEET, 0.6)


LEET_SYMBOLS = {"a": "@", "s": "$", "A": "@", "S": "$"}


def leet_symbols(text, rng):
    return _substitute(text, rng, LEET_SYMBOLS, 0.6)


CYRILLIC = {  # Latin -> Cyrillic look-alike (Greek omicron for some o's)
    "a": "\u0430", "e": "\u0435", "o": ["\u043e", "\u043e", "\u03bf"], "p": "\u0440",
    "c": "\u0441", "x": "\u0445", "y": "\u0443", "i": "\u0456", "s": "\u0455", "j": "\u0458",
    "A": "\u0410", "E": "\u0415", "O": ["\u041e", "\u039f"], "P": "\u0420", "C": "\u0421",
    "X": "\u0425", "Y": "\u04ae", "I": "\u0406", "S": "\u0405", "J": "\u0408", "H": "\u041d",
    "K": "\u041a", "M": "\u041c", "T": "\u0422", "B": "\u0412",
}


def cyrillic(text, rng):
    return _substitute(text, rng, CYRILLIC, 0.7)


ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad"]


def zero_width(text, rng):
    # Between two letters of a word; where there are none (text already spread out by a
    # separator disguise), between any two characters. Never before a combining mark.
    def ok(i):
        return not unicodedata.combining(text[i])

    inner = [i for i in range(1, len(text)) if ok(i) and not text[i - 1].isspace()
             and not text[i].isspace() and text[i - 1].isalnum() and text[i].isalnum()]
    if not inner:
        inner = [i for i in range(1, len(text)) if ok(i)]
    chosen = _pick(rng, inner, 0.4)
    out = []
    for i, c in enumerate(text):
        if i in chosen:
            out.append(rng.choice(ZERO_WIDTH))
        out.append(c)
    return "".join(out)


def _clusters(word):
    """A word's characters with their combining marks attached."""
    out = []
    for c in word:
        if out and unicodedata.combining(c):
            out[-1] += c
        else:
            out.append(c)
    return out


def _joined(sep):
    def disguise(text, rng):
        return " ".join(sep.join(_clusters(w)) for w in text.split(" "))
    disguise.__name__ = {".": "dots", "-": "dashes", "_": "underscores", "*": "asterisks"}[sep]
    return disguise


dots, dashes, underscores, asterisks = _joined("."), _joined("-"), _joined("_"), _joined("*")


def spaces(text, rng):
    words = [" ".join(_clusters(w)) for w in text.split(" ")]
    return words[0] + "".join(rng.choice(["  ", " "]) + w for w in words[1:])


ACCENT_MARKS = ["\u0300", "\u0301", "\u0302", "\u0308", "\u0303"]  # grave acute circumflex diaeresis tilde
VOWELS = set("aeiouyAEIOUY")


def accents(text, rng):
    idx = [i for i, c in enumerate(text) if c in VOWELS]
    chosen = _pick(rng, idx, 0.7)
    out = []
    for i, c in enumerate(text):
        out.append(c)
        if i in chosen:
            mark = rng.choice(ACCENT_MARKS)
            composed = unicodedata.normalize("NFC", c + mark)
            if len(composed) == 1 and rng.random() < 0.5:
                out[-1] = composed          # precomposed: é
            else:
                out.append(mark)            # combining: e + U+0301
    return "".join(out)


def full_width(text, rng):
    out = []
    for c in text:
        if "!" <= c <= "~":
            out.append(chr(ord(c) + 0xFEE0))
        elif c == " " and rng.random() < 0.5:
            out.append("\u3000")            # ideographic space
        else:
            out.append(c)
    return "".join(out)


def stretched(text, rng):
    idx = [i for i, c in enumerate(text) if c.isalpha()]
    chosen = _pick(rng, idx, 0.3)
    return "".join(c * rng.randint(2, 5) if i in chosen else c for i, c in enumerate(text))


BASE = [plain, upper, title, leet, leet_symbols, cyrillic, zero_width, dots, spaces, dashes,
        underscores, asterisks, accents, full_width, stretched]
BY_NAME = {d.__name__: d for d in BASE}
DISGUISES = [d.__name__ for d in BASE] + ["mixed"]
# `mixed` composes two disguises from different groups, applied in this order (case first,
# zero-width last, so each component still acts on letters).
GROUP = {"upper": "case", "title": "case", "stretched": "stretch", "leet": "leet",
         "leet_symbols": "leet", "cyrillic": "cyrillic", "accents": "accents",
         "dots": "sep", "spaces": "sep", "dashes": "sep", "underscores": "sep",
         "asterisks": "sep", "full_width": "width", "zero_width": "zw"}
ORDER = ["upper", "title", "stretched", "leet", "leet_symbols", "cyrillic", "accents", "dots",
         "spaces", "dashes", "underscores", "asterisks", "full_width", "zero_width"]


def mixed(text, rng):
    """Returns (disguised, "a+b"), or None when no pair changes the text."""
    for _ in range(100):
        a, b = rng.sample(ORDER, 2)
        if GROUP[a] == GROUP[b]:
            continue
        a, b = sorted((a, b), key=ORDER.index)
        once = BY_NAME[a](text, rng)
        twice = BY_NAME[b](once, rng)
        if once != text and twice != once:
            return twice, f"{a}+{b}"
    return None


def disguise(name, phrase, rng):
    """(disguised text, label) or None when the disguise leaves the phrase unchanged."""
    if name == "mixed":
        return mixed(phrase, rng)
    out = BY_NAME[name](phrase, rng)
    if name != "plain" and out == phrase:
        return None
    return out, name


# ---------------------------------------------------------------------------------------------
# Data


def read_phrases(path):
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    rows = list(csv.DictReader(lines))
    return [(r["rule_id"].strip(), r["term"].strip()) for r in rows]


def fortune_files(root):
    base = root / "usr/share/games/fortunes"
    if not base.is_dir():
        sys.exit(f"text-eval: no fortunes under {base} (scripts/text-eval fetches them)")
    files = []
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(base)
        if not p.is_file() or rel.parts[0] == "off" or p.suffix in (".dat", ".u8"):
            continue
        files.append(p)
    return base, files


def read_text(p):
    data = p.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def benign_sentences(root, max_benign, seed):
    base, files = fortune_files(root)
    seen, out = set(), []
    for p in files:
        for fortune in re.split(r"^%\s*$", read_text(p), flags=re.M):
            for s in SENTENCE_END.split(" ".join(fortune.split())):
                s = " ".join(s.split())
                if 20 <= len(s) <= 200 and s not in seen:
                    seen.add(s)
                    out.append(s)
    total = len(out)
    if len(out) > max_benign:
        keep = sorted(random.Random(f"{seed}:benign").sample(range(len(out)), max_benign))
        out = [out[i] for i in keep]
    return out, total, [str(f.relative_to(base)) for f in files]


def embed(host, disguised, rng):
    words = host.split(" ")
    k = rng.randint(0, len(words))
    prefix, suffix = " ".join(words[:k]), " ".join(words[k:])
    text = (prefix + " " if prefix else "") + disguised + (" " + suffix if suffix else "")
    start = len(prefix) + 1 if prefix else 0
    assert text[start:start + len(disguised)] == disguised
    return text, start, start + len(disguised), (words[k - 1] if k else ""), (words[k] if k < len(words) else "")


def message(mid, text):
    return {"message_id": mid, "conversation_id": "c-eval", "sender_id": "u-eval",
            "recipient_ids": ["u-peer"], "sent_at": "2026-11-26T07:00:00Z", "text": text}


def write_jsonl(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# vigil


def start_scan(vigil, config, messages, work, name):
    out, err = work / f"{name}.flags.jsonl", work / f"{name}.stderr"
    cmd = [str(vigil), "scan", "--config", str(config), str(messages)]
    proc = subprocess.Popen(cmd, stdout=open(out, "wb"), stderr=open(err, "wb"))
    return {"name": name, "cmd": cmd, "proc": proc, "out": out, "err": err, "t0": time.monotonic()}


def finish_scan(run):
    rc = run["proc"].wait()
    secs = time.monotonic() - run["t0"]
    problems, flags, errors, summary = [], {}, [], None
    if rc != 0:
        problems.append(f"exit status {rc}")
    for n, line in enumerate(run["out"].read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            flag = json.loads(line)
            flags[flag["message_id"]] = flag
        except (ValueError, KeyError) as e:
            problems.append(f"stdout line {n} is not a flag: {e}")
    for line in run["err"].read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("vigil scan:"):
            summary = line
        elif line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if isinstance(rec, dict) and "reason" in rec:
                errors.append(rec)
                continue
            problems.append(f"stderr: {line[:200]}")
        elif line.strip():
            problems.append(f"stderr: {line[:200]}")
    if errors:
        problems.append(f"{len(errors)} error records")
    return {"name": run["name"], "command": " ".join(run["cmd"]), "exit_status": rc,
            "seconds": round(secs, 3), "flags": flags, "error_records": errors,
            "summary_line": summary, "problems": problems}


def show_matches(text, flag):
    if not flag:
        return "no flag"
    parts = []
    for m in flag.get("matches", []):
        spans = ", ".join(f"[{s['start']},{s['end']}) {text[s['start']:s['end']]!r}"
                          for s in m.get("spans", []))
        parts.append(f"{m.get('rule_id', m.get('detector'))}: {spans}")
    return "; ".join(parts)


def build_info(vigil):
    """The binary's modification time, size and SHA-256 prefix, and the source tree's commit."""
    import datetime
    import hashlib
    st = vigil.stat()
    digest = hashlib.sha256(vigil.read_bytes()).hexdigest()[:12]
    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    dirty = bool(git("status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock"))
    return {"path": str(vigil), "sha256_12": digest, "bytes": st.st_size,
            "modified": datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": git("rev-parse", "--short", "HEAD"), "sources_uncommitted_changes": dirty}


def pct(n, d):
    return f"{100 * n / d:.1f}%" if d else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fortunes", type=pathlib.Path, default=CACHE / "fortunes",
                    help="the extracted fortunes package (default .cache/text-eval/fortunes)")
    ap.add_argument("--phrases", type=pathlib.Path, default=REPO / "scripts/text-eval-phrases.csv")
    ap.add_argument("--vigil", type=pathlib.Path, default=REPO / "target/release/vigil")
    ap.add_argument("--work", type=pathlib.Path, default=CACHE / "run",
                    help="where message files, config and vigil output go")
    ap.add_argument("--json", type=pathlib.Path, default=CACHE / "summary.json")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--embeds", type=int, default=5, help="embeddings per phrase and disguise")
    ap.add_argument("--max-benign", type=int, default=50000)
    ap.add_argument("--examples", type=int, default=5, help="failure examples printed per disguise")
    ap.add_argument("--flagged-benign", type=int, default=30, help="flagged benign sentences printed")
    args = ap.parse_args()
    t_start = time.monotonic()

    if not os.environ.get("TEXT_EVAL_WRAPPED"):
        print("command: " + " ".join([sys.argv[0]] + sys.argv[1:]))
    if not args.vigil.is_file():
        sys.exit(f"text-eval: no vigil binary at {args.vigil} (cargo build --release --bin vigil)")
    phrases_path = args.phrases.resolve()
    phrases = read_phrases(phrases_path)
    benign, benign_total, files = benign_sentences(args.fortunes, args.max_benign, args.seed)
    if not benign or not phrases:
        sys.exit(f"text-eval: {len(benign)} benign sentences, {len(phrases)} phrases; nothing to evaluate")

    positives = []
    for name in DISGUISES:
        for rule, phrase in phrases:
            for j in range(args.embeds):
                rng = random.Random(f"{args.seed}:{name}:{rule}:{j}")
                d = disguise(name, phrase, rng)
                if d is None:
                    continue
                disguised, label = d
                text, start, end, before, after = embed(rng.choice(benign), disguised, rng)
                positives.append({"message_id": f"p-{len(positives) + 1:06d}", "disguise": name,
                                  "variant": label, "rule_id": rule, "phrase": phrase,
                                  "disguised": disguised, "text": text, "start": start, "end": end,
                                  "word_before": before, "word_after": after})

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    config = work / "vigil.toml"
    config.write_text("# written by scripts/text-eval.py\n[lists]\n"
                      f"keyword_lists = [{json.dumps(str(phrases_path))}]\n", encoding="utf-8")
    write_jsonl(work / "positives.jsonl", (message(p["message_id"], p["text"]) for p in positives))
    write_jsonl(work / "benign.jsonl", (message(f"b-{i + 1:06d}", s) for i, s in enumerate(benign)))
    write_jsonl(work / "positives.expected.jsonl", positives)

    binary = build_info(args.vigil)
    t_scan = time.monotonic()
    runs = [start_scan(args.vigil, config, work / "positives.jsonl", work, "positives"),
            start_scan(args.vigil, config, work / "benign.jsonl", work, "benign")]
    pos_run, ben_run = (finish_scan(r) for r in runs)
    scan_secs = time.monotonic() - t_scan
    for r in (pos_run, ben_run):
        if r["exit_status"] != 0:
            tail = pathlib.Path(work / f"{r['name']}.stderr").read_text(encoding="utf-8", errors="replace")
            print(f"vigil failed ({r['name']}): {r['command']}\nexit status {r['exit_status']}\n{tail[-4000:]}",
                  file=sys.stderr)
            sys.exit(1)

    # --- positives
    rows, failures = {}, {}
    for p in positives:
        flag = pos_run["flags"].get(p["message_id"])
        ms = [m for m in (flag or {}).get("matches", []) if m.get("rule_id") == p["rule_id"]]
        spans = [(s["start"], s["end"]) for m in ms for s in m.get("spans", [])]
        outcome = ("exact" if (p["start"], p["end"]) in spans else "span_differs") if ms else "missed"
        p["outcome"] = outcome
        r = rows.setdefault(p["disguise"], {"positives": 0, "exact": 0, "span_differs": 0, "missed": 0})
        r["positives"] += 1
        r[outcome] += 1
        if outcome != "exact":
            failures.setdefault(p["disguise"], []).append({
                "message_id": p["message_id"], "variant": p["variant"], "rule_id": p["rule_id"],
                "outcome": outcome, "text": p["text"],
                "expected": {"start": p["start"], "end": p["end"], "text": p["disguised"]},
                "word_before": p["word_before"], "word_after": p["word_after"],
                "vigil": [{"rule_id": m.get("rule_id"),
                           "spans": [{"start": s["start"], "end": s["end"],
                                      "text": p["text"][s["start"]:s["end"]]} for s in m.get("spans", [])]}
                          for m in (flag or {}).get("matches", [])]})
    # phrases failing in every embedding of a disguise
    per_pair = {}
    for p in positives:
        k = (p["disguise"], p["rule_id"])
        per_pair.setdefault(k, []).append(p["outcome"] == "exact")
    consistent = {}
    for (d, rule), oks in per_pair.items():
        if not any(oks):
            consistent.setdefault(d, []).append(rule)
    mixed_pairs = {}
    for p in positives:
        if p["disguise"] == "mixed":
            m = mixed_pairs.setdefault(p["variant"], {"positives": 0, "exact": 0, "rule_found": 0})
            m["positives"] += 1
            m["exact"] += p["outcome"] == "exact"
            m["rule_found"] += p["outcome"] != "missed"

    # --- benign
    flagged_benign = []
    for i, s in enumerate(benign):
        flag = ben_run["flags"].get(f"b-{i + 1:06d}")
        if flag:
            flagged_benign.append({"message_id": f"b-{i + 1:06d}", "text": s,
                                   "rule_ids": sorted({m.get("rule_id") for m in flag["matches"]}),
                                   "matched": show_matches(s, flag)})
    fp_by_rule = {}
    for f in flagged_benign:
        for r in f["rule_ids"]:
            fp_by_rule[r] = fp_by_rule.get(r, 0) + 1

    # --- report
    print(f"vigil: {args.vigil} (built {binary['modified']}, sha256 {binary['sha256_12']}; tree at "
          f"{binary['commit']}{' + uncommitted changes to crates/Cargo' if binary['sources_uncommitted_changes'] else ''})")
    print(f"phrases: {len(phrases)} ({phrases_path.relative_to(REPO) if phrases_path.is_relative_to(REPO) else phrases_path})"
          f" | seed {args.seed} | {args.embeds} embeddings per phrase and disguise")
    print(f"benign: {len(benign)} sentences (of {benign_total} distinct) from {len(files)} fortune files")
    print()
    print("| disguise | positives | recall (exact span) | recall (rule only) | rule found, span differs |")
    print("|---|---:|---:|---:|---:|")
    tot = {"positives": 0, "exact": 0, "span_differs": 0, "missed": 0}
    for d in DISGUISES:
        r = rows.get(d, {"positives": 0, "exact": 0, "span_differs": 0, "missed": 0})
        for k in tot:
            tot[k] += r[k]
        print(f"| {d} | {r['positives']} | {pct(r['exact'], r['positives'])} | "
              f"{pct(r['exact'] + r['span_differs'], r['positives'])} | {r['span_differs']} |")
    print(f"| **all** | {tot['positives']} | {pct(tot['exact'], tot['positives'])} | "
          f"{pct(tot['exact'] + tot['span_differs'], tot['positives'])} | {tot['span_differs']} |")
    print()
    print(f"Benign (fortunes sentences): {len(flagged_benign)} of {len(benign)} flagged, "
          f"false-positive rate {100 * len(flagged_benign) / len(benign):.4f}%")
    if flagged_benign:
        print()
        print(f"Flagged benign sentences (first {min(args.flagged_benign, len(flagged_benign))}"
              f" of {len(flagged_benign)}):")
        for f in flagged_benign[:args.flagged_benign]:
            print(f"- {f['message_id']} {f['text']!r} -> {f['matched']}")
    failing_pairs = {k: v for k, v in sorted(mixed_pairs.items()) if v["exact"] < v["positives"]}
    if failing_pairs:
        print()
        print(f"mixed: {len(mixed_pairs)} pairs drawn; those with failures (exact / rule found / positives): "
              + ", ".join(f"{k} {v['exact']}/{v['rule_found']}/{v['positives']}" for k, v in failing_pairs.items()))
    if failures:
        print()
        print("Failures (expected span given as [start,end) and text; vigil's matches of any rule):")
        for d in DISGUISES:
            fs = failures.get(d)
            if not fs:
                continue
            print(f"\n{d}: {len(fs)} failures ({sum(f['outcome'] == 'missed' for f in fs)} missed, "
                  f"{sum(f['outcome'] == 'span_differs' for f in fs)} span differs)"
                  + (f"; failing in every embedding: {', '.join(consistent[d])}" if d in consistent else ""))
            seen_rules, shown = set(), []
            for f in fs:  # distinct rules first
                if f["rule_id"] not in seen_rules:
                    seen_rules.add(f["rule_id"])
                    shown.append(f)
            shown += [f for f in fs if f not in shown]
            for f in shown[:args.examples]:
                e = f["expected"]
                got = "; ".join(f"{m['rule_id']}: " + ", ".join(f"[{s['start']},{s['end']}) {s['text']!r}"
                                                               for s in m["spans"]) for m in f["vigil"]) or "no flag"
                print(f"  - {f['message_id']} ({f['variant']}, {f['rule_id']}, {f['outcome']}) {f['text']!r}\n"
                      f"    expected [{e['start']},{e['end']}) {e['text']!r}; vigil: {got}")

    problems = [f"{r['name']}: {x}" for r in (pos_run, ben_run) for x in r["problems"]]
    total_secs = time.monotonic() - t_start
    print()
    for r in (pos_run, ben_run):
        print(f"{r['name']}: {r['summary_line'] or 'no summary line'} ({r['seconds']:.2f} s)")
    print(f"time: {total_secs:.1f} s total, {scan_secs:.1f} s in the two concurrent vigil scans")
    summary = {
        "command": os.environ.get("TEXT_EVAL_COMMAND") or " ".join(sys.argv),
        "seed": args.seed, "embeds": args.embeds, "vigil": binary,
        "phrases": {"file": str(phrases_path), "count": len(phrases)},
        "benign": {"sentences": len(benign), "distinct_sentences": benign_total, "files": files,
                   "flagged": len(flagged_benign),
                   "false_positive_rate": len(flagged_benign) / len(benign) if benign else None,
                   "flagged_by_rule": dict(sorted(fp_by_rule.items())),
                   "flagged_sentences": flagged_benign},
        "positives": {d: dict(rows.get(d, {}), **({
            "recall_exact": rows[d]["exact"] / rows[d]["positives"],
            "recall_rule": (rows[d]["exact"] + rows[d]["span_differs"]) / rows[d]["positives"]}
            if rows.get(d, {}).get("positives") else {})) for d in DISGUISES},
        "positives_total": dict(tot, recall_exact=tot["exact"] / tot["positives"] if tot["positives"] else None,
                                recall_rule=(tot["exact"] + tot["span_differs"]) / tot["positives"] if tot["positives"] else None),
        "mixed_pairs": dict(sorted(mixed_pairs.items())),
        "failing_every_embedding": consistent,
        "failures": failures,
        "vigil_runs": [{k: r[k] for k in ("name", "command", "exit_status", "seconds", "summary_line",
                                          "error_records", "problems")} for r in (pos_run, ben_run)],
        "seconds": {"total": round(total_secs, 3), "scans": round(scan_secs, 3)},
        "problems": problems,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"summary: {args.json}")
    if problems:
        print("vigil failed: " + "; ".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
