//! Hashing of attachments: what hash lists from the IWF, NCMEC, StopNCII and ThreatExchange
//! carry, computed the way those lists were computed.
//!
//! - [`ExactAlgorithm`] and [`Family`]: the exact digests and the 64-bit family as typed
//!   subsets of [`vigil_core::Algorithm`], the one name of every hash algorithm.
//! - [`ExactDigests`]: MD5, SHA-1 and SHA-256 of the raw bytes, before any decoding, so a
//!   listed file matches even when no decoder accepts it.
//! - [`decode`]: guarded decoding (JPEG, PNG, GIF first frame, WebP, BMP, TIFF) within
//!   [`DecodeLimits`]; bombs, truncation and corruption become a [`DecodeError`] with a
//!   reason code, and a panicking decoder is contained.
//! - [`PdqHasher`]: Meta's PDQ, our own port, bit-exact against the reference (PyPI
//!   `pdqhash`), with the reference's 8 dihedral hashes from one DCT and our oriented
//!   hashes, which track physically rotated and mirrored copies far closer ([`PdqFeatures`]).
//! - [`content_boxes`]: finds uniform borders, so framed copies can be hashed without them;
//!   [`inset_box`]: finds a sharp picture centred on a blurred fill (short-video re-posts).
//! - [`FamilyHashers`]: pHash, dHash and aHash (64 bits) through `image_hasher`.
//! - [`AttachmentHasher`]: all of the above for one attachment, as [`AttachmentHashes`].
//! - [`VpdqFeature`]: one frame of Meta's vPDQ video hash, its compact text form, and the
//!   reference's sampling ([`frame_interval`]) and timestamps; frames are decoded elsewhere.
//! - [`Timebox`] and [`DecodeBudget`]: a wall-clock budget per image (the caller walks away
//!   from a slow decoder) and a memory budget shared by the threads that decode.
//!
//! ```
//! use vigil_hash::{Dihedral, PdqHasher, Pixels};
//!
//! // A 64×48 RGB gradient with a bright square.
//! let (w, h) = (64, 48);
//! let mut rgb = Vec::new();
//! for y in 0..h {
//!     for x in 0..w {
//!         let v = if (20..40).contains(&x) && (10..30).contains(&y) { 250 } else { (x * 3) as u8 };
//!         rgb.extend_from_slice(&[v, v / 2, 255 - v]);
//!     }
//! }
//! let mut hasher = PdqHasher::new();
//! let features = hasher.features(Pixels::new(&rgb, w, h, 3).unwrap());
//! assert_eq!(features.hash().count_ones(), 128);
//! assert_eq!(features.hash().to_hex().len(), 64);
//! // The rotations and mirrorings come from the same DCT.
//! let rotated = features.dihedral(Dihedral::Rotate90);
//! assert_ne!(rotated, features.hash());
//! ```

mod attachment;
mod budget;
mod decode;
mod exact;
mod hexdigits;
mod inset;
mod motion;
mod pdq;
mod perceptual;
mod subsets;
mod timebox;
mod trim;
mod vpdq;

pub use attachment::{
    AttachmentHasher, AttachmentHashes, FAMILY_THUMBNAIL_SIDE, HashOptions, ImageHashes, PdqForms,
    PdqQuery, PdqResult, pdq_queries,
};
pub use budget::{BudgetPermit, DecodeBudget};
pub use decode::{
    DecodeError, DecodeLimits, Decoded, HASHING_BYTES_PER_PIXEL, decode, decode_budgeted,
    sniff_format,
};
pub use exact::{Digest, DigestError, ExactDigests};
pub use inset::{InsetOptions, inset_box};
pub use motion::sniff_video;
pub use pdq::{
    Dihedral, MIN_DIMENSION, PdqFeatures, PdqHash, PdqHashError, PdqHasher, PdqLuma, Pixels,
    PixelsError,
};
pub use perceptual::{FamilyHashers, Hash64, Hash64Error};
pub use subsets::{ExactAlgorithm, Family, NotInSubset};
pub use timebox::{Deadline, Timebox, TimedOut};
pub use trim::{Rect, TrimOptions, content_box, content_boxes};
pub use vpdq::{VpdqFeature, VpdqParseError, frame_interval, frame_timestamp};
