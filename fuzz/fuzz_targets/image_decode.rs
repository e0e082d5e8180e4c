//! The image path over arbitrary bytes: the guarded `vigil_hash::decode` within small limits
//! (2048 × 2048 pixels, 64 MiB decoded), then what `AttachmentHasher::hash` computes from
//! the pixels: PDQ with its dihedral and oriented variants and trimmed boxes, pHash, dHash,
//! aHash; and the exact digests of the raw bytes.
//!
//! Never panics; never allocates past the limits (run with `-rss_limit_mb=2048` and
//! `-malloc_limit_mb=256`, as `scripts/fuzz` does). Decoded images are within the limits and
//! their hashes well formed; failures carry one of the documented reason codes.
//!
//! A panic inside an image decoder is contained by `decode` (it becomes
//! `DecodeError::DecoderPanicked`, an `undecodable` attachment), as in production: it is
//! printed and the run goes on. Set `VIGIL_FUZZ_DECODER_PANICS=abort` to have it reported
//! as a crash instead (to collect upstream decoder bugs). A panic anywhere else aborts.
#![no_main]

use std::cell::Cell;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use vigil_core::Algorithm;
use vigil_hash::{
    AttachmentHasher, DecodeError, DecodeLimits, ExactAlgorithm, ExactDigests, HashOptions,
    TrimOptions, decode, sniff_format,
};

const LIMITS: DecodeLimits = DecodeLimits {
    max_input_bytes: 4 * 1024 * 1024,
    max_width: 2048,
    max_height: 2048,
    max_alloc_bytes: 64 * 1024 * 1024,
};

thread_local! {
    /// Whether `decode` is running on this thread (its panics are contained).
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// The last contained decoder panic: message and location.
static CONTAINED: Mutex<Option<String>> = Mutex::new(None);

fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var("VIGIL_FUZZ_DECODER_PANICS").is_ok_and(|v| v == "abort"))
}

/// Replaces libFuzzer's panic hook (print, then abort) by one that lets a panic inside
/// `decode` unwind to `decode`'s own `catch_unwind`, remembering it.
fn install_panic_hook() {
    drop(std::panic::take_hook());
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        print(info);
        if DECODING.get() && !strict() {
            *CONTAINED.lock().unwrap_or_else(|e| e.into_inner()) = Some(info.to_string());
        } else {
            std::process::abort();
        }
    }));
}

fn hasher() -> &'static Mutex<AttachmentHasher> {
    static HASHER: OnceLock<Mutex<AttachmentHasher>> = OnceLock::new();
    HASHER.get_or_init(|| {
        Mutex::new(AttachmentHasher::new(HashOptions {
            algorithms: Algorithm::ALL.to_vec(),
            dihedral: true,
            trim: Some(TrimOptions::default()),
            limits: LIMITS,
        }))
    })
}

fuzz_target!(init: install_panic_hook(), |data: &[u8]| {
    let exact = ExactDigests::compute(data, &ExactAlgorithm::ALL);
    assert_eq!(
        exact.get(ExactAlgorithm::Sha256),
        Some(ExactAlgorithm::Sha256.digest(data))
    );

    DECODING.set(true);
    let decoded = decode(data, &LIMITS);
    DECODING.set(false);
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(err) => {
            let reason = err.reason();
            assert!(
                matches!(
                    reason,
                    "unsupported_image_format" | "image_too_large" | "undecodable"
                ),
                "unknown reason {reason}"
            );
            assert_eq!(
                matches!(err, DecodeError::UnsupportedFormat),
                sniff_format(data).is_none()
            );
            let _ = err.to_string();
            if let DecodeError::DecoderPanicked { format } = err {
                let panic = CONTAINED.lock().unwrap_or_else(|e| e.into_inner()).take();
                eprintln!("contained {format} decoder panic: {panic:?}");
            }
            return;
        }
    };
    let image = &decoded.image;
    let (width, height) = (image.width(), image.height());
    assert!(width >= 1 && height >= 1, "decoded an empty image");
    assert!(width <= LIMITS.max_width && height <= LIMITS.max_height);
    assert!(image.as_bytes().len() as u64 <= LIMITS.max_alloc_bytes);
    assert_eq!(Some(decoded.format), sniff_format(data));

    let mut hasher = hasher().lock().unwrap_or_else(|e| e.into_inner());
    let hashes = hasher.hash_pixels(image, decoded.format);
    assert_eq!((hashes.width, hashes.height), (width, height));
    let pdq = hashes.pdq.as_ref().expect("PDQ was asked for");
    assert!(pdq.quality <= 100, "PDQ quality {}", pdq.quality);
    let dihedral = pdq.dihedral.expect("dihedral hashes were asked for");
    assert_eq!(dihedral[0], pdq.hash, "the first dihedral hash is the hash");
    assert!(pdq.oriented.is_some(), "oriented hashes were asked for");
    assert!(hashes.phash.is_some() && hashes.dhash.is_some() && hashes.ahash.is_some());
    for (rect, result) in &hashes.pdq_trimmed {
        assert!(rect.width >= 1 && rect.height >= 1, "empty trimmed box {rect:?}");
        assert!(
            rect.x + rect.width <= width as usize && rect.y + rect.height <= height as usize,
            "trimmed box {rect:?} outside {width}x{height}"
        );
        assert!(result.quality <= 100);
    }
    let queries = hashes.pdq_queries(0);
    assert!(!queries.is_empty(), "no PDQ query at quality 0");
    for (i, query) in queries.iter().enumerate() {
        assert!(
            queries[..i].iter().all(|q| q.hash != query.hash),
            "a PDQ query repeats"
        );
    }
});
