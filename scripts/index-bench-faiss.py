#!/usr/bin/env python3
"""FAISS baseline for exact Hamming range search (distance <= 31) over 256-bit PDQ hashes.

For each dataset made by scripts/index-bench-data.py (raw .pdq files, 32 bytes per hash;
truth-<dataset>-r31.bin: per query a u32 count then (u32 index, u32 distance) pairs, LE)
it measures, on one thread, faiss.IndexBinaryFlat(256) and faiss.IndexBinaryMultiHash(256,
16, 16) with nflip = 1 (Meta HMA's setting; exact for d <= 31 by pigeonhole: 16 chunks of
16 bits, so one chunk differs in at most one bit):
  build (add) time, VmRSS growth across the build, single-query range_search latency
  p50/p99 (one query per call), "per image" latency (16 queries per call) p50/p99, and
  the result sets (index, distance) of both call modes against the brute-force truth.
FAISS's binary range_search keeps distance < radius (strict; IndexBinaryFlat.cpp and
IndexBinaryHash.cpp), so radius 32 is passed for d <= 31; a self-check confirms it at start.
Timings go through the Python wrapper (a few us per call; the empty-index call time is
reported as call_overhead_us). Flat at 10M is timed on the first --flat-queries queries.

Each dataset runs in a fresh process; prints a table, writes .cache/index-bench/faiss-<dataset>.json.
Usage: .cache/venv-index/bin/python scripts/index-bench-faiss.py uniform-1m [clustered-1m ...]
       [--dir .cache/index-bench] [--flat-queries N]
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import faiss
import numpy as np

RADIUS = 31
BATCH = 16


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()


def padded(a):
    """Copy with one spare row after the end: IndexBinaryMultiHash reads each 16-bit
    chunk as an unaligned u64, i.e. up to 6 bytes past the last hash."""
    buf = np.zeros((len(a) + 1, 32), np.uint8)
    buf[:-1] = a
    return buf[:-1]


def read_truth(path, nq):
    buf = np.fromfile(path, dtype="<u4")
    out, pos = [], 0
    for _ in range(nq):
        c = int(buf[pos])
        pairs = buf[pos + 1:pos + 1 + 2 * c].reshape(c, 2)
        out.append(set(map(tuple, pairs.tolist())))
        pos += 1 + 2 * c
    assert pos == len(buf), "truth file length mismatch"
    return out


def check_semantics():
    """Confirm range_search(radius=r) returns distances < r for both index types."""
    base = np.zeros((3, 32), np.uint8)
    base[1, :4] = 0xFF  # distance 32 from the zero query
    base[2, :4] = 0xFF
    base[2, 0] = 0x7F  # distance 31
    q = padded(np.zeros((1, 32), np.uint8))
    for _, make in INDEXES:
        index = make()
        index.add(padded(base))
        _, D, I = index.range_search(q, RADIUS + 1)
        assert sorted(zip(I.tolist(), D.tolist())) == [(0, 0), (2, 31)], (type(index), I, D)
    return "strict: returns distance < radius; radius=%d passed for <= %d" % (RADIUS + 1, RADIUS)


def multihash():
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.nflip = 1
    return index


# Flat first: its one big vector is mmapped and freed whole, so it cannot skew the RSS
# reading of the next index (MultiHash's many small vectors stay in the malloc heap).
INDEXES = [("Flat", lambda: faiss.IndexBinaryFlat(256)), ("MultiHash(16x16,nflip=1)", multihash)]


def results(lims, D, I, i):
    s, e = lims[i], lims[i + 1]
    return set(zip(I[s:e].tolist(), D[s:e].tolist()))


def compare(got, truth):
    bad = missing = extra = 0
    for g, t in zip(got, truth):
        if g != t:
            bad += 1
            missing += len(t - g)
            extra += len(g - t)
    return {"queries_mismatched": bad, "pairs_missing": missing, "pairs_extra": extra}


def pct(a):
    a = np.asarray(a) / 1e3
    return {"p50_us": float(np.percentile(a, 50)), "p99_us": float(np.percentile(a, 99)),
            "mean_us": float(a.mean())}


def bench(index, name, data, queries, truth, nq):
    r0 = rss_kib()
    t = time.perf_counter()
    index.add(data)
    build_s = time.perf_counter() - t
    rss_mib = (rss_kib() - r0) / 1024
    q = queries[:nq]
    for i in range(min(20, nq)):  # warm-up
        index.range_search(q[i:i + 1], RADIUS + 1)
    single, got = [], []
    for i in range(nq):
        t = time.perf_counter_ns()
        lims, D, I = index.range_search(q[i:i + 1], RADIUS + 1)
        single.append(time.perf_counter_ns() - t)
        got.append(results(lims, D, I, 0))
    batch, got_b = [], []
    for s in range(0, nq - nq % BATCH, BATCH):
        t = time.perf_counter_ns()
        lims, D, I = index.range_search(q[s:s + BATCH], RADIUS + 1)
        batch.append(time.perf_counter_ns() - t)
        got_b += [results(lims, D, I, i) for i in range(BATCH)]
    return {
        "index": name, "build_s": build_s, "rss_growth_mib": rss_mib,
        "queries": nq, "results": sum(map(len, got)),
        "single": pct(single), "batch16": {**pct(batch), "batches": len(batch)},
        "vs_truth_single": compare(got, truth),
        "vs_truth_batch16": compare(got_b, truth),
    }


def run(dataset, args, semantics):
    path = lambda f: os.path.join(args.dir, f)
    data = padded(np.fromfile(path(f"{dataset}.pdq"), dtype=np.uint8).reshape(-1, 32))
    queries = padded(np.fromfile(path(f"queries-{dataset}.pdq"), dtype=np.uint8).reshape(-1, 32))
    truth = read_truth(path(f"truth-{dataset}-r{RADIUS}.bin"), len(queries))
    n, nq = len(data), len(queries)
    flat_nq = nq if n <= 1_000_000 else min(nq, args.flat_queries)

    empty = faiss.IndexBinaryFlat(256)
    ov = []
    for i in range(2000):
        t = time.perf_counter_ns()
        empty.range_search(queries[i % nq:i % nq + 1], RADIUS + 1)
        ov.append(time.perf_counter_ns() - t)

    rows = []
    for name, make in INDEXES:  # one index alive at a time
        rows.append(bench(make(), name, data, queries, truth, flat_nq if name == "Flat" else nq))
    report = {
        "dataset": dataset, "n": n, "queries": nq, "radius_le": RADIUS,
        "radius_arg": RADIUS + 1, "range_search_semantics": semantics,
        "faiss_version": faiss.__version__, "numpy_version": np.__version__,
        "python": platform.python_version(), "cpu": cpu_model(), "threads": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "truth_pairs": sum(map(len, truth)), "truth_queries_with_hits": sum(map(bool, truth)),
        "call_overhead_us": float(np.median(ov) / 1e3), "indexes": rows,
    }
    with open(path(f"faiss-{dataset}.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"\n{dataset}: n={n:,}  faiss {faiss.__version__}  1 thread  {report['cpu']}")
    print(f"truth: {report['truth_pairs']:,} pairs, {report['truth_queries_with_hits']:,} of {nq:,}"
          f" queries with a hit; python call overhead (empty index) {report['call_overhead_us']:.1f} us")
    print(f"{'index':26}{'build s':>9}{'RSS MiB':>9}{'queries':>9}{'1q p50 us':>11}"
          f"{'1q p99 us':>11}{'16q p50 us':>12}{'16q p99 us':>12}{'mismatch 1q/16q':>17}")
    for r in rows:
        print(f"{r['index']:26}{r['build_s']:9.2f}{r['rss_growth_mib']:9.0f}{r['queries']:9}"
              f"{r['single']['p50_us']:11.1f}{r['single']['p99_us']:11.1f}"
              f"{r['batch16']['p50_us']:12.1f}{r['batch16']['p99_us']:12.1f}"
              f"{r['vs_truth_single']['queries_mismatched']:>10}/{r['vs_truth_batch16']['queries_mismatched']}")
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("datasets", nargs="+", help="e.g. uniform-1m clustered-10m")
    ap.add_argument("--dir", default=".cache/index-bench")
    ap.add_argument("--flat-queries", type=int, default=2000,
                    help="query sample for Flat when n > 1M (default 2000)")
    args = ap.parse_args()
    if len(args.datasets) > 1:  # a fresh process per dataset keeps the RSS figures clean
        for d in args.datasets:
            subprocess.run([sys.executable, __file__, d, "--dir", args.dir,
                            "--flat-queries", str(args.flat_queries)], check=True)
        return
    faiss.omp_set_num_threads(1)
    semantics = check_semantics()
    print("range_search:", semantics)
    t = time.perf_counter()
    run(args.datasets[0], args, semantics)
    print(f"{args.datasets[0]} run: {time.perf_counter() - t:.0f}s")


if __name__ == "__main__":
    main()
