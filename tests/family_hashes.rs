//! pHash, dHash and aHash are computed by `image_hasher` on a grey thumbnail of at most
//! `FAMILY_THUMBNAIL_SIDE` pixels (a full-size Lanczos resize costs ~25 ms per megapixel).
//! This bounds the drift that costs against `image_hasher` on the full image, over the
//! photographs of the PDQ corpus (fetched by scripts/test-images).
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod common;

use image::DynamicImage;
use vigil_core::Algorithm;
use vigil_hash::{
    AttachmentHasher, DecodeLimits, FAMILY_THUMBNAIL_SIDE, Family, FamilyHashers, HashOptions,
    decode,
};

#[test]
fn thumbnail_family_hashes_stay_close_to_full_size_ones() {
    let root = common::root().join(".cache/test-images");
    let mut files = Vec::new();
    for dir in ["skimage", "debian/mate/nature", "debian/mate/abstract"] {
        let entries = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}; run scripts/test-images"));
        files.extend(entries.map(|e| e.unwrap().path()));
    }
    files.sort();
    let mut hasher = AttachmentHasher::new(HashOptions {
        algorithms: vec![Algorithm::Phash, Algorithm::Dhash, Algorithm::Ahash],
        limits: DecodeLimits {
            max_input_bytes: 64 << 20,
            max_width: 16384,
            max_height: 16384,
            max_alloc_bytes: 1 << 30,
        },
        ..HashOptions::default()
    });
    let full = FamilyHashers::default();
    let (mut compared, mut total, mut worst) = (0, 0, [0u32; 3]);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let Ok(decoded) = decode(&bytes, &hasher.options().limits) else {
            continue;
        };
        if decoded.image.width().max(decoded.image.height()) as usize <= FAMILY_THUMBNAIL_SIDE {
            continue;
        }
        let ours = hasher.hash(&bytes).image.unwrap().unwrap();
        let grey = DynamicImage::ImageLuma8(decoded.image.to_luma8());
        for (k, family) in [Family::Phash, Family::Dhash, Family::Ahash]
            .into_iter()
            .enumerate()
        {
            let distance = full
                .hash(family, &grey)
                .distance(&ours.family(family).unwrap());
            assert!(
                distance <= 8,
                "{} {family:?}: {distance} bits",
                path.display()
            );
            worst[k] = worst[k].max(distance);
            total += distance;
        }
        compared += 1;
    }
    assert!(
        compared >= 25,
        "{compared} photographs larger than the thumbnail"
    );
    let mean = f64::from(total) / f64::from(compared * 3);
    println!(
        "{compared} photographs; worst pHash/dHash/aHash drift {worst:?} bits; mean {mean:.2}"
    );
    assert!(mean <= 2.0, "mean drift {mean:.2} bits");
}
