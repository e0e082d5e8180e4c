//! PDQ, Meta's 256-bit perceptual image hash: our own port, bit-exact against the reference.
//!
//! The steps and their float arithmetic follow the reference (ThreatExchange `pdq/cpp`) as
//! wrapped by PyPI `pdqhash`, which is what HMA and python-threatexchange hash with:
//!
//! 1. luma `0.299 R + 0.587 G + 0.114 B` computed in f64 and rounded to f32 (the binding does
//!    this in numpy before calling the C++); the C++'s own `fillFloatLumaFromRGB`, which
//!    Meta's vPDQ hashes video frames with, computes it in f32 instead ([`PdqLuma`]);
//! 2. two passes of a Jarosz box filter (along rows, then along columns), window
//!    `ceil(dim / 128)` per axis, running sums in f32 divided by the samples in the window;
//! 3. decimation to 64×64 at sample centres (`floor((i + 0.5) · dim / 64)`); a 64×64 input
//!    is used as is, without the filter, as the reference does;
//! 4. quality from the 64×64 gradients; a 16×64 · 64×64 · 64×16 DCT in f32 with sums taken in
//!    the reference's order; bit `i·16 + j` set iff the coefficient is above the lower median.
//!
//! Every float operation happens in the reference's order (Rust never fuses or reorders float
//! arithmetic), so the same pixels give the same bits. The speed comes from the loop shapes,
//! not from different arithmetic: the column passes run over whole rows (vectorised), the row
//! passes interleave eight rows so their running-sum chains overlap, the last column pass
//! only computes the 64 columns that are sampled, and scratch buffers are reused.

use std::fmt;
use std::sync::LazyLock;

/// Scratch samples a hasher keeps between calls (16 MP, 64 MiB of f32); a larger image's
/// buffers are freed after it.
const MAX_KEPT_SCRATCH: usize = 16 << 20;

/// Images with fewer rows or columns than this hash to zero with quality zero.
pub const MIN_DIMENSION: usize = 5;

/// A 256-bit PDQ hash. Bit `k` is the DCT coefficient `(k / 16, k % 16)`.
///
/// The text form is the reference's: 64 lowercase hex digits, most significant first (the
/// 16-bit words 15 down to 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PdqHash([u64; 4]);

/// Why a string is not a PDQ hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdqHashError {
    /// Not 64 characters.
    #[error("a PDQ hash has 64 hex characters, got {0}")]
    Length(usize),
    /// A character outside `0-9a-fA-F`.
    #[error("a PDQ hash is hex; found a character that is not")]
    NotHex,
}

impl PdqHash {
    /// The hash with no bit set (what degenerate images hash to).
    pub const ZERO: PdqHash = PdqHash([0; 4]);

    /// Parses the 64-hex-digit form (either case).
    pub fn from_hex(hex: &str) -> Result<PdqHash, PdqHashError> {
        if hex.len() != 64 {
            return Err(PdqHashError::Length(hex.chars().count()));
        }
        let mut bytes = [0u8; 32];
        if !crate::hexdigits::decode(hex.as_bytes(), &mut bytes) {
            return Err(PdqHashError::NotHex);
        }
        let limb = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[8 * (3 - i)..8 * (4 - i)]);
            u64::from_be_bytes(b)
        };
        Ok(PdqHash([limb(0), limb(1), limb(2), limb(3)]))
    }

    /// Builds a hash from four 64-bit limbs, least significant (bits 0–63) first.
    pub fn from_limbs(limbs: [u64; 4]) -> PdqHash {
        PdqHash(limbs)
    }

    /// The four 64-bit limbs, least significant (bits 0–63) first.
    pub fn limbs(&self) -> [u64; 4] {
        self.0
    }

    /// Whether bit `k` (0–255) is set.
    pub fn bit(&self, k: usize) -> bool {
        self.0[k / 64] >> (k % 64) & 1 == 1
    }

    /// Number of set bits (128 for every non-degenerate reference hash).
    pub fn count_ones(&self) -> u32 {
        self.0.iter().map(|l| l.count_ones()).sum()
    }

    /// Hamming distance.
    pub fn distance(&self, other: &PdqHash) -> u32 {
        self.0
            .iter()
            .zip(other.0)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// The 64-hex-digit form.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    fn set(&mut self, k: usize) {
        self.0[k / 64] |= 1 << (k % 64);
    }
}

impl fmt::Display for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for limb in self.0.iter().rev() {
            write!(f, "{limb:016x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PdqHash({self})")
    }
}

impl std::str::FromStr for PdqHash {
    type Err = PdqHashError;
    fn from_str(s: &str) -> Result<PdqHash, PdqHashError> {
        PdqHash::from_hex(s)
    }
}

/// The eight rotations and mirrorings of an image, in the reference's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dihedral {
    /// The image as stored.
    Original,
    /// Rotated 90° counter-clockwise.
    Rotate90,
    /// Rotated 180°.
    Rotate180,
    /// Rotated 270° counter-clockwise (90° clockwise).
    Rotate270,
    /// Mirrored top to bottom.
    FlipX,
    /// Mirrored left to right.
    FlipY,
    /// Mirrored about the main diagonal (transposed).
    FlipPlus1,
    /// Mirrored about the anti-diagonal.
    FlipMinus1,
}

impl Dihedral {
    /// All eight, in the reference's order.
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Original,
        Dihedral::Rotate90,
        Dihedral::Rotate180,
        Dihedral::Rotate270,
        Dihedral::FlipX,
        Dihedral::FlipY,
        Dihedral::FlipPlus1,
        Dihedral::FlipMinus1,
    ];

    /// A short name: `original`, `rotate90`, …, `flip_minus1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dihedral::Original => "original",
            Dihedral::Rotate90 => "rotate90",
            Dihedral::Rotate180 => "rotate180",
            Dihedral::Rotate270 => "rotate270",
            Dihedral::FlipX => "flip_x",
            Dihedral::FlipY => "flip_y",
            Dihedral::FlipPlus1 => "flip_plus1",
            Dihedral::FlipMinus1 => "flip_minus1",
        }
    }

    /// Where coefficient `(i, j)` of the original goes and whether its sign flips. A DCT
    /// basis function of odd index is antisymmetric, so mirroring an axis negates the
    /// coefficients whose index along that axis is even (the reference's rows are 1-based).
    fn map(self, i: usize, j: usize) -> (usize, usize, bool) {
        let (even_i, even_j, odd_sum) = (
            i.is_multiple_of(2),
            j.is_multiple_of(2),
            !(i + j).is_multiple_of(2),
        );
        match self {
            Dihedral::Original => (i, j, false),
            Dihedral::Rotate90 => (j, i, even_j),
            Dihedral::Rotate180 => (i, j, odd_sum),
            Dihedral::Rotate270 => (j, i, even_i),
            Dihedral::FlipX => (i, j, even_i),
            Dihedral::FlipY => (i, j, even_j),
            Dihedral::FlipPlus1 => (j, i, false),
            Dihedral::FlipMinus1 => (j, i, odd_sum),
        }
    }
}

/// What PDQ computes for one image before thresholding: the 16×16 DCT and the quality,
/// from which the hash and the reference's dihedral hashes are read, plus the DCTs of the
/// image's three mirrorings sampled where the reference would sample the mirrored file
/// (see [`PdqFeatures::oriented`]).
#[derive(Clone, PartialEq)]
pub struct PdqFeatures {
    dct: [f32; 256],
    /// Top-bottom, left-right and both-ways mirrorings.
    mirrored: [[f32; 256]; 3],
    quality: u8,
}

impl fmt::Debug for PdqFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PdqFeatures")
            .field("hash", &self.hash())
            .field("quality", &self.quality)
            .finish()
    }
}

impl PdqFeatures {
    fn degenerate() -> PdqFeatures {
        PdqFeatures {
            dct: [0.0; 256],
            mirrored: [[0.0; 256]; 3],
            quality: 0,
        }
    }

    /// The reference's quality, 0–100 (lists usually ignore hashes below 50).
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// The 16×16 DCT coefficients, row-major (what the reference's `pdqFloat256` returns).
    pub fn coefficients(&self) -> &[f32; 256] {
        &self.dct
    }

    /// The hash of the image as stored.
    pub fn hash(&self) -> PdqHash {
        threshold(&self.dct)
    }

    /// The hash the reference computes for `variant` of the image.
    pub fn dihedral(&self, variant: Dihedral) -> PdqHash {
        if variant == Dihedral::Original {
            return self.hash();
        }
        let mut moved = [0f32; 256];
        for i in 0..16 {
            for j in 0..16 {
                let (ti, tj, negate) = variant.map(i, j);
                let value = self.dct[i * 16 + j];
                moved[ti * 16 + tj] = if negate { -value } else { value };
            }
        }
        threshold(&moved)
    }

    /// All eight dihedral hashes, in [`Dihedral::ALL`] order.
    pub fn dihedrals(&self) -> [PdqHash; 8] {
        Dihedral::ALL.map(|variant| self.dihedral(variant))
    }

    /// An estimate of the hash of the physically rotated or mirrored image, closer to it
    /// than [`PdqFeatures::dihedral`]. The reference's dihedral hashes permute and negate
    /// the DCT, which assumes that mirroring commutes with decimation; it does not (a
    /// mirrored file is sampled one or two pixels off the original's sample points, and the
    /// box filter of an even window is off-centre), which costs fine textures and text up
    /// to 100 bits. Here each mirroring is decimated at the points the reference would
    /// sample in the mirrored file and gets its own DCT; transpositions, which keep the
    /// sample points, still come from transposing a DCT.
    pub fn oriented(&self, variant: Dihedral) -> PdqHash {
        let [flip_x, flip_y, rotate180] = &self.mirrored;
        match variant {
            Dihedral::Original => self.hash(),
            Dihedral::FlipX => threshold(flip_x),
            Dihedral::FlipY => threshold(flip_y),
            Dihedral::Rotate180 => threshold(rotate180),
            Dihedral::FlipPlus1 => threshold(&transposed(&self.dct)),
            Dihedral::FlipMinus1 => threshold(&transposed(rotate180)),
            Dihedral::Rotate90 => threshold(&transposed(flip_y)),
            Dihedral::Rotate270 => threshold(&transposed(flip_x)),
        }
    }

    /// All eight [`PdqFeatures::oriented`] hashes, in [`Dihedral::ALL`] order.
    pub fn orientations(&self) -> [PdqHash; 8] {
        Dihedral::ALL.map(|variant| self.oriented(variant))
    }
}

fn transposed(dct: &[f32; 256]) -> [f32; 256] {
    std::array::from_fn(|k| dct[(k % 16) * 16 + k / 16])
}

/// Bits above the lower median (the 128th smallest of 256, which is what the reference's
/// Torben median returns).
fn threshold(dct: &[f32; 256]) -> PdqHash {
    let mut sorted = *dct;
    let (_, median, _) = sorted.select_nth_unstable_by(127, f32::total_cmp);
    let median = *median;
    let mut hash = PdqHash::ZERO;
    for (k, &value) in dct.iter().enumerate() {
        if value > median {
            hash.set(k);
        }
    }
    hash
}

/// Pixels to hash: 8-bit grey, RGB or RGBA (alpha ignored), rows `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct Pixels<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    channels: usize,
    stride: usize,
}

/// Why a pixel buffer cannot be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PixelsError {
    /// Channels other than 1 (grey), 3 (RGB) or 4 (RGBA).
    #[error("{0} channels per pixel; expected 1, 3 or 4")]
    Channels(usize),
    /// The buffer is smaller than the dimensions say.
    #[error("{width}x{height} pixels need {needed} bytes, the buffer has {actual}")]
    Short {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Bytes the dimensions need.
        needed: usize,
        /// Bytes given.
        actual: usize,
    },
}

impl<'a> Pixels<'a> {
    /// Tightly packed rows of `channels` bytes per pixel.
    pub fn new(
        data: &'a [u8],
        width: usize,
        height: usize,
        channels: usize,
    ) -> Result<Pixels<'a>, PixelsError> {
        Pixels::with_stride(data, width, height, channels, width * channels)
    }

    /// Rows `stride` bytes apart (`stride >= width * channels`).
    pub fn with_stride(
        data: &'a [u8],
        width: usize,
        height: usize,
        channels: usize,
        stride: usize,
    ) -> Result<Pixels<'a>, PixelsError> {
        if !matches!(channels, 1 | 3 | 4) {
            return Err(PixelsError::Channels(channels));
        }
        let row = width * channels;
        let needed = if height == 0 || width == 0 {
            0
        } else {
            stride.max(row) * (height - 1) + row
        };
        if data.len() < needed || stride < row {
            return Err(PixelsError::Short {
                width,
                height,
                needed,
                actual: data.len(),
            });
        }
        Ok(Pixels {
            data,
            width,
            height,
            channels,
            stride,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes per pixel.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The rectangle `width × height` at `(x, y)`, or `None` if it does not fit.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Option<Pixels<'a>> {
        if x + width > self.width || y + height > self.height {
            return None;
        }
        let start = y * self.stride + x * self.channels;
        let data = self.data.get(start..).unwrap_or_default();
        Pixels::with_stride(data, width, height, self.channels, self.stride).ok()
    }

    /// Row `y` (`width * channels` bytes).
    pub fn row(&self, y: usize) -> &'a [u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width * self.channels]
    }
}

/// How RGB pixels become PDQ's f32 luma: the one step in which the two references differ.
///
/// Both run Meta's same PDQ C++ from the luma on (Jarosz filter, DCT, median); they differ
/// in who computes the luma. PyPI `pdqhash` (photos: HMA, python-threatexchange) computes
/// `0.299 R + 0.587 G + 0.114 B` in numpy, in f64, and rounds the sum to f32; Meta's vPDQ
/// (`vpdq`'s `PDQFrameBufferHasher`) calls the C++'s `fillFloatLumaFromRGB`, whose
/// coefficients, products and sums are all f32. A quarter of pixels then get a luma one f32
/// ulp apart, which, rarely, moves a DCT coefficient across the median: one frame in a few
/// hundred gets a hash 1–3 bits away. Grey pixels are used as they are either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PdqLuma {
    /// f64 sum rounded to f32: PyPI `pdqhash`, what photo hashes are computed with.
    #[default]
    F64,
    /// f32 throughout, `(0.299·R + 0.587·G) + 0.114·B`: the C++ `fillFloatLumaFromRGB`,
    /// what vPDQ hashes video frames with.
    F32,
}

/// Computes PDQ. Holds scratch buffers so that hashing many images allocates only when an
/// image is larger than every one before it; keep one per thread.
#[derive(Debug, Default)]
pub struct PdqHasher {
    luma: PdqLuma,
    full: Vec<f32>,
    columns_in: Vec<f32>,
    columns: ColumnScratch,
    rows: RowScratch,
}

impl PdqHasher {
    /// A hasher with empty scratch buffers.
    pub fn new() -> PdqHasher {
        PdqHasher::default()
    }

    /// A hasher computing luma as `luma` says (photos: [`PdqLuma::F64`], the default; vPDQ
    /// video frames: [`PdqLuma::F32`]).
    pub fn with_luma(luma: PdqLuma) -> PdqHasher {
        PdqHasher {
            luma,
            ..PdqHasher::default()
        }
    }

    /// How this hasher computes luma.
    pub fn luma(&self) -> PdqLuma {
        self.luma
    }

    /// Hashes `pixels`: the DCT and quality from which the hash and its dihedral variants
    /// are read.
    pub fn features(&mut self, pixels: Pixels<'_>) -> PdqFeatures {
        let (rows, cols) = (pixels.height, pixels.width);
        if rows < MIN_DIMENSION || cols < MIN_DIMENSION {
            return PdqFeatures::degenerate();
        }
        // The block and its top-bottom, left-right and both-ways mirrorings.
        let mut blocks = [[[0f32; 64]; 64]; 4];
        if rows == 64 && cols == 64 {
            for (y, out) in blocks[0].iter_mut().enumerate() {
                luma_row(&pixels, self.luma, y, out.iter_mut());
            }
            for i in 0..64 {
                for j in 0..64 {
                    let v = blocks[0][i][j];
                    blocks[1][63 - i][j] = v;
                    blocks[2][i][63 - j] = v;
                    blocks[3][63 - i][63 - j] = v;
                }
            }
        } else {
            self.blur_and_decimate(&pixels, &mut blocks);
            // A scanning thread keeps its scratch, but not the gigabyte-scale kind one huge
            // image would leave behind.
            if self.full.len() > MAX_KEPT_SCRATCH {
                self.full = Vec::new();
                self.columns_in = Vec::new();
            }
        }
        let [block, flip_x, flip_y, rotate180] = &blocks;
        PdqFeatures {
            quality: quality(block),
            dct: dct64_to_16(block),
            mirrored: [
                dct64_to_16(flip_x),
                dct64_to_16(flip_y),
                dct64_to_16(rotate180),
            ],
        }
    }

    /// The hash and quality of `pixels`.
    pub fn hash(&mut self, pixels: Pixels<'_>) -> (PdqHash, u8) {
        let features = self.features(pixels);
        (features.hash(), features.quality())
    }

    /// Two Jarosz passes (rows then columns, twice) and decimation to 64×64, at the
    /// reference's sample points and at those of the mirrored image. Luma goes straight
    /// into the first row pass; the second column pass runs only over the 128 sampled
    /// columns, since nothing else is read from it.
    fn blur_and_decimate(&mut self, pixels: &Pixels<'_>, blocks: &mut [[[f32; 64]; 64]; 4]) {
        let (rows, cols) = (pixels.height, pixels.width);
        let row_window = window_size(cols);
        let col_window = window_size(rows);
        let luma = self.luma;
        resize(&mut self.full, rows * cols);
        let full = &mut self.full[..rows * cols];
        self.rows.box_rows(full, cols, row_window, |y, k, lanes| {
            luma_row(pixels, luma, y, lanes.iter_mut().map(|lane| &mut lane[k]));
        });

        // The first column pass hands each finished row straight to the second row pass,
        // which keeps only the 128 columns sampled (directly and mirrored).
        let sampled_cols: Vec<usize> = sample_indices(cols)
            .into_iter()
            .chain(mirrored_sample_indices(cols, row_window))
            .collect();
        resize(&mut self.columns_in, rows * 128);
        let gathered = &mut self.columns_in[..rows * 128];
        let row_pass = &mut self.rows;
        row_pass.begin(cols, row_window);
        box_along_cols(full, cols, col_window, &mut self.columns, |r, row| {
            let k = r % LANES;
            for (lane, &v) in row_pass.interleaved.iter_mut().zip(row) {
                lane[k] = v;
            }
            if k + 1 == LANES || r + 1 == rows {
                let filtered = row_pass.filter();
                let first = r - k;
                for (kk, g_row) in gathered[first * 128..(r + 1) * 128]
                    .chunks_exact_mut(128)
                    .enumerate()
                {
                    for (g, &c) in g_row.iter_mut().zip(&sampled_cols) {
                        *g = filtered[c][kk];
                    }
                }
            }
        });

        let row_sets = [
            sample_indices(rows),
            mirrored_sample_indices(rows, col_window),
        ];
        // (row set, column half) of the block, top-bottom, left-right, both-ways mirrorings.
        let layout = [(0, 0), (1, 0), (0, 1), (1, 1)];
        // Every (filtered row, block, block row) copy, in row order: the pass below emits
        // each filtered row once and only needs the copies of that row.
        let mut copies: Vec<(usize, usize, usize)> = layout
            .iter()
            .enumerate()
            .flat_map(|(b, &(set, _))| {
                row_sets[set]
                    .iter()
                    .enumerate()
                    .map(move |(i, &r)| (r, b, i))
            })
            .collect();
        copies.sort_unstable();
        let mut next = copies.iter().peekable();
        box_along_cols(gathered, 128, col_window, &mut self.columns, |r, row| {
            while let Some(&(_, b, i)) = next.next_if(|&&(sample, _, _)| sample == r) {
                let half = layout[b].1;
                blocks[b][i].copy_from_slice(&row[half * 64..half * 64 + 64]);
            }
        });
    }
}

fn resize(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}

/// `v · 0.299`, `v · 0.587`, `v · 0.114` in f64 for every byte value: the same products
/// the reference binding computes, looked up instead of multiplied.
static LUMA_TERMS: LazyLock<[[f64; 256]; 3]> = LazyLock::new(|| {
    let weights = [0.299, 0.587, 0.114];
    weights.map(|w| std::array::from_fn(|v| v as f64 * w))
});

/// `v · 0.299`, `v · 0.587`, `v · 0.114` in f32 for every byte value, as the C++'s
/// `fillFloatLumaFromRGB` multiplies: its `const float` coefficients are the f64 literals
/// rounded to f32, times the byte converted to f32.
static LUMA_TERMS_F32: LazyLock<[[f32; 256]; 3]> = LazyLock::new(|| {
    let weights = [0.299f64 as f32, 0.587f64 as f32, 0.114f64 as f32];
    weights.map(|w| std::array::from_fn(|v| w * v as f32))
});

/// Luma of row `y`: for [`PdqLuma::F64`] the f64 sum rounded to f32 (what the reference
/// binding hands to the C++), for [`PdqLuma::F32`] the f32 sum of f32 products, added left
/// to right (the C++'s own conversion); grey is used as is.
fn luma_row<'a>(
    pixels: &Pixels<'_>,
    luma: PdqLuma,
    y: usize,
    out: impl Iterator<Item = &'a mut f32>,
) {
    let row = pixels.row(y);
    if pixels.channels == 1 {
        for (o, &v) in out.zip(row) {
            *o = f32::from(v);
        }
        return;
    }
    let pixels = out.zip(row.chunks_exact(pixels.channels));
    match luma {
        PdqLuma::F64 => {
            let [r, g, b] = &*LUMA_TERMS;
            for (o, px) in pixels {
                *o = (r[usize::from(px[0])] + g[usize::from(px[1])] + b[usize::from(px[2])]) as f32;
            }
        }
        PdqLuma::F32 => {
            let [r, g, b] = &*LUMA_TERMS_F32;
            for (o, px) in pixels {
                *o = r[usize::from(px[0])] + g[usize::from(px[1])] + b[usize::from(px[2])];
            }
        }
    }
}

/// The reference's window: `ceil(dim / 128)`, half of a 64th per pass.
fn window_size(dim: usize) -> usize {
    dim.div_ceil(128)
}

/// `floor((i + 0.5) · dim / 64)` in f64, for i in 0..64.
fn sample_indices(dim: usize) -> [usize; 64] {
    std::array::from_fn(|i| (((i as f64 + 0.5) * dim as f64) / 64.0) as usize)
}

/// Where the reference samples a mirrored copy of a `dim`-long axis, in the original's
/// coordinates: output `i` of the mirrored file's filtered axis is the original's filtered
/// value at `dim − 1 − s(i)` for odd windows, and at `dim − 3 − s(i)` for even ones (an
/// even box reaches one sample further right than left, so each of the two passes moves the
/// mirror point by one pixel).
fn mirrored_sample_indices(dim: usize, window: usize) -> [usize; 64] {
    sample_indices(dim).map(|s| {
        let shift = if window % 2 == 1 { 1 } else { 3 };
        dim.saturating_sub(s + shift)
    })
}

/// The reference's four phases of a running-sum box filter of `window` over `len` samples:
/// accumulate without output, output with a growing window, slide, output with a
/// shrinking window.
#[derive(Debug, Clone, Copy, Default)]
struct BoxPhases {
    fill: usize,
    grow: usize,
    slide: usize,
    shrink: usize,
    half: usize,
    window: usize,
}

impl BoxPhases {
    fn new(len: usize, window: usize) -> BoxPhases {
        let half = (window + 2) / 2;
        BoxPhases {
            fill: half - 1,
            grow: window - half + 1,
            slide: len - window,
            shrink: half - 1,
            half,
            window,
        }
    }

    /// How many samples are in the window when output `o` is written.
    fn divisors(&self) -> impl Iterator<Item = f32> {
        let grow = (0..self.grow).map(|i| (self.half + i) as f32);
        let slide = std::iter::repeat_n(self.window as f32, self.slide);
        let shrink = (1..=self.shrink).map(|i| (self.window - i) as f32);
        grow.chain(slide).chain(shrink)
    }
}

/// Rows filtered together: the running sum along a row is a chain of dependent additions,
/// so `LANES` rows are interleaved and their chains advance as one vector.
const LANES: usize = 8;
type Lane = [f32; LANES];

#[derive(Debug, Default)]
struct RowScratch {
    interleaved: Vec<Lane>,
    filtered: Vec<Lane>,
    divisors: Vec<f32>,
    phases: BoxPhases,
}

impl RowScratch {
    /// Prepares for rows of `cols` samples filtered with `window`.
    fn begin(&mut self, cols: usize, window: usize) {
        self.phases = BoxPhases::new(cols, window);
        self.divisors.clear();
        self.divisors.extend(self.phases.divisors());
        self.interleaved.clear();
        self.interleaved.resize(cols, [0.0; LANES]);
        self.filtered.resize(cols, [0.0; LANES]);
    }

    /// Filters the `LANES` rows loaded into `interleaved` (lanes not loaded hold earlier
    /// rows or zeros; their results are not read).
    fn filter(&mut self) -> &[Lane] {
        let cols = self.divisors.len();
        running_box(
            &self.interleaved[..cols],
            &mut self.filtered[..cols],
            self.phases,
            &self.divisors,
        );
        &self.filtered[..cols]
    }

    /// Box filter along each row of an image into `output`, with the reference's order of
    /// adds, subtracts and divisions per row. `load(y, k, lanes)` writes row `y` into lane
    /// `k` of `lanes`.
    fn box_rows(
        &mut self,
        output: &mut [f32],
        cols: usize,
        window: usize,
        mut load: impl FnMut(usize, usize, &mut [Lane]),
    ) {
        self.begin(cols, window);
        for (group, outs) in output.chunks_mut(LANES * cols).enumerate() {
            for k in 0..outs.len() / cols {
                load(group * LANES + k, k, &mut self.interleaved[..cols]);
            }
            let filtered = self.filter();
            for (k, out) in outs.chunks_exact_mut(cols).enumerate() {
                for (o, lane) in out.iter_mut().zip(filtered) {
                    *o = lane[k];
                }
            }
        }
    }
}

/// One running-sum box filter per lane, in the reference's four phases.
fn running_box(input: &[Lane], output: &mut [Lane], p: BoxPhases, divisors: &[f32]) {
    let add = |s: &mut Lane, x: &Lane| s.iter_mut().zip(x).for_each(|(s, x)| *s += x);
    let sub = |s: &mut Lane, x: &Lane| s.iter_mut().zip(x).for_each(|(s, x)| *s -= x);
    let div = |s: &Lane, d: f32| -> Lane { std::array::from_fn(|i| s[i] / d) };
    let mut sum = [0f32; LANES];
    let (fill, rest) = input.split_at(p.fill);
    for x in fill {
        add(&mut sum, x);
    }
    let (grow_in, slide_in) = rest.split_at(p.grow);
    let (grow_out, rest_out) = output.split_at_mut(p.grow);
    let (grow_div, rest_div) = divisors.split_at(p.grow);
    for ((x, o), &d) in grow_in.iter().zip(grow_out).zip(grow_div) {
        add(&mut sum, x);
        *o = div(&sum, d);
    }
    let (slide_out, shrink_out) = rest_out.split_at_mut(p.slide);
    let (slide_div, shrink_div) = rest_div.split_at(p.slide);
    for (((x, y), o), &d) in slide_in.iter().zip(input).zip(slide_out).zip(slide_div) {
        add(&mut sum, x);
        sub(&mut sum, y);
        *o = div(&sum, d);
    }
    for ((y, o), &d) in input[p.slide..].iter().zip(shrink_out).zip(shrink_div) {
        sub(&mut sum, y);
        *o = div(&sum, d);
    }
}

/// Box filter down each column, all columns at once: each step is a whole-row vector
/// operation, with every column's sum updated in the reference's order.
fn box_along_cols(
    input: &[f32],
    cols: usize,
    window: usize,
    scratch: &mut ColumnScratch,
    mut emit: impl FnMut(usize, &[f32]),
) {
    let rows = input.len() / cols;
    let p = BoxPhases::new(rows, window);
    let ColumnScratch { sums, row: out } = scratch;
    sums.clear();
    sums.resize(cols, 0.0);
    out.resize(cols, 0.0);
    let row = |r: usize| &input[r * cols..(r + 1) * cols];
    let mut divisors = p.divisors();
    let mut right = 0;
    for _ in 0..p.fill {
        for (s, x) in sums.iter_mut().zip(row(right)) {
            *s += x;
        }
        right += 1;
    }
    let mut left = 0;
    let mut written = 0;
    for (which, count) in [p.grow, p.slide, p.shrink].into_iter().enumerate() {
        for _ in 0..count {
            let Some(d) = divisors.next() else {
                return;
            };
            match which {
                0 => {
                    for ((s, x), o) in sums.iter_mut().zip(row(right)).zip(out.iter_mut()) {
                        *s += x;
                        *o = *s / d;
                    }
                    right += 1;
                }
                1 => {
                    let pairs = row(right).iter().zip(row(left));
                    for ((s, (x, y)), o) in sums.iter_mut().zip(pairs).zip(out.iter_mut()) {
                        *s += x;
                        *s -= y;
                        *o = *s / d;
                    }
                    right += 1;
                    left += 1;
                }
                _ => {
                    for ((s, y), o) in sums.iter_mut().zip(row(left)).zip(out.iter_mut()) {
                        *s -= y;
                        *o = *s / d;
                    }
                    left += 1;
                }
            }
            emit(written, &out[..cols]);
            written += 1;
        }
    }
}

/// The running sums and the output row of a column pass.
#[derive(Debug, Default)]
struct ColumnScratch {
    sums: Vec<f32>,
    row: Vec<f32>,
}

/// The reference's quality: significant gradients between neighbours, scaled to 0–100.
fn quality(block: &[[f32; 64]; 64]) -> u8 {
    let step = |u: f32, v: f32| (((u - v) * 100.0) / 255.0) as i32;
    let mut sum: i32 = 0;
    for (upper, lower) in block.iter().zip(&block[1..]) {
        for (&u, &v) in upper.iter().zip(lower) {
            sum += step(u, v).abs();
        }
    }
    for row in block {
        for j in 0..63 {
            sum += step(row[j], row[j + 1]).abs();
        }
    }
    (sum / 90).min(100) as u8
}

/// Rows 1–16 of the 64-point DCT-II, as the reference builds them (f64, stored as f32).
struct DctMatrix {
    rows: [[f32; 64]; 16],
    /// `rows` transposed, for the second product.
    columns: [[f32; 16]; 64],
}

static DCT: LazyLock<DctMatrix> = LazyLock::new(|| {
    let scale = f64::from((2.0f64 / 64.0).sqrt() as f32);
    let mut rows = [[0f32; 64]; 16];
    for (i, row) in rows.iter_mut().enumerate() {
        for (j, d) in row.iter_mut().enumerate() {
            let angle = (std::f64::consts::PI / 2.0 / 64.0) * (i + 1) as f64 * (2 * j + 1) as f64;
            *d = (scale * angle.cos()) as f32;
        }
    }
    let mut columns = [[0f32; 16]; 64];
    for (i, row) in rows.iter().enumerate() {
        for (j, &d) in row.iter().enumerate() {
            columns[j][i] = d;
        }
    }
    DctMatrix { rows, columns }
});

/// `D · A · Dᵀ`, each sum over k taken in order from k = 0, in f32.
fn dct64_to_16(a: &[[f32; 64]; 64]) -> [f32; 256] {
    let dct = &*DCT;
    let mut t = [[0f32; 64]; 16];
    for (t_row, d_row) in t.iter_mut().zip(&dct.rows) {
        for (&d, a_row) in d_row.iter().zip(a) {
            for (t, &x) in t_row.iter_mut().zip(a_row) {
                *t += d * x;
            }
        }
    }
    let mut b = [0f32; 256];
    for (b_row, t_row) in b.chunks_exact_mut(16).zip(&t) {
        for (&x, d_col) in t_row.iter().zip(&dct.columns) {
            for (b, &d) in b_row.iter_mut().zip(d_col) {
                *b += x * d;
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's `box1DFloat`, written plainly, to check the interleaved and
    /// vectorised passes against.
    fn box_1d(input: &[f32], window: usize) -> Vec<f32> {
        let p = BoxPhases::new(input.len(), window);
        let (mut sum, mut count, mut right, mut left) = (0f32, 0usize, 0, 0);
        let mut out = Vec::new();
        for _ in 0..p.fill {
            sum += input[right];
            count += 1;
            right += 1;
        }
        for _ in 0..p.grow {
            sum += input[right];
            count += 1;
            out.push(sum / count as f32);
            right += 1;
        }
        for _ in 0..p.slide {
            sum += input[right];
            sum -= input[left];
            out.push(sum / count as f32);
            right += 1;
            left += 1;
        }
        for _ in 0..p.shrink {
            sum -= input[left];
            count -= 1;
            out.push(sum / count as f32);
            left += 1;
        }
        out
    }

    fn box_along_rows(input: &[f32], output: &mut [f32], cols: usize, window: usize) {
        RowScratch::default().box_rows(output, cols, window, |y, k, lanes| {
            for (lane, &v) in lanes.iter_mut().zip(&input[y * cols..(y + 1) * cols]) {
                lane[k] = v;
            }
        });
    }

    fn noise(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) % 25600) as f32 / 100.0
            })
            .collect()
    }

    #[test]
    fn passes_equal_the_plain_box_filter_bit_for_bit() {
        for (rows, cols) in [(5, 5), (9, 300), (17, 130), (130, 17), (200, 257)] {
            let input = noise(rows * cols, (rows * 1000 + cols) as u64);
            let (rw, cw) = (window_size(cols), window_size(rows));
            let mut along_rows = vec![0.0; rows * cols];
            box_along_rows(&input, &mut along_rows, cols, rw);
            for r in 0..rows {
                let expected = box_1d(&input[r * cols..(r + 1) * cols], rw);
                assert_eq!(&along_rows[r * cols..(r + 1) * cols], &expected[..]);
            }
            let mut along_cols = vec![0.0; rows * cols];
            box_along_cols(&input, cols, cw, &mut ColumnScratch::default(), |r, row| {
                along_cols[r * cols..(r + 1) * cols].copy_from_slice(row);
            });
            for c in 0..cols {
                let column: Vec<f32> = (0..rows).map(|r| input[r * cols + c]).collect();
                let got: Vec<f32> = (0..rows).map(|r| along_cols[r * cols + c]).collect();
                assert_eq!(got, box_1d(&column, cw), "column {c} of {rows}x{cols}");
            }
        }
    }

    #[test]
    fn wide_windows_match_too() {
        // Windows of 2 and 3 (dimensions past 128 and 256) change the phase lengths.
        for len in [5, 128, 129, 256, 257, 1000] {
            let input = noise(len, len as u64);
            let w = window_size(len);
            let mut out = vec![0.0; len];
            box_along_rows(&input, &mut out, len, w);
            assert_eq!(out, box_1d(&input, w), "len {len}");
        }
    }

    #[test]
    fn hex_round_trips_and_orders_words_like_the_reference() {
        let hex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let hash = PdqHash::from_hex(hex).unwrap();
        assert_eq!(hash.to_hex(), hex);
        assert_eq!(hash.count_ones(), 128);
        // Word 0 (bits 0–15) is the last four digits: 0x9b22.
        let word0: u16 = (0..16).map(|b| u16::from(hash.bit(b)) << b).sum();
        assert_eq!(word0, 0x9b22);
        assert_eq!(
            PdqHash::from_hex(&hex.to_uppercase())
                .unwrap()
                .distance(&hash),
            0
        );
        assert_eq!(PdqHash::from_hex("abc"), Err(PdqHashError::Length(3)));
        assert_eq!(
            PdqHash::from_hex(&"g".repeat(64)),
            Err(PdqHashError::NotHex)
        );
        assert_eq!(
            PdqHash::from_hex(&"é".repeat(32)),
            Err(PdqHashError::NotHex)
        );
    }

    #[test]
    fn luma_modes_follow_each_references_arithmetic() {
        let mut rgb = Vec::new();
        for r in (0..=255u8).step_by(5) {
            for g in (0..=255u8).step_by(7) {
                for b in [0u8, 1, 97, 128, 200, 255] {
                    rgb.extend_from_slice(&[r, g, b]);
                }
            }
        }
        let n = rgb.len() / 3;
        let pixels = Pixels::new(&rgb, n, 1, 3).unwrap();
        let (mut f64_luma, mut f32_luma) = (vec![0f32; n], vec![0f32; n]);
        luma_row(&pixels, PdqLuma::F64, 0, f64_luma.iter_mut());
        luma_row(&pixels, PdqLuma::F32, 0, f32_luma.iter_mut());
        let (cr, cg, cb) = (0.299f64 as f32, 0.587f64 as f32, 0.114f64 as f32);
        let mut differ = 0;
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let [r, g, b] = [px[0], px[1], px[2]].map(f64::from);
            assert_eq!(f64_luma[i], (r * 0.299 + g * 0.587 + b * 0.114) as f32);
            let [r, g, b] = [px[0], px[1], px[2]].map(f32::from);
            assert_eq!(f32_luma[i], cr * r + cg * g + cb * b);
            differ += usize::from(f32_luma[i] != f64_luma[i]);
        }
        // The two are one ulp apart often enough to matter.
        assert!(differ > n / 10, "{differ} of {n}");
    }

    #[test]
    fn tiny_images_hash_to_zero() {
        let data = vec![200u8; 4 * 100 * 3];
        for (w, h) in [(4, 100), (100, 4)] {
            let pixels = Pixels::new(&data, w, h, 3).unwrap();
            let features = PdqHasher::new().features(pixels);
            assert_eq!(features.hash(), PdqHash::ZERO);
            assert_eq!(features.quality(), 0);
            assert!(features.dihedrals().iter().all(|h| *h == PdqHash::ZERO));
        }
    }

    #[test]
    fn dihedral_of_a_transposed_image_is_the_transposed_hash() {
        // Transposing pixels transposes the DCT exactly when both axes have the same
        // length, so FlipPlus1 must then equal the hash of the transposed image.
        let size = 128;
        let luma: Vec<u8> = noise(size * size, 7).iter().map(|v| *v as u8).collect();
        let transposed: Vec<u8> = (0..size * size)
            .map(|k| luma[(k % size) * size + k / size])
            .collect();
        let mut hasher = PdqHasher::new();
        let original = hasher.features(Pixels::new(&luma, size, size, 1).unwrap());
        let (flipped, _) = hasher.hash(Pixels::new(&transposed, size, size, 1).unwrap());
        // Not always equal: the reference filters rows before columns, so the transposed
        // image's sums round in a different order.
        assert!(original.dihedral(Dihedral::FlipPlus1).distance(&flipped) <= 4);
        assert!(original.hash().distance(&flipped) > 64);
        assert_eq!(original.hash().count_ones(), 128);
    }

    #[test]
    fn reused_scratch_gives_the_same_hash_as_a_fresh_hasher() {
        let big = noise(300 * 400 * 3, 1);
        let big: Vec<u8> = big.iter().map(|v| *v as u8).collect();
        let small: Vec<u8> = noise(200 * 7 * 3, 2).iter().map(|v| *v as u8).collect();
        let mut reused = PdqHasher::new();
        reused.hash(Pixels::new(&big, 400, 300, 3).unwrap());
        for (w, h) in [(7, 200), (200, 7)] {
            let pixels = Pixels::new(&small, w, h, 3).unwrap();
            let fresh = PdqHasher::new().features(pixels);
            assert_eq!(reused.features(pixels), fresh, "{w}x{h}");
        }
    }

    #[test]
    fn scratch_for_a_huge_image_is_not_kept() {
        let (w, h) = (4100, 4100);
        let grey = vec![90u8; w * h];
        let mut hasher = PdqHasher::new();
        hasher.hash(Pixels::new(&grey, w, h, 1).unwrap());
        assert!(hasher.full.capacity() == 0 && hasher.columns_in.capacity() == 0);
        hasher.hash(Pixels::new(&grey[..1000 * 1000], 1000, 1000, 1).unwrap());
        assert_eq!(hasher.full.len(), 1000 * 1000);
    }

    #[test]
    fn pixels_reject_bad_shapes() {
        assert_eq!(
            Pixels::new(&[0; 10], 2, 2, 2).unwrap_err(),
            PixelsError::Channels(2)
        );
        assert!(matches!(
            Pixels::new(&[0; 10], 2, 2, 3),
            Err(PixelsError::Short { needed: 12, .. })
        ));
        let data: Vec<u8> = (0..48).collect();
        let pixels = Pixels::new(&data, 4, 4, 3).unwrap();
        let crop = pixels.crop(1, 2, 2, 2).unwrap();
        assert_eq!(crop.row(0), &[27, 28, 29, 30, 31, 32]);
        assert_eq!(crop.row(1), &[39, 40, 41, 42, 43, 44]);
        assert!(pixels.crop(3, 0, 2, 1).is_none());
    }
}
