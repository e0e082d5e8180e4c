#!/usr/bin/env python3
"""Deterministic data for the PDQ hash-index benchmark (scripts/index-bench-faiss.py).

Writes to .cache/index-bench/ (or --out), for each size S in --sizes (1m, 10m):
  uniform-S.pdq            N uniformly random 256-bit hashes.
  clustered-S.pdq          N hashes in near-duplicate clusters: random centres, each with a
                           cluster of geometric size (mean 4, centre included) whose other
                           members are the centre with 1..24 distinct random bits flipped;
                           shuffled, truncated to exactly N.
  queries-<dataset>.pdq    10,000 queries in random order: 90 % a random listed hash with d
                           distinct random bits flipped (d uniform in 0..=40), 10 % uniform.
  truth-<dataset>-r31.bin  exact brute-force range result, Hamming distance <= 31: per query
                           in order, u32 count then count x (u32 entry index, u32 distance),
                           sorted by entry index; all little-endian.
.pdq files are raw: 32 bytes per hash, no header. Everything comes from fixed seeds, so a
re-run reproduces identical bytes; files already present with the right size are skipped.

Usage: .cache/venv-index/bin/python scripts/index-bench-data.py [--sizes 1m,10m] [--out DIR]
       [--jobs N]   (truth uses N processes, default all cores; ~3 min per 10M set on 2 cores)
"""
import argparse
import multiprocessing as mp
import os
import time

import numpy as np

SEED = 20240531
SIZES = {"1m": 1_000_000, "10m": 10_000_000}
KINDS = ("uniform", "clustered")
NQ, RADIUS = 10_000, 31
BATCH = 1 << 20


def flip_masks(rng, counts):
    """Packed 32-byte masks, row i having exactly counts[i] distinct random bits set."""
    counts = np.asarray(counts)
    bits = np.zeros((len(counts), 256), dtype=bool)
    rows = np.arange(len(counts))
    have = np.zeros(len(counts), dtype=np.int64)
    while True:  # draw the missing positions, repeats are redrawn: a uniform k-subset
        need = rows[have < counts]
        if need.size == 0:
            break
        r = np.repeat(need, counts[need] - have[need])
        bits[r, rng.integers(0, 256, size=r.size)] = True
        have[need] = bits[need].sum(axis=1)
    return np.packbits(bits, axis=1)


def make_uniform(rng, n):
    return np.frombuffer(rng.bytes(n * 32), dtype=np.uint8).reshape(n, 32).copy()


def make_clustered(rng, n):
    sizes = rng.geometric(0.25, size=n // 2)  # mean 4; n//2 clusters always cover n
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    centres = make_uniform(rng, len(sizes))
    owner = np.repeat(np.arange(len(sizes)), sizes)
    first = np.r_[True, owner[1:] != owner[:-1]]  # the centre itself is a member
    out = centres[owner]
    for s in range(0, n, BATCH):
        e = min(s + BATCH, n)
        k = np.where(first[s:e], 0, rng.integers(1, 25, size=e - s))
        out[s:e] ^= flip_masks(rng, k)
    return out[rng.permutation(n)]


def make_queries(rng, data):
    nnear = NQ * 9 // 10
    near = data[rng.integers(0, len(data), size=nnear)] ^ flip_masks(
        rng, rng.integers(0, 41, size=nnear))
    q = np.concatenate([near, make_uniform(rng, NQ - nnear)])
    return q[rng.permutation(NQ)]


# --- brute-force truth: one query block per task, database shared by fork ---
_COLS = None  # (4, N) uint64, word-major so each word row is contiguous
CHUNK = 4096


def _truth_block(qblock):
    qs, q = qblock  # q: (nb, 4) uint64
    n = _COLS.shape[1]
    x = np.empty((len(q), CHUNK), np.uint64)
    a = np.empty((len(q), CHUNK), np.uint8)
    b = np.empty((len(q), CHUNK), np.uint8)
    c = np.empty((len(q), CHUNK), bool)
    hits = []
    for s in range(0, n, CHUNK):
        m = min(CHUNK, n - s)
        xv, av, bv, cv = x[:, :m], a[:, :m], b[:, :m], c[:, :m]
        np.bitwise_xor(q[:, 0, None], _COLS[0, None, s:s + m], out=xv)
        np.bitwise_count(xv, out=av)
        np.bitwise_xor(q[:, 1, None], _COLS[1, None, s:s + m], out=xv)
        np.bitwise_count(xv, out=bv)
        av += bv  # distance on the first 128 bits: a cheap, exact lower bound
        if np.less_equal(av, RADIUS, out=cv).any():
            qi, j = np.nonzero(cv)
            j = j + s
            d = (av[qi, j - s].astype(np.uint32)
                 + np.bitwise_count(q[qi, 2] ^ _COLS[2, j])
                 + np.bitwise_count(q[qi, 3] ^ _COLS[3, j]))
            keep = d <= RADIUS
            hits.append((qi[keep], j[keep], d[keep]))
    out = []
    if hits:
        qi, j, d = (np.concatenate(h) for h in zip(*hits))
    else:
        qi = j = d = np.empty(0, np.int64)
    order = np.lexsort((j, qi))  # by query, then entry index
    qi, j, d = qi[order], j[order], d[order]
    bounds = np.searchsorted(qi, np.arange(len(q) + 1))
    for i in range(len(q)):
        r = slice(bounds[i], bounds[i + 1])
        pairs = np.empty((r.stop - r.start, 2), "<u4")
        pairs[:, 0], pairs[:, 1] = j[r], d[r]
        out.append(np.uint32(r.stop - r.start).astype("<u4").tobytes() + pairs.tobytes())
    return qs, out


def write_truth(path, data, queries, jobs):
    global _COLS
    _COLS = np.ascontiguousarray(data.view("<u8").T)
    q = queries.view("<u8")
    blocks = [(s, q[s:s + 32]) for s in range(0, len(q), 32)]
    with mp.get_context("fork").Pool(jobs) as pool:
        parts = dict(pool.imap_unordered(_truth_block, blocks))
    _COLS = None
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for s, _ in blocks:
            f.write(b"".join(parts[s]))
    os.replace(tmp, path)


def truth_ok(path):
    if not os.path.exists(path):
        return False
    buf = np.fromfile(path, dtype="<u4")
    pos = 0
    for _ in range(NQ):
        if pos >= len(buf):
            return False
        pos += 1 + 2 * int(buf[pos])
    return pos == len(buf)


def save(path, arr):
    tmp = path + ".tmp"
    arr.tofile(tmp)
    os.replace(tmp, path)


def load_or_make(path, n, make):
    if os.path.exists(path) and os.path.getsize(path) == n * 32:
        print(f"  keep {path}")
        return np.fromfile(path, dtype=np.uint8).reshape(n, 32)
    t = time.perf_counter()
    arr = make()
    save(path, arr)
    print(f"  wrote {path} in {time.perf_counter() - t:.1f}s")
    return arr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1m,10m")
    ap.add_argument("--out", default=".cache/index-bench")
    ap.add_argument("--jobs", type=int, default=os.cpu_count())
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for size in args.sizes.split(","):
        n = SIZES[size]
        for k, kind in enumerate(KINDS):
            name = f"{kind}-{size}"
            print(name)
            t0 = time.perf_counter()
            maker = make_uniform if kind == "uniform" else make_clustered
            data = load_or_make(os.path.join(args.out, f"{name}.pdq"), n,
                                lambda: maker(np.random.default_rng([SEED, k, n]), n))
            queries = load_or_make(os.path.join(args.out, f"queries-{name}.pdq"), NQ,
                                   lambda: make_queries(np.random.default_rng([SEED, k, n, 1]), data))
            truth = os.path.join(args.out, f"truth-{name}-r{RADIUS}.bin")
            if truth_ok(truth):
                print(f"  keep {truth}")
            else:
                t = time.perf_counter()
                write_truth(truth, data, queries, args.jobs)
                print(f"  wrote {truth} in {time.perf_counter() - t:.1f}s")
            print(f"  {name}: {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
