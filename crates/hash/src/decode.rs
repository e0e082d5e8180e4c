//! Guarded image decoding: every limit is checked before the decoder allocates pixels, and
//! a panic inside a decoder is contained to the attachment that caused it.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};

use crate::{BudgetPermit, Deadline, DecodeBudget, TimedOut};

/// Decoding limits. A decompression bomb declares huge dimensions in a few bytes; it is
/// refused from its header, before any pixel buffer exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest encoded input.
    pub max_input_bytes: u64,
    /// Largest width in pixels.
    pub max_width: u32,
    /// Largest height in pixels.
    pub max_height: u32,
    /// Largest decoded size (and decoder allocation) in bytes.
    pub max_alloc_bytes: u64,
}

impl DecodeLimits {
    /// 20 MiB in, 8192 × 8192 pixels, 256 MiB of decoded pixels.
    pub const DEFAULT: DecodeLimits = DecodeLimits {
        max_input_bytes: 20 * 1024 * 1024,
        max_width: 8192,
        max_height: 8192,
        max_alloc_bytes: 256 * 1024 * 1024,
    };
}

impl Default for DecodeLimits {
    fn default() -> DecodeLimits {
        DecodeLimits::DEFAULT
    }
}

/// Why an attachment could not be decoded. Messages are content-free: they name the format
/// and the limit, never bytes of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The encoded input is larger than `max_input_bytes`.
    #[error("{bytes} bytes of image data, over the {limit}-byte decoding limit")]
    InputTooLarge {
        /// Input size.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// Not an image in a format this build decodes (JPEG, PNG, GIF, WebP, BMP, TIFF).
    #[error("not an image in a supported format (JPEG, PNG, GIF, WebP, BMP, TIFF)")]
    UnsupportedFormat,
    /// The header declares more pixels or bytes than the limits allow.
    #[error(
        "{format} declares {width}x{height} pixels ({bytes} bytes decoded), over the limit of {max_width}x{max_height} pixels and {max_bytes} bytes"
    )]
    TooManyPixels {
        /// The format.
        format: &'static str,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Decoded size in bytes.
        bytes: u64,
        /// `max_width`.
        max_width: u32,
        /// `max_height`.
        max_height: u32,
        /// `max_alloc_bytes`.
        max_bytes: u64,
    },
    /// The decoder stopped at its allocation limit (a compressed stream expanding past it).
    #[error("decoding this {format} would allocate more than {max_bytes} bytes")]
    AllocationLimit {
        /// The format.
        format: &'static str,
        /// `max_alloc_bytes`.
        max_bytes: u64,
    },
    /// The data is corrupt or truncated.
    #[error("{format} data is {what}")]
    Corrupt {
        /// The format.
        format: &'static str,
        /// `corrupt`, `truncated` or `using a feature this decoder does not support`.
        what: &'static str,
    },
    /// The decoder panicked (a decoder bug triggered by this input).
    #[error("the {format} decoder failed unexpectedly")]
    DecoderPanicked {
        /// The format.
        format: &'static str,
    },
    /// Decoding and hashing did not finish within the time budget (waiting for memory from
    /// the [`DecodeBudget`] included).
    #[error("decoding and hashing the image took over {} ms", .0.limit_ms)]
    TimedOut(#[from] TimedOut),
}

impl DecodeError {
    /// The reason code for error records: `unsupported_image_format`, `image_too_large`,
    /// `undecodable` or `image_timeout`.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::UnsupportedFormat => "unsupported_image_format",
            DecodeError::InputTooLarge { .. }
            | DecodeError::TooManyPixels { .. }
            | DecodeError::AllocationLimit { .. } => "image_too_large",
            DecodeError::Corrupt { .. } | DecodeError::DecoderPanicked { .. } => "undecodable",
            DecodeError::TimedOut(_) => "image_timeout",
        }
    }
}

const SUPPORTED: [ImageFormat; 6] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::Gif,
    ImageFormat::WebP,
    ImageFormat::Bmp,
    ImageFormat::Tiff,
];

fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Gif => "GIF",
        ImageFormat::WebP => "WebP",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        _ => "image",
    }
}

/// A decoded image and the format it was stored in.
#[derive(Debug)]
pub struct Decoded {
    /// The pixels as stored (EXIF orientation is not applied, as the PDQ reference does not).
    pub image: DynamicImage,
    /// `JPEG`, `PNG`, `GIF`, `WebP`, `BMP` or `TIFF`.
    pub format: &'static str,
    /// The memory taken from a [`DecodeBudget`] for these pixels and their hashing, if one
    /// was given: keep it until hashing is done.
    pub permit: Option<BudgetPermit>,
}

/// What [`decode_budgeted`] takes from the budget per pixel beyond the decoded bytes: PDQ's
/// full-size f32 luma.
pub const HASHING_BYTES_PER_PIXEL: u64 = 4;

/// The format of `bytes` judged from its magic number, if it is one this build decodes.
pub fn sniff_format(bytes: &[u8]) -> Option<&'static str> {
    supported_format(bytes).map(format_name)
}

fn supported_format(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes)
        .ok()
        .filter(|f| SUPPORTED.contains(f))
}

/// Decodes `bytes` (the first frame of an animation) within `limits`.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, DecodeError> {
    decode_budgeted(bytes, limits, None, None)
}

/// [`decode`], first taking from `budget` (waiting if need be, until `deadline`) the decoded
/// size plus [`HASHING_BYTES_PER_PIXEL`] per pixel, once the header has passed the limits.
/// A passed `deadline` is also checked before decoding starts; decoding itself cannot be
/// interrupted (run it in a [`Timebox`](crate::Timebox) to walk away from it).
pub fn decode_budgeted(
    bytes: &[u8],
    limits: &DecodeLimits,
    budget: Option<&Arc<DecodeBudget>>,
    deadline: Option<Deadline>,
) -> Result<Decoded, DecodeError> {
    let size = bytes.len() as u64;
    if size > limits.max_input_bytes {
        return Err(DecodeError::InputTooLarge {
            bytes: size,
            limit: limits.max_input_bytes,
        });
    }
    let format = supported_format(bytes).ok_or(DecodeError::UnsupportedFormat)?;
    let name = format_name(format);
    catch_unwind(AssertUnwindSafe(|| {
        decode_format(bytes, format, limits, budget, deadline)
    }))
    .unwrap_or(Err(DecodeError::DecoderPanicked { format: name }))
    .map(|(image, permit)| Decoded {
        image,
        format: name,
        permit,
    })
}

fn decode_format(
    bytes: &[u8],
    format: ImageFormat,
    limits: &DecodeLimits,
    budget: Option<&Arc<DecodeBudget>>,
    deadline: Option<Deadline>,
) -> Result<(DynamicImage, Option<BudgetPermit>), DecodeError> {
    let name = format_name(format);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = Limits::default();
    image_limits.max_image_width = Some(limits.max_width);
    image_limits.max_image_height = Some(limits.max_height);
    image_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(image_limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| classify(e, name, limits))?;
    let (width, height) = decoder.dimensions();
    let decoded_bytes = decoder.total_bytes();
    if width > limits.max_width
        || height > limits.max_height
        || decoded_bytes > limits.max_alloc_bytes
    {
        return Err(too_many_pixels(name, width, height, decoded_bytes, limits));
    }
    let pixels = u64::from(width) * u64::from(height);
    let permit = match budget {
        Some(budget) => {
            Some(budget.acquire(decoded_bytes + HASHING_BYTES_PER_PIXEL * pixels, deadline)?)
        }
        None => None,
    };
    if let Some(deadline) = deadline.filter(Deadline::passed) {
        return Err(deadline.timed_out().into());
    }
    let image = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, name, limits))?;
    Ok((image, permit))
}

fn too_many_pixels(
    format: &'static str,
    width: u32,
    height: u32,
    bytes: u64,
    limits: &DecodeLimits,
) -> DecodeError {
    DecodeError::TooManyPixels {
        format,
        width,
        height,
        bytes,
        max_width: limits.max_width,
        max_height: limits.max_height,
        max_bytes: limits.max_alloc_bytes,
    }
}

/// Maps the decoder's error to a content-free one (decoder messages can quote input bytes,
/// such as chunk names, so they are not passed on).
fn classify(error: ImageError, format: &'static str, limits: &DecodeLimits) -> DecodeError {
    match error {
        ImageError::Limits(_) => DecodeError::AllocationLimit {
            format,
            max_bytes: limits.max_alloc_bytes,
        },
        ImageError::Unsupported(_) => DecodeError::Corrupt {
            format,
            what: "using a feature this decoder does not support",
        },
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::Corrupt {
                format,
                what: "truncated",
            }
        }
        _ => DecodeError::Corrupt {
            format,
            what: "corrupt or truncated",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageEncoder, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 3) as u8, ((x + y) * 5) as u8])
        });
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                image.as_raw(),
                width,
                height,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    /// A PNG whose header claims `width × height` but that carries almost no data: the
    /// shape of a decompression bomb, refused before any pixel is allocated.
    fn bomb_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = png(8, 8);
        // IHDR data starts at byte 16: width and height, big-endian.
        bytes[16..20].copy_from_slice(&width.to_be_bytes());
        bytes[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// PNG's chunk checksum (CRC-32, reflected, polynomial 0xEDB88320).
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn decodes_within_limits() {
        let decoded = decode(&png(40, 30), &DecodeLimits::DEFAULT).unwrap();
        assert_eq!(decoded.format, "PNG");
        assert_eq!((decoded.image.width(), decoded.image.height()), (40, 30));
    }

    #[test]
    fn each_failure_has_its_reason() {
        let limits = DecodeLimits {
            max_input_bytes: 100_000,
            max_width: 1000,
            max_height: 1000,
            max_alloc_bytes: 1_000_000,
        };
        let good = png(64, 64);
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "text",
                b"hello, not an image".to_vec(),
                "unsupported_image_format",
            ),
            ("empty", Vec::new(), "unsupported_image_format"),
            ("too many bytes", vec![0; 100_001], "image_too_large"),
            ("bomb", bomb_header(60_000, 60_000), "image_too_large"),
            ("wide", bomb_header(1001, 1), "image_too_large"),
            ("alloc", bomb_header(1000, 1000), "image_too_large"),
            ("truncated", good[..good.len() / 2].to_vec(), "undecodable"),
            ("header only", good[..40].to_vec(), "undecodable"),
        ];
        for (name, bytes, reason) in cases {
            let err = decode(&bytes, &limits).expect_err(name);
            assert_eq!(err.reason(), reason, "{name}: {err}");
        }
    }

    #[test]
    fn corrupt_bytes_inside_the_data_are_reported_not_panicked() {
        let good = png(64, 64);
        for offset in (33..good.len()).step_by(7) {
            let mut bad = good.clone();
            bad[offset] ^= 0x5a;
            // Either decodes (the flip hit something tolerated) or reports; never panics.
            if let Err(e) = decode(&bad, &DecodeLimits::DEFAULT) {
                assert!(
                    matches!(e.reason(), "undecodable" | "image_too_large"),
                    "{e}"
                );
            }
        }
    }
}
