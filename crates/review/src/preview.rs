//! Blurred previews of flagged images, rendered once at ingest under the scanner's decoding
//! limits (`[attachments]`: dimensions, decoded size, memory budget, time per image), one
//! image at a time, at most [`MAX_PREVIEWS_PER_FLAG`] per flag. The console then serves the
//! stored preview and never decodes an image while a reviewer waits: a DM with a hundred
//! small, highly compressed 8192×8192 PNGs used to be decoded anew at every view, all at once.
//! What the console sends for an image is decided here too: the stored preview, a
//! [placeholder](PLACEHOLDER_SVG), or a revealed original under the [type its bytes
//! show](media_type).

use std::sync::Arc;
use std::time::Duration;

use vigil_hash::{DecodeBudget, DecodeLimits, Timebox, decode_budgeted, sniff_format};
use vigil_scan::config::AttachmentsConfig;

/// Side of the blurred preview's grid: this few cells keep nothing recognisable.
const BLUR_CELLS: u32 = 12;
/// The preview's side in pixels.
const PREVIEW_SIDE: u32 = 256;
/// Images of one flag that get a preview; the others are listed without one.
pub const MAX_PREVIEWS_PER_FLAG: usize = 16;

/// A grey square shown for an image without a preview, and for an original whose bytes are
/// no image type a browser shows: an image is never sent as something else.
pub const PLACEHOLDER_SVG: &str = "<svg xmlns='http://www.w3.org/2000/svg' width='256' height='256'><rect width='256' height='256' fill='#888'/></svg>";

/// The media type an image's `bytes` are served as: from the bytes, not from what the
/// sender declared; `None` when they are no image type a browser shows.
pub fn media_type(bytes: &[u8]) -> Option<&'static str> {
    Some(match sniff_format(bytes)? {
        "JPEG" => "image/jpeg",
        "PNG" => "image/png",
        "GIF" => "image/gif",
        "WebP" => "image/webp",
        "BMP" => "image/bmp",
        "TIFF" => "image/tiff",
        _ => return None,
    })
}

/// An image's preview, or why it has none (content-free, shown to the reviewer).
#[derive(Clone, PartialEq, Eq)]
pub enum Preview {
    /// A PNG: a coarse grey mosaic of the image, enough to see that there is a picture and
    /// its layout, nothing of its content.
    Rendered(Vec<u8>),
    /// Not rendered, and why.
    Missing(String),
}

impl std::fmt::Debug for Preview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Preview::Rendered(png) => write!(f, "Rendered(<{} bytes>)", png.len()),
            Preview::Missing(why) => f.debug_tuple("Missing").field(why).finish(),
        }
    }
}

/// Renders previews within the scanner's limits.
#[derive(Debug)]
pub struct Previewer {
    limits: DecodeLimits,
    budget: Arc<DecodeBudget>,
    timebox: Arc<Timebox>,
}

impl Previewer {
    /// A previewer with `[attachments]`'s limits.
    pub fn new(attachments: &AttachmentsConfig) -> Previewer {
        Previewer {
            limits: vigil_scan::decode_limits(attachments),
            budget: DecodeBudget::new(attachments.max_decode_memory_bytes),
            // One render at a time, and room for one abandoned at its deadline.
            timebox: Timebox::new(Duration::from_millis(attachments.max_image_time_ms), 2),
        }
    }

    /// The preview of image number `index` (from 0) of a flag.
    pub fn render(&self, index: usize, bytes: &[u8]) -> Preview {
        if index >= MAX_PREVIEWS_PER_FLAG {
            return Preview::Missing(format!(
                "no preview: the message has more than {MAX_PREVIEWS_PER_FLAG} images"
            ));
        }
        let (bytes, limits, budget) = (bytes.to_vec(), self.limits, self.budget.clone());
        let rendered = self.timebox.run(move |deadline| {
            let decoded = decode_budgeted(&bytes, &limits, Some(&budget), Some(deadline))
                .map_err(|e| e.reason())?;
            mosaic(&decoded.image).ok_or("undecodable")
        });
        match rendered {
            Ok(Ok(png)) => Preview::Rendered(png),
            Ok(Err(reason)) => Preview::Missing(format!("no preview: {reason}")),
            Err(_) => Preview::Missing("no preview: image_timeout".into()),
        }
    }
}

/// A video frame rendered by a worker (`width × height` RGB24): the frame as PNG, shown when
/// revealed, and its blurred mosaic, as images get. `None` if the pixels do not fill the
/// size (the pool checks that already).
pub fn frame(width: u32, height: u32, rgb: Vec<u8>) -> Option<(Vec<u8>, Preview)> {
    let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_raw(width, height, rgb)?);
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png).ok()?;
    let preview = match mosaic(&image) {
        Some(blurred) => Preview::Rendered(blurred),
        None => Preview::Missing("no preview: cannot encode the frame".into()),
    };
    Some((png.into_inner(), preview))
}

/// A [`BLUR_CELLS`]-cell grey mosaic of `image`, scaled up to [`PREVIEW_SIDE`], as PNG.
fn mosaic(image: &image::DynamicImage) -> Option<Vec<u8>> {
    let small = image.thumbnail(BLUR_CELLS, BLUR_CELLS).grayscale();
    let (w, h) = (small.width().max(1), small.height().max(1));
    let scale = PREVIEW_SIDE / w.max(h);
    let big = small.resize_exact(w * scale, h * scale, image::imageops::FilterType::Nearest);
    let mut png = std::io::Cursor::new(Vec::new());
    big.write_to(&mut png, image::ImageFormat::Png).ok()?;
    Some(png.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::GrayImage::from_fn(width, height, |x, y| image::Luma([(x ^ y) as u8]));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageLuma8(image)
            .write_to(&mut out, image::ImageFormat::Png)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn an_original_is_served_as_the_type_its_bytes_show() {
        let encoded = |format| {
            let mut out = std::io::Cursor::new(Vec::new());
            image::DynamicImage::new_rgb8(4, 4)
                .write_to(&mut out, format)
                .unwrap();
            out.into_inner()
        };
        let table = [
            (image::ImageFormat::Jpeg, "image/jpeg"),
            (image::ImageFormat::Png, "image/png"),
            (image::ImageFormat::Gif, "image/gif"),
            (image::ImageFormat::WebP, "image/webp"),
            (image::ImageFormat::Bmp, "image/bmp"),
            (image::ImageFormat::Tiff, "image/tiff"),
        ];
        for (format, want) in table {
            assert_eq!(media_type(&encoded(format)), Some(want), "{format:?}");
        }
        // Declared as a PNG or not, these are no image a browser should be handed.
        assert_eq!(
            media_type(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            None
        );
        assert_eq!(media_type(b"<html><script>alert(1)</script>"), None);
        assert_eq!(media_type(b""), None);
    }

    #[test]
    fn a_video_frame_is_kept_as_png_and_blurred_like_an_image() {
        let rgb: Vec<u8> = (0..320 * 180 * 3).map(|i| (i % 251) as u8).collect();
        let (png, preview) = frame(320, 180, rgb.clone()).unwrap();
        assert_eq!(
            image::load_from_memory(&png).unwrap().to_rgb8().into_raw(),
            rgb
        );
        let Preview::Rendered(blurred) = preview else {
            panic!("no preview");
        };
        let shown = image::load_from_memory(&blurred).unwrap().to_luma8();
        let cells = image::imageops::thumbnail(&shown, 12, 7);
        let upscaled = image::imageops::resize(
            &cells,
            shown.width(),
            shown.height(),
            image::imageops::FilterType::Nearest,
        );
        assert_eq!(
            upscaled.as_raw(),
            shown.as_raw(),
            "nothing finer than 12 cells"
        );
        assert!(frame(320, 180, vec![0; 10]).is_none(), "short pixels");
    }

    #[test]
    fn a_preview_is_a_small_mosaic_within_the_scanners_limits() {
        let previewer = Previewer::new(&AttachmentsConfig::default());
        let Preview::Rendered(preview) = previewer.render(0, &png(640, 480)) else {
            panic!("no preview");
        };
        let shown = image::load_from_memory(&preview).unwrap();
        assert_eq!((shown.width(), shown.height()), (252, 189));
        let cells = image::imageops::thumbnail(&shown.to_luma8(), 12, 9);
        let upscaled =
            image::imageops::resize(&cells, 252, 189, image::imageops::FilterType::Nearest);
        assert_eq!(
            upscaled.as_raw(),
            shown.to_luma8().as_raw(),
            "nothing finer than 12 cells"
        );

        let too_wide = AttachmentsConfig {
            max_image_width: 100,
            ..AttachmentsConfig::default()
        };
        assert_eq!(
            Previewer::new(&too_wide).render(0, &png(640, 480)),
            Preview::Missing("no preview: image_too_large".into())
        );
        assert_eq!(
            previewer.render(0, b"not an image"),
            Preview::Missing("no preview: unsupported_image_format".into())
        );
        assert!(matches!(
            previewer.render(MAX_PREVIEWS_PER_FLAG, &png(8, 8)),
            Preview::Missing(why) if why.contains("more than 16 images")
        ));
    }
}
