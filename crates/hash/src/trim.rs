//! Uniform-border detection: a copy padded with a frame (letterboxing, a coloured matte)
//! hashes far from the original under plain PDQ; hashing the framed content again brings it
//! back.

use crate::{InsetOptions, Pixels};

/// A rectangle of an image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: usize,
    /// Top edge.
    pub y: usize,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
}

/// How near-constant a line must be to count as border; and whether, and how, to look for
/// a sharp picture inside a blurred fill too ([`crate::inset_box`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrimOptions {
    /// Largest per-channel difference from the border colour (absorbs JPEG noise).
    pub tolerance: u8,
    /// Pixels per thousand in a line allowed to exceed the tolerance (specks, compression
    /// ringing at the corners).
    pub outliers_per_mille: usize,
    /// Smallest border worth trimming, in per mille of the dimension (thin edges are noise).
    pub min_border_per_mille: usize,
    /// Smallest content left after trimming, in pixels per side.
    pub min_content: usize,
    /// Also hash the sharp picture inside a blurred or otherwise soft fill (the blurred-fill
    /// framing of short-video re-posts), found with these options; on by default. It lives
    /// here, with the uniform borders, because it is the same question (where is the
    /// picture inside its frame?) and every caller that trims wants it.
    pub inset: Option<InsetOptions>,
}

impl Default for TrimOptions {
    fn default() -> TrimOptions {
        TrimOptions {
            tolerance: 24,
            outliers_per_mille: 10,
            min_border_per_mille: 20,
            min_content: 32,
            inset: Some(InsetOptions::default()),
        }
    }
}

/// The content inside uniform borders, or `None` when the image has no border worth
/// trimming (or trimming would leave too little).
pub fn content_box(pixels: &Pixels<'_>, options: &TrimOptions) -> Option<Rect> {
    let (width, height) = (pixels.width(), pixels.height());
    if width < options.min_content || height < options.min_content {
        return None;
    }
    let channels = pixels.channels().min(3);
    let pixel = |x: usize, y: usize| -> [u8; 3] {
        let px = &pixels.row(y)[x * pixels.channels()..];
        std::array::from_fn(|c| px[c.min(channels - 1)])
    };
    let uniform = |line: &mut dyn Iterator<Item = [u8; 3]>, len: usize, colour: [u8; 3]| {
        let allowed = len * options.outliers_per_mille / 1000;
        let mut outliers = 0;
        for p in line {
            if p.iter()
                .zip(colour)
                .any(|(a, b)| a.abs_diff(b) > options.tolerance)
            {
                outliers += 1;
                if outliers > allowed {
                    return false;
                }
            }
        }
        true
    };
    // Walk inward from one side while lines stay uniform in that side's colour (taken at
    // the middle of its outermost line).
    let border = |count: usize, len: usize, at: &dyn Fn(usize, usize) -> [u8; 3]| -> usize {
        let colour = at(0, len / 2);
        (0..count)
            .take_while(|&i| uniform(&mut (0..len).map(|j| at(i, j)), len, colour))
            .count()
    };
    let top = border(height, width, &|i, j| pixel(j, i));
    if top == height {
        return None;
    }
    let bottom = border(height - top, width, &|i, j| pixel(j, height - 1 - i));
    let rows = top..height - bottom;
    let inner = rows.len();
    let left = border(width, inner, &|i, j| pixel(i, rows.start + j));
    let right = border(width - left, inner, &|i, j| {
        pixel(width - 1 - i, rows.start + j)
    });
    let rect = Rect {
        x: left,
        y: top,
        width: width - left - right,
        height: inner,
    };
    let significant =
        |border: usize, dim: usize| border * 1000 >= dim * options.min_border_per_mille;
    let any = significant(top, height)
        || significant(bottom, height)
        || significant(left, width)
        || significant(right, width);
    (any && rect.width >= options.min_content && rect.height >= options.min_content).then_some(rect)
}

/// The content boxes worth hashing: [`content_box`], and when its borders differ between
/// opposite sides, also the box with each axis trimmed by the thinner of its two borders.
/// An image whose own edge is a flat band (a white studio background, a letterboxed
/// wallpaper) merges that band into an added frame on one side; frames are almost always
/// even, so the symmetric box recovers the original.
pub fn content_boxes(pixels: &Pixels<'_>, options: &TrimOptions) -> Vec<Rect> {
    let Some(rect) = content_box(pixels, options) else {
        return Vec::new();
    };
    let (width, height) = (pixels.width(), pixels.height());
    let (left, top) = (rect.x, rect.y);
    let right = width - rect.x - rect.width;
    let bottom = height - rect.y - rect.height;
    let (x, y) = (left.min(right), top.min(bottom));
    let symmetric = Rect {
        x,
        y,
        width: width - 2 * x,
        height: height - 2 * y,
    };
    let significant = x * 1000 >= width * options.min_border_per_mille
        || y * 1000 >= height * options.min_border_per_mille;
    let mut boxes = vec![rect];
    if symmetric != rect && significant {
        boxes.push(symmetric);
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `width × height` RGB image of noisy content framed by `border` pixels of `colour`
    /// on the given sides (top, right, bottom, left).
    fn framed(width: usize, height: usize, border: [usize; 4], colour: [u8; 3]) -> Vec<u8> {
        let mut data = Vec::with_capacity(width * height * 3);
        let mut state = 12345u32;
        for y in 0..height {
            for x in 0..width {
                let inside = y >= border[0]
                    && x < width - border[1]
                    && y < height - border[2]
                    && x >= border[3];
                if inside {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    data.extend_from_slice(&[(state >> 16) as u8, (state >> 8) as u8, 90]);
                } else {
                    data.extend_from_slice(&colour);
                }
            }
        }
        data
    }

    #[test]
    fn finds_borders_on_any_sides() {
        let table = [
            ([20, 20, 20, 20], [0, 0, 0]),
            ([30, 0, 30, 0], [0, 0, 0]),
            ([0, 25, 0, 10], [255, 255, 255]),
            ([12, 7, 40, 9], [120, 30, 200]),
        ];
        for (border, colour) in table {
            let data = framed(200, 160, border, colour);
            let pixels = Pixels::new(&data, 200, 160, 3).unwrap();
            let rect = content_box(&pixels, &TrimOptions::default()).expect("a border");
            assert_eq!(
                rect,
                Rect {
                    x: border[3],
                    y: border[0],
                    width: 200 - border[1] - border[3],
                    height: 160 - border[0] - border[2],
                },
                "{border:?}"
            );
        }
    }

    #[test]
    fn a_flat_band_of_the_image_itself_gets_a_symmetric_alternative() {
        // Content whose own top 30 rows are black, framed by 20 black pixels all round.
        let data = framed(200, 160, [50, 20, 20, 20], [0, 0, 0]);
        let pixels = Pixels::new(&data, 200, 160, 3).unwrap();
        let boxes = content_boxes(&pixels, &TrimOptions::default());
        assert_eq!(boxes.len(), 2);
        assert_eq!((boxes[0].y, boxes[0].height), (50, 90));
        let even = Rect {
            x: 20,
            y: 20,
            width: 160,
            height: 120,
        };
        assert_eq!(boxes[1], even);
        // An even frame needs no alternative.
        let data = framed(200, 160, [20, 20, 20, 20], [0, 0, 0]);
        let pixels = Pixels::new(&data, 200, 160, 3).unwrap();
        assert_eq!(content_boxes(&pixels, &TrimOptions::default()), [even]);
    }

    #[test]
    fn no_border_no_box() {
        for (border, what) in [
            ([0, 0, 0, 0], "none"),
            ([1, 1, 1, 1], "a one-pixel edge is below the minimum"),
        ] {
            let data = framed(200, 160, border, [0, 0, 0]);
            let pixels = Pixels::new(&data, 200, 160, 3).unwrap();
            assert_eq!(
                content_box(&pixels, &TrimOptions::default()),
                None,
                "{what}"
            );
        }
        let flat = vec![7u8; 100 * 100];
        let pixels = Pixels::new(&flat, 100, 100, 1).unwrap();
        assert_eq!(content_box(&pixels, &TrimOptions::default()), None, "flat");
    }
}
