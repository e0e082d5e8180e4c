//! Everything vigil computes for one attachment: exact digests of the raw bytes first (so a
//! listed file still matches when no decoder accepts it), then the guarded decode and the
//! perceptual hashes.

use image::DynamicImage;
use vigil_core::Algorithm;

use crate::decode::{DecodeError, DecodeLimits, decode};
use crate::inset::inset_box;
use crate::perceptual::{FamilyHashers, Hash64, grey_thumbnail};
use crate::trim::{Rect, TrimOptions, content_boxes};
use crate::{ExactAlgorithm, ExactDigests, Family, PdqHash, PdqHasher, PdqLuma, Pixels};

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashOptions {
    /// The algorithms (each computed once, however often named).
    pub algorithms: Vec<Algorithm>,
    /// Also the rotations and mirrorings: the reference's 8 dihedral PDQ hashes and our
    /// 8 oriented ones (see [`crate::PdqFeatures::oriented`]).
    pub dihedral: bool,
    /// Also hash the content inside uniform borders, when there are borders, and (with
    /// [`TrimOptions::inset`]) the sharp picture inside a blurred fill.
    pub trim: Option<TrimOptions>,
    /// Decoding limits.
    pub limits: DecodeLimits,
}

impl Default for HashOptions {
    fn default() -> HashOptions {
        HashOptions {
            algorithms: Algorithm::ALL.to_vec(),
            dihedral: false,
            trim: Some(TrimOptions::default()),
            limits: DecodeLimits::DEFAULT,
        }
    }
}

/// A PDQ hash with its quality and, when asked for, its rotations and mirrorings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdqResult {
    /// The hash of the pixels as stored.
    pub hash: PdqHash,
    /// The reference's quality, 0–100.
    pub quality: u8,
    /// The eight dihedral hashes in [`crate::Dihedral::ALL`] order (the first is `hash`).
    pub dihedral: Option<[PdqHash; 8]>,
    /// The eight oriented hashes (estimates of the hashes of the physically rotated and
    /// mirrored image), in the same order; what matching queries with.
    pub oriented: Option<[PdqHash; 8]>,
}

/// One PDQ hash that matching queries lists with, and what form of the image it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdqQuery {
    /// `None` for the image as stored; else `rotate90`, …, `trimmed`, `trimmed+rotate90`, …,
    /// `inset`, `inset+rotate90`, …
    pub variant: Option<String>,
    /// The hash.
    pub hash: PdqHash,
    /// The quality of the image form it was computed from.
    pub quality: u8,
}

/// The hashes that need pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageHashes {
    /// `JPEG`, `PNG`, …
    pub format: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// PDQ of the whole image.
    pub pdq: Option<PdqResult>,
    /// PDQ of the content inside uniform borders, and where that content is (a second box
    /// when opposite borders differ: see [`crate::content_boxes`]).
    pub pdq_trimmed: Vec<(Rect, PdqResult)>,
    /// PDQ of the sharp picture inside a blurred fill, and where it is (see
    /// [`crate::inset_box`]); `None` when there is none or it is a trimmed box already.
    pub pdq_inset: Option<(Rect, PdqResult)>,
    /// pHash.
    pub phash: Option<Hash64>,
    /// dHash.
    pub dhash: Option<Hash64>,
    /// aHash.
    pub ahash: Option<Hash64>,
}

impl ImageHashes {
    /// Every PDQ hash to query lists with, from forms of the image of at least
    /// `min_quality`: the image, its oriented variants, and the same for each trimmed box
    /// and the inset box.
    pub fn pdq_queries(&self, min_quality: u8) -> Vec<PdqQuery> {
        pdq_queries(
            self.pdq.as_ref(),
            &self.pdq_trimmed,
            self.pdq_inset.as_ref(),
            min_quality,
        )
    }

    /// The 64-bit hash for `family`, if computed.
    pub fn family(&self, family: Family) -> Option<Hash64> {
        match family {
            Family::Phash => self.phash,
            Family::Dhash => self.dhash,
            Family::Ahash => self.ahash,
        }
    }
}

/// Every PDQ hash to query lists with, from the forms of at least `min_quality`: the whole
/// picture (first, unnamed), its oriented variants (`rotate90`, …), and the same for each
/// trimmed box (`trimmed`, `trimmed+rotate90`, …) and the inset box (`inset`,
/// `inset+rotate90`, …); each distinct hash once.
pub fn pdq_queries(
    whole: Option<&PdqResult>,
    trimmed: &[(Rect, PdqResult)],
    inset: Option<&(Rect, PdqResult)>,
    min_quality: u8,
) -> Vec<PdqQuery> {
    let forms = whole
        .into_iter()
        .map(|r| (None, r))
        .chain(trimmed.iter().map(|(_, r)| (Some("trimmed"), r)))
        .chain(inset.map(|(_, r)| (Some("inset"), r)));
    let mut queries = Vec::new();
    for (form, result) in forms.filter(|(_, r)| r.quality >= min_quality) {
        let oriented = result.oriented.unwrap_or([result.hash; 8]);
        let count = if result.oriented.is_some() { 8 } else { 1 };
        for (variant, hash) in crate::Dihedral::ALL.iter().zip(oriented).take(count) {
            let variant = match (form, variant) {
                (None, crate::Dihedral::Original) => None,
                (Some(form), crate::Dihedral::Original) => Some(form.to_string()),
                (None, v) => Some(v.as_str().to_string()),
                (Some(form), v) => Some(format!("{form}+{}", v.as_str())),
            };
            if !queries.iter().any(|q: &PdqQuery| q.hash == hash) {
                queries.push(PdqQuery {
                    variant,
                    hash,
                    quality: result.quality,
                });
            }
        }
    }
    queries
}

/// The PDQ forms of one picture ([`AttachmentHasher::pdq_pixels`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdqForms {
    /// The whole picture.
    pub whole: PdqResult,
    /// The content inside uniform borders ([`crate::content_boxes`]).
    pub trimmed: Vec<(Rect, PdqResult)>,
    /// The sharp picture inside a blurred fill ([`crate::inset_box`]), unless that is one of
    /// the trimmed boxes.
    pub inset: Option<(Rect, PdqResult)>,
}

impl PdqForms {
    /// Every PDQ hash to query lists with (see [`pdq_queries`]).
    pub fn queries(&self, min_quality: u8) -> Vec<PdqQuery> {
        pdq_queries(
            Some(&self.whole),
            &self.trimmed,
            self.inset.as_ref(),
            min_quality,
        )
    }
}

/// Everything computed for one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentHashes {
    /// Digests of the raw bytes (always computed first).
    pub exact: ExactDigests,
    /// The perceptual hashes, or why the bytes could not be decoded; `None` when no
    /// perceptual algorithm was asked for.
    pub image: Option<Result<ImageHashes, DecodeError>>,
}

/// Hashes attachments. Holds scratch buffers: keep one per thread.
#[derive(Debug, Default)]
pub struct AttachmentHasher {
    options: HashOptions,
    pdq: PdqHasher,
    family: FamilyHashers,
}

impl AttachmentHasher {
    /// A hasher computing what `options` asks for.
    pub fn new(options: HashOptions) -> AttachmentHasher {
        AttachmentHasher {
            options,
            ..AttachmentHasher::default()
        }
    }

    /// The same hasher computing PDQ's luma as `luma` says: [`PdqLuma::F32`] for video
    /// frames, as vPDQ does (the default, [`PdqLuma::F64`], is the photo reference's).
    pub fn with_pdq_luma(mut self, luma: PdqLuma) -> AttachmentHasher {
        self.pdq = PdqHasher::with_luma(luma);
        self
    }

    /// The options in force.
    pub fn options(&self) -> &HashOptions {
        &self.options
    }

    /// Hashes one attachment's bytes.
    pub fn hash(&mut self, bytes: &[u8]) -> AttachmentHashes {
        let exact: Vec<ExactAlgorithm> = self
            .options
            .algorithms
            .iter()
            .filter_map(|&a| ExactAlgorithm::try_from(a).ok())
            .collect();
        let exact = ExactDigests::compute(bytes, &exact);
        let wants = |a: Algorithm| self.options.algorithms.contains(&a);
        // Only the image hashes need the image decoder; vPDQ is a video worker's.
        let image = |a: Algorithm| a == Algorithm::Pdq || Family::try_from(a).is_ok();
        if !Algorithm::ALL.iter().any(|&a| image(a) && wants(a)) {
            return AttachmentHashes { exact, image: None };
        }
        let image = decode(bytes, &self.options.limits)
            .map(|decoded| self.hash_pixels(&decoded.image, decoded.format));
        AttachmentHashes {
            exact,
            image: Some(image),
        }
    }

    /// Hashes decoded pixels.
    pub fn hash_pixels(&mut self, image: &DynamicImage, format: &'static str) -> ImageHashes {
        let algorithms = &self.options.algorithms;
        let wants_pdq = algorithms.contains(&Algorithm::Pdq);
        let families: Vec<Family> = Family::ALL
            .into_iter()
            .filter(|&f| algorithms.contains(&Algorithm::from(f)))
            .collect();
        let mut hashes = ImageHashes {
            format,
            width: image.width(),
            height: image.height(),
            pdq: None,
            pdq_trimmed: Vec::new(),
            pdq_inset: None,
            phash: None,
            dhash: None,
            ahash: None,
        };
        if wants_pdq {
            with_pixels(image, |pixels| {
                let forms = self.pdq_pixels(pixels);
                hashes.pdq = Some(forms.whole);
                hashes.pdq_trimmed = forms.trimmed;
                hashes.pdq_inset = forms.inset;
            });
        }
        if !families.is_empty() {
            let grey = family_input(image);
            for family in families {
                let hash = Some(self.family.hash(family, &grey));
                match family {
                    Family::Phash => hashes.phash = hash,
                    Family::Dhash => hashes.dhash = hash,
                    Family::Ahash => hashes.ahash = hash,
                }
            }
        }
        hashes
    }

    /// PDQ of decoded pixels (a photo, a video frame): the whole picture and, when the
    /// options ask for it, the content inside uniform borders and the sharp picture inside a
    /// blurred fill; each with its rotations and mirrorings when asked for.
    pub fn pdq_pixels(&mut self, pixels: Pixels<'_>) -> PdqForms {
        let whole = self.pdq_of(pixels);
        let boxes = match &self.options.trim {
            Some(options) => content_boxes(&pixels, options),
            None => Vec::new(),
        };
        let inset = match self.options.trim.as_ref().and_then(|t| t.inset.as_ref()) {
            Some(options) => inset_box(&pixels, options).filter(|rect| !boxes.contains(rect)),
            None => None,
        };
        let mut hash = |rect: Rect| {
            let inner = pixels.crop(rect.x, rect.y, rect.width, rect.height)?;
            Some((rect, self.pdq_of(inner)))
        };
        let trimmed = boxes.into_iter().filter_map(&mut hash).collect();
        let inset = inset.and_then(hash);
        PdqForms {
            whole,
            trimmed,
            inset,
        }
    }

    fn pdq_of(&mut self, pixels: Pixels<'_>) -> PdqResult {
        let features = self.pdq.features(pixels);
        PdqResult {
            hash: features.hash(),
            quality: features.quality(),
            dihedral: self.options.dihedral.then(|| features.dihedrals()),
            oriented: self.options.dihedral.then(|| features.orientations()),
        }
    }
}

/// Longest side of the grey thumbnail the 64-bit family hashes: they resize to at most
/// 16 × 16, and `image_hasher`'s Lanczos resize of a full photograph, three times over,
/// costs ~25 ms per megapixel; an area-averaged thumbnail first costs well under one and
/// moves the hashes by the few bits `tests/family_hashes.rs` bounds.
pub const FAMILY_THUMBNAIL_SIDE: usize = 128;

/// The grey image the 64-bit family hashes: the image itself (as `image_hasher` would
/// convert it) when small, else an area-averaged thumbnail.
fn family_input(image: &DynamicImage) -> DynamicImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w.max(h) > FAMILY_THUMBNAIL_SIDE {
        let mut small = None;
        with_pixels(image, |pixels| {
            small = Some(grey_thumbnail(&pixels, FAMILY_THUMBNAIL_SIDE));
        });
        if let Some(small) = small {
            return DynamicImage::ImageLuma8(small);
        }
    }
    DynamicImage::ImageLuma8(image.to_luma8())
}

/// Calls `f` with the image's 8-bit grey, RGB or RGBA pixels, converting other layouts
/// (16-bit, float, grey with alpha) to RGB first.
fn with_pixels(image: &DynamicImage, f: impl FnOnce(Pixels<'_>)) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let direct = match image {
        DynamicImage::ImageLuma8(i) => Pixels::new(i.as_raw(), w, h, 1).ok(),
        DynamicImage::ImageRgb8(i) => Pixels::new(i.as_raw(), w, h, 3).ok(),
        DynamicImage::ImageRgba8(i) => Pixels::new(i.as_raw(), w, h, 4).ok(),
        _ => None,
    };
    match direct {
        Some(pixels) => f(pixels),
        None => {
            let rgb = image.to_rgb8();
            if let Ok(pixels) = Pixels::new(rgb.as_raw(), w, h, 3) {
                f(pixels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_luma_equals_the_rgb_route() {
        // A grey pixel through the reference's RGB formula must give the grey value, so
        // hashing grey directly (as the reference does) and via RGB agree.
        for v in 0..=255u8 {
            let rgb = f64::from(v) * 0.299 + f64::from(v) * 0.587 + f64::from(v) * 0.114;
            assert_eq!(rgb as f32, f32::from(v), "{v}");
        }
    }

    #[test]
    fn a_uniform_border_is_trimmed_once_and_not_hashed_again_as_an_inset() {
        // Noise framed by 40 black pixels left and right: the uniform trim finds it; the
        // inset detector, which sees the same box, must not add a second form.
        let (w, h, border) = (320, 200, 40);
        let mut state = 99u32;
        let mut rgb = Vec::with_capacity(w * h * 3);
        for _y in 0..h {
            for x in 0..w {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let v = (state >> 16) as u8;
                if (border..w - border).contains(&x) {
                    rgb.extend_from_slice(&[v, v / 2, 255 - v]);
                } else {
                    rgb.extend_from_slice(&[0, 0, 0]);
                }
            }
        }
        let pixels = Pixels::new(&rgb, w, h, 3).unwrap();
        let expected = Rect {
            x: border,
            y: 0,
            width: w - 2 * border,
            height: h,
        };
        let mut with = AttachmentHasher::new(HashOptions::default());
        let forms = with.pdq_pixels(pixels);
        assert_eq!(forms.trimmed.len(), 1);
        assert_eq!(forms.trimmed[0].0, expected);
        assert_eq!(forms.inset, None);
        let queries = forms.queries(0);
        assert!(
            queries
                .iter()
                .any(|q| q.variant.as_deref() == Some("trimmed"))
        );
        assert!(
            queries
                .iter()
                .all(|q| !q.variant.as_deref().unwrap_or("").starts_with("inset"))
        );
        // The trimmed forms are the same as without the inset detector.
        let mut without = AttachmentHasher::new(HashOptions {
            trim: Some(TrimOptions {
                inset: None,
                ..TrimOptions::default()
            }),
            ..HashOptions::default()
        });
        assert_eq!(without.pdq_pixels(pixels).trimmed, forms.trimmed);
    }

    #[test]
    fn undecodable_bytes_still_get_exact_digests() {
        let mut hasher = AttachmentHasher::default();
        let hashes = hasher.hash(b"\x89PNG\r\n\x1a\n truncated");
        assert!(hashes.exact.get(ExactAlgorithm::Sha256).is_some());
        let err = hashes.image.unwrap().unwrap_err();
        assert_eq!(err.reason(), "undecodable");
    }

    #[test]
    fn exact_only_does_not_decode() {
        let mut hasher = AttachmentHasher::new(HashOptions {
            algorithms: vec![Algorithm::Md5],
            ..HashOptions::default()
        });
        let hashes = hasher.hash(b"not an image");
        assert!(hashes.image.is_none());
        assert!(hashes.exact.get(ExactAlgorithm::Md5).is_some());
        assert!(hashes.exact.get(ExactAlgorithm::Sha1).is_none());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Real encodings of a small image, so mutations reach deep into each decoder.
        fn seeds() -> Vec<Vec<u8>> {
            let image = image::RgbImage::from_fn(24, 17, |x, y| {
                image::Rgb([(x * 10) as u8, (y * 15) as u8, ((x ^ y) * 7) as u8])
            });
            let formats = [
                image::ImageFormat::Png,
                image::ImageFormat::Jpeg,
                image::ImageFormat::Gif,
                image::ImageFormat::Bmp,
                image::ImageFormat::WebP,
                image::ImageFormat::Tiff,
            ];
            formats
                .iter()
                .map(|&format| {
                    let mut out = std::io::Cursor::new(Vec::new());
                    image.write_to(&mut out, format).unwrap();
                    out.into_inner()
                })
                .collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(400))]

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let hashes = AttachmentHasher::default().hash(&bytes);
                prop_assert!(hashes.exact.get(ExactAlgorithm::Sha256).is_some());
            }

            #[test]
            fn mutated_images_never_panic(
                seed in 0usize..6,
                edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
                cut in any::<prop::sample::Index>(),
            ) {
                let mut bytes = seeds().swap_remove(seed);
                for (at, value) in edits {
                    let i = at.index(bytes.len());
                    bytes[i] = value;
                }
                bytes.truncate(cut.index(bytes.len()) + 1);
                let hashes = AttachmentHasher::default().hash(&bytes);
                prop_assert!(hashes.image.is_some());
            }
        }
    }
}
