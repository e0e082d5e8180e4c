//! Image hashing speed. Inputs come from `scripts/bench-pdq`, which also times Meta's
//! reference (PyPI `pdqhash`) on the same pixels in the same run; the ratio is what
//! docs/benchmarks.md records (the machine is shared and noisy).
//!
//! - `pdq`: PDQ of already-decoded RGB pixels (1 MP and 512×512): the hash with the
//!   reference's 8 dihedral hashes and our 8 oriented ones, as `vigil scan` computes it.
//! - `attachment`: everything `vigil scan` computes for a 1 MP JPEG attachment (MD5, SHA-1,
//!   SHA-256, guarded decode, PDQ with variants, border check, pHash, dHash, aHash) against
//!   the decode alone as the baseline.
//! - `timebox`: what the scanner's per-image time budget costs: decoding and hashing on a
//!   `Timebox` helper thread (the bytes copied to it, the result sent back) against the same
//!   work inline, for a 48 × 48 PNG (where the hand-off weighs most) and the 1 MP JPEG.
#![allow(clippy::unwrap_used, missing_docs)]

use std::cell::RefCell;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vigil_hash::{
    AttachmentHasher, DecodeLimits, HashOptions, ImageHashes, PdqHasher, Pixels, Timebox, decode,
};

fn input(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/bench")
        .join(name);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/bench-pdq", path.display()))
}

fn pdq(c: &mut Criterion) {
    let mut group = c.benchmark_group("pdq");
    group.measurement_time(Duration::from_secs(8));
    for (name, side) in [("rgb_1024x1024", 1024), ("rgb_512x512", 512)] {
        let rgb = input(&format!("photo-{side}.rgb"));
        let mut hasher = PdqHasher::new();
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            b.iter(|| {
                let pixels = Pixels::new(black_box(&rgb), side, side, 3).unwrap();
                let features = hasher.features(pixels);
                (
                    features.dihedrals(),
                    features.orientations(),
                    features.quality(),
                )
            })
        });
    }
    group.finish();
}

fn attachment(c: &mut Criterion) {
    let jpeg = input("photo-1024.jpg");
    let mut group = c.benchmark_group("attachment_1mp_jpeg");
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_only", |b| {
        b.iter(|| decode(black_box(&jpeg), &DecodeLimits::DEFAULT).unwrap())
    });
    let mut hasher = AttachmentHasher::new(HashOptions {
        dihedral: true,
        ..HashOptions::default()
    });
    group.bench_function("all_hashes", |b| b.iter(|| hasher.hash(black_box(&jpeg))));
    group.finish();
}

thread_local! {
    static HASHER: RefCell<AttachmentHasher> = RefCell::new(AttachmentHasher::new(HashOptions {
        dihedral: true,
        ..HashOptions::default()
    }));
}

fn decode_and_hash(bytes: &[u8]) -> ImageHashes {
    let decoded = decode(bytes, &DecodeLimits::DEFAULT).unwrap();
    HASHER.with(|h| h.borrow_mut().hash_pixels(&decoded.image, decoded.format))
}

fn timebox(c: &mut Criterion) {
    let png =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/images/noise.png"))
            .unwrap();
    let jpeg = input("photo-1024.jpg");
    let timebox = Timebox::new(Duration::from_secs(60), 2);
    let mut group = c.benchmark_group("timebox");
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    for (name, bytes) in [("png_48x48", png), ("jpeg_1mp", jpeg)] {
        group.bench_function(format!("{name}/baseline_inline"), |b| {
            b.iter(|| decode_and_hash(black_box(&bytes)))
        });
        group.bench_function(format!("{name}/vigil_timebox"), |b| {
            b.iter(|| {
                let bytes = black_box(&bytes).to_vec();
                timebox.run(move |_| decode_and_hash(&bytes)).unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pdq, attachment, timebox);
criterion_main!(benches);
