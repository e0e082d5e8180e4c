//! The img_hash family (pHash, dHash, aHash) through `image_hasher`, the maintained fork of
//! `img_hash` on the current `image` crate.

use std::fmt;

use image::{DynamicImage, GrayImage};

use crate::{Family, Pixels};
use image_hasher::{HashAlg, Hasher, HasherConfig};

/// A 64-bit perceptual hash. The text form is 16 lowercase hex digits: the hash's 8 bytes
/// in `image_hasher`'s order (bit `i` of the algorithm's output is bit `i % 8` of byte
/// `i / 8`, least significant first).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash64(u64);

/// Why a string is not a 64-bit hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a 64-bit hash has 16 hex characters; got {0:?} characters or non-hex")]
pub struct Hash64Error(usize);

impl Hash64 {
    /// From the 8 bytes in `image_hasher`'s order.
    pub fn from_bytes(bytes: [u8; 8]) -> Hash64 {
        Hash64(u64::from_be_bytes(bytes))
    }

    /// Parses the 16-hex-digit form (either case).
    pub fn from_hex(hex: &str) -> Result<Hash64, Hash64Error> {
        let mut bytes = [0u8; 8];
        match crate::hexdigits::decode(hex.as_bytes(), &mut bytes) {
            true => Ok(Hash64(u64::from_be_bytes(bytes))),
            false => Err(Hash64Error(hex.chars().count())),
        }
    }

    /// The value, first byte most significant.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// Hamming distance.
    pub fn distance(&self, other: &Hash64) -> u32 {
        (self.0 ^ other.0).count_ones()
    }

    /// The 16-hex-digit form.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Hash64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for Hash64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash64({self})")
    }
}

/// The three `image_hasher` configurations, built once.
pub struct FamilyHashers {
    phash: Hasher<[u8; 8]>,
    dhash: Hasher<[u8; 8]>,
    ahash: Hasher<[u8; 8]>,
}

impl fmt::Debug for FamilyHashers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FamilyHashers")
    }
}

impl Default for FamilyHashers {
    fn default() -> FamilyHashers {
        let config = || HasherConfig::with_bytes_type::<[u8; 8]>().hash_size(8, 8);
        FamilyHashers {
            phash: config().hash_alg(HashAlg::Median).preproc_dct().to_hasher(),
            dhash: config().hash_alg(HashAlg::Gradient).to_hasher(),
            ahash: config().hash_alg(HashAlg::Mean).to_hasher(),
        }
    }
}

impl FamilyHashers {
    /// Hashes a grey image (convert once with `DynamicImage::to_luma8`; `image_hasher`
    /// would do the same conversion for each algorithm).
    pub fn hash(&self, family: Family, grey: &DynamicImage) -> Hash64 {
        let hasher = match family {
            Family::Phash => &self.phash,
            Family::Dhash => &self.dhash,
            Family::Ahash => &self.ahash,
        };
        let hash = hasher.hash_image(grey);
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(hash.as_bytes());
        Hash64::from_bytes(bytes)
    }
}

/// An area-averaged grey thumbnail of `pixels`, at most `max_side` on its longest side, in
/// one pass: grey with `image`'s weights (`(2126 R + 7152 G + 722 B) / 10000`), each output
/// pixel the rounded mean of its source rectangle (one division per output pixel, not per
/// input pixel).
pub(crate) fn grey_thumbnail(pixels: &Pixels<'_>, max_side: usize) -> GrayImage {
    let (w, h) = (pixels.width(), pixels.height());
    let scale = |a: usize, b: usize| (a * max_side).div_ceil(b).clamp(1, max_side);
    let (tw, th) = if w >= h {
        (max_side.min(w), scale(h, w).min(h))
    } else {
        (scale(w, h).min(w), max_side.min(h))
    };
    let x_bounds: Vec<usize> = (0..=tw).map(|i| i * w / tw).collect();
    let channels = pixels.channels();
    let mut out = Vec::with_capacity(tw * th);
    // Per-channel column sums of a band of rows: a widening add over the raw row bytes,
    // which vectorises; the grey weights are applied once per output pixel.
    let mut column_sums = vec![0u32; w * channels];
    for j in 0..th {
        let (y0, y1) = (j * h / th, (j + 1) * h / th);
        column_sums.fill(0);
        for y in y0..y1 {
            for (s, &v) in column_sums.iter_mut().zip(pixels.row(y)) {
                *s += u32::from(v);
            }
        }
        for bounds in x_bounds.windows(2) {
            let cell = &column_sums[bounds[0] * channels..bounds[1] * channels];
            let sum: u64 = if channels == 1 {
                cell.iter().map(|&v| 10000 * u64::from(v)).sum()
            } else {
                let channel = |c: usize| -> u64 {
                    cell.iter()
                        .skip(c)
                        .step_by(channels)
                        .map(|&v| u64::from(v))
                        .sum()
                };
                2126 * channel(0) + 7152 * channel(1) + 722 * channel(2)
            };
            let count = ((bounds[1] - bounds[0]) * (y1 - y0)) as u64 * 10000;
            out.push(((sum + count / 2) / count).min(255) as u8);
        }
    }
    GrayImage::from_raw(tw as u32, th as u32, out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_averages_areas() {
        // 4×2 grey: left half 0/100, right half 200/255.
        let data = [0u8, 100, 200, 255, 0, 100, 200, 255];
        let pixels = Pixels::new(&data, 4, 2, 1).unwrap();
        let small = grey_thumbnail(&pixels, 2);
        assert_eq!(small.dimensions(), (2, 1));
        assert_eq!(small.as_raw(), &[50, 228]);
        let rgb = [255u8, 0, 0, 0, 255, 0];
        let pixels = Pixels::new(&rgb, 2, 1, 3).unwrap();
        assert_eq!(grey_thumbnail(&pixels, 4).as_raw(), &[54, 182]);
        // Rounded means: 54.2 and 182.4.
    }

    #[test]
    fn hex_round_trips() {
        let hash = Hash64::from_bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        assert_eq!(hash.to_hex(), "0123456789abcdef");
        assert_eq!(Hash64::from_hex("0123456789ABCDEF"), Ok(hash));
        assert!(Hash64::from_hex("0123").is_err());
        assert!(Hash64::from_hex("0123456789abcdeg").is_err());
        assert_eq!(
            hash.distance(&Hash64::from_hex("0123456789abcdee").unwrap()),
            1
        );
    }

    #[test]
    fn similar_images_hash_close_and_different_ones_far() {
        let gradient = |flip: bool, noise: u8| {
            let image = image::GrayImage::from_fn(256, 192, |x, y| {
                let v = ((x + 2 * y) % 256) as u8;
                let v = if flip { 255 - v } else { v };
                image::Luma([v.saturating_add(((x * 7 + y * 13) % 3) as u8 * noise)])
            });
            DynamicImage::ImageLuma8(image)
        };
        let hashers = FamilyHashers::default();
        for family in [Family::Phash, Family::Dhash, Family::Ahash] {
            let a = hashers.hash(family, &gradient(false, 0));
            let b = hashers.hash(family, &gradient(false, 2));
            let c = hashers.hash(family, &gradient(true, 0));
            assert!(a.distance(&b) <= 6, "{family:?}: {a} vs {b}");
            assert!(a.distance(&c) >= 20, "{family:?}: {a} vs {c}");
        }
    }
}
