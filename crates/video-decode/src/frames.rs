//! Hashing one decoded frame: the reference's PDQ of the frame as decoded (the vPDQ
//! feature) and, when asked for, the extra query forms vigil adds.

use vigil_hash::{AttachmentHasher, HashOptions, PdqLuma, Pixels, TrimOptions};
use vigil_video::Forms;
use vigil_video::protocol::{WireFrame, WireVariant};

/// Hashes frames; holds PDQ scratch buffers across frames.
pub(crate) struct FrameHasher {
    hasher: AttachmentHasher,
}

impl FrameHasher {
    pub(crate) fn new(forms: Forms) -> FrameHasher {
        // vPDQ's frame hasher computes luma in f32 (the C++'s `fillFloatLumaFromRGB`), not
        // in f64 as the photo reference's binding does: see `PdqLuma`.
        FrameHasher {
            hasher: AttachmentHasher::new(HashOptions {
                dihedral: forms.dihedral,
                trim: forms.trim.then(TrimOptions::default),
                ..HashOptions::default()
            })
            .with_pdq_luma(PdqLuma::F32),
        }
    }

    /// The frame's hashes: its PDQ as the reference computes it from RGB24, then every
    /// distinct extra form.
    pub(crate) fn hash(&mut self, pixels: Pixels<'_>, frame: u64, timestamp: f64) -> WireFrame {
        let forms = self.hasher.pdq_pixels(pixels);
        let whole = &forms.whole;
        let variants = forms
            .queries(0)
            .into_iter()
            .filter_map(|q| {
                Some(WireVariant {
                    form: q.variant?,
                    hash: q.hash.to_hex(),
                    quality: q.quality,
                })
            })
            .collect();
        WireFrame {
            frame,
            timestamp,
            hash: whole.hash.to_hex(),
            quality: whole.quality,
            variants,
        }
    }
}
