//! Blurred-fill framing: short-video apps re-post a picture centred on a blurred, enlarged
//! copy of itself (a portrait clip in a landscape frame, a landscape photo in a portrait
//! one). The fill is not uniform, so [`crate::content_box`] does not see it; what sets it
//! apart is that it is *soft*: the pasted picture is sharp up to its edge, the fill around it
//! has little fine detail. [`inset_box`] finds that sharp rectangle.
//!
//! How: grey on a reduced grid (block averages) → per-cell sharpness (absolute second
//! differences) → column and row profiles (the rows restricted to the content columns and the
//! other way round, twice) → the fill is the run of soft lines from each edge inward, against
//! the sharpness of the central lines → each boundary is then placed at full resolution
//! where the sharpness *along* the boundary steps up (the blur of the fill stops at the
//! picture's edge, to the pixel) → kept only when both sides of an axis have fill of the
//! same width to a few pixels (the picture is centred), each edge is a step up in sharpness,
//! and the fill is softer than the content. An axis without fill on both sides is kept
//! whole. Cost: a pass over a quarter of the rows (two of every block) plus a few hundred
//! samples per boundary line near the four candidates.

use std::ops::Range;

use crate::{Pixels, Rect};

/// What counts as a blurred fill around a sharp picture. Ratios are in per mille.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsetOptions {
    /// Longest side of the reduced grid the fill is first looked for on (256: cells of 8 × 8
    /// pixels for a 1920 × 1080 frame).
    pub grid_side: usize,
    /// A line is fill while its sharpness is at most this per mille of the central lines'
    /// (250).
    pub fill_sharpness_per_mille: u32,
    /// Smallest fill on each side of an axis, per mille of that dimension (20).
    pub min_fill_per_mille: usize,
    /// Largest difference between the fills on opposite sides, per mille of the dimension,
    /// beyond 4 pixels always allowed (5: the picture is centred; rounding moves it a pixel
    /// or two; the two sides are found independently, so an edge of the picture's own rarely
    /// lands in the mirrored place).
    pub max_asymmetry_per_mille: usize,
    /// At a boundary, the content side must be at least this many per mille as sharp as the
    /// fill side (1250; pictures soft at their own edges, macro shots, are common).
    pub min_edge_step_per_mille: u32,
    /// The whole fill's sharpness, on the grid, at most this per mille of the content's (500:
    /// a light blur of a soft picture is not much softer on the grid).
    pub max_fill_sharpness_per_mille: u32,
    /// Smallest content, per mille of each dimension (250).
    pub min_content_per_mille: usize,
    /// Smallest content in pixels per side (32).
    pub min_content: usize,
}

impl Default for InsetOptions {
    fn default() -> InsetOptions {
        InsetOptions {
            grid_side: 256,
            fill_sharpness_per_mille: 250,
            min_fill_per_mille: 20,
            max_asymmetry_per_mille: 5,
            min_edge_step_per_mille: 1250,
            max_fill_sharpness_per_mille: 500,
            min_content_per_mille: 250,
            min_content: 32,
        }
    }
}

/// Sharpness (mean absolute second difference of grey levels) below which the central lines
/// count as flat: nothing to tell a fill from.
const FLAT: f32 = 0.5;
/// Lines either side of a boundary whose sharpness is compared, at full resolution.
const BAND: usize = 3;
/// Most positions sampled along a boundary at full resolution.
const SAMPLES: usize = 192;
/// Sharpness floor of the fill side at full resolution (grey levels), so that a
/// perfectly flat fill does not make any step infinite.
const FILL_FLOOR: f32 = 0.1;
/// Asymmetry always allowed between opposite fills, in pixels.
const MIN_ASYMMETRY: usize = 4;

/// The sharp picture inside a blurred or otherwise soft, non-uniform fill, or `None` when
/// the image has no such fill (most images).
pub fn inset_box(pixels: &Pixels<'_>, options: &InsetOptions) -> Option<Rect> {
    let (width, height) = (pixels.width(), pixels.height());
    let min_side = 2 * options.min_content.max(8);
    if width < min_side || height < min_side {
        return None;
    }
    let grid = Grid::new(pixels, options.grid_side.max(16));
    let sharp = grid.sharpness();
    let (gw, gh) = (grid.width, grid.height);
    if gw < 8 || gh < 8 {
        return None;
    }
    // The fill on the grid: columns over the content rows, rows over the content columns.
    let (mut cols, mut rows) = (0..gw, 0..gh);
    for _ in 0..2 {
        let profile: Vec<f32> = (0..gw)
            .map(|x| mean_of(&sharp, gw, x..x + 1, rows.clone()))
            .collect();
        cols = soft_run(&profile, options);
        let profile: Vec<f32> = (0..gh)
            .map(|y| mean_of(&sharp, gw, cols.clone(), y..y + 1))
            .collect();
        rows = soft_run(&profile, options);
    }
    let block = grid.block;
    let luma = |x: usize, y: usize| luma_at(pixels, x, y);
    // Full-resolution boundaries of one axis: `len` lines, `along` the other axis's content.
    let axis = |len: usize,
                grid_run: &Range<usize>,
                grid_len: usize,
                along: Range<usize>,
                at: &dyn Fn(usize, usize) -> f32|
     -> Option<Range<usize>> {
        if grid_run.start == 0 || grid_run.end == grid_len {
            return None;
        }
        let window = |run: usize| (run.saturating_sub(4) * block)..(run + 2) * block;
        let near = window(grid_run.start);
        let far = window(grid_len - grid_run.end);
        let start = boundary(&|i, s| at(i, s), len, along.clone(), near, options);
        let end = boundary(&|i, s| at(len - 1 - i, s), len, along, far, options);
        let (start, end) = (start?, len - end?);
        let min_fill = (len * options.min_fill_per_mille).div_ceil(1000).max(2);
        let asymmetry = start.abs_diff(len - end);
        let max_asymmetry = MIN_ASYMMETRY + len * options.max_asymmetry_per_mille / 1000;
        (start >= min_fill && len - end >= min_fill && asymmetry <= max_asymmetry && start < end)
            .then_some(start..end)
    };
    let full_rows = rows.start * block..(rows.end * block).min(height);
    let x_range = axis(width, &cols, gw, full_rows, &|x, y| luma(x, y));
    let full_cols = match &x_range {
        Some(r) => r.clone(),
        None => cols.start * block..(cols.end * block).min(width),
    };
    let y_range = axis(height, &rows, gh, full_cols, &|y, x| luma(x, y));
    if x_range.is_none() && y_range.is_none() {
        return None;
    }
    let x_range = x_range.unwrap_or(0..width);
    let y_range = y_range.unwrap_or(0..height);
    let big_enough = |r: &Range<usize>, len: usize| {
        r.len() >= options.min_content && r.len() * 1000 >= len * options.min_content_per_mille
    };
    if !big_enough(&x_range, width) || !big_enough(&y_range, height) {
        return None;
    }
    // The fill as a whole must be much softer than the content (on the grid, cells wholly
    // on one side).
    let inner_cols = x_range.start.div_ceil(block)..x_range.end / block;
    let inner_rows = y_range.start.div_ceil(block)..y_range.end / block;
    let content = mean_of(&sharp, gw, inner_cols.clone(), inner_rows.clone());
    let mut fill = (0.0f32, 0usize);
    let mut add = |c: Range<usize>, r: Range<usize>| {
        let n = c.len() * r.len();
        if n > 0 {
            fill.0 += mean_of(&sharp, gw, c, r) * n as f32;
            fill.1 += n;
        }
    };
    if x_range.start > 0 {
        add(0..x_range.start / block, inner_rows.clone());
        add(x_range.end.div_ceil(block)..gw, inner_rows.clone());
    }
    if y_range.start > 0 {
        add(inner_cols.clone(), 0..y_range.start / block);
        add(inner_cols, y_range.end.div_ceil(block)..gh);
    }
    let fill = if fill.1 == 0 {
        0.0
    } else {
        fill.0 / fill.1 as f32
    };
    if fill * 1000.0 > content * options.max_fill_sharpness_per_mille as f32 {
        return None;
    }
    Some(Rect {
        x: x_range.start,
        y: y_range.start,
        width: x_range.len(),
        height: y_range.len(),
    })
}

/// Grey level of one pixel (the weights of [`crate::perceptual`]'s thumbnails).
fn luma_at(pixels: &Pixels<'_>, x: usize, y: usize) -> f32 {
    let c = pixels.channels();
    let px = &pixels.row(y)[x * c..];
    if c == 1 {
        f32::from(px[0])
    } else {
        0.2126 * f32::from(px[0]) + 0.7152 * f32::from(px[1]) + 0.0722 * f32::from(px[2])
    }
}

/// Grey block averages, `block × block` pixels each (a partial last row or column of
/// blocks is left out).
struct Grid {
    width: usize,
    height: usize,
    block: usize,
    luma: Vec<f32>,
}

impl Grid {
    fn new(pixels: &Pixels<'_>, side: usize) -> Grid {
        let (w, h) = (pixels.width(), pixels.height());
        let block = w.max(h).div_ceil(side).max(1);
        let (width, height) = (w / block, h / block);
        let channels = pixels.channels();
        let mut luma = vec![0.0f32; width * height];
        let mut sums = vec![0u32; width * block * channels];
        // At most two rows of each block are read: the cost is a fraction of a PDQ hash's,
        // and the fill's softness shows as well.
        let row_step = block.div_ceil(2);
        let rows_read = block.div_ceil(row_step);
        let scale = 1.0 / (block * rows_read) as f32;
        for gy in 0..height {
            sums.fill(0);
            for y in (gy * block..(gy + 1) * block).step_by(row_step) {
                let row = &pixels.row(y)[..width * block * channels];
                for (s, &v) in sums.iter_mut().zip(row) {
                    // At most `block` rows of bytes: no overflow; wrapping so that builds
                    // with overflow checks still vectorise.
                    *s = s.wrapping_add(u32::from(v));
                }
            }
            for (gx, cell) in sums.chunks_exact(block * channels).enumerate() {
                let value = if channels == 1 {
                    cell.iter().sum::<u32>() as f32
                } else {
                    let mut rgb = [0u32; 3];
                    for px in cell.chunks_exact(channels) {
                        rgb[0] += px[0];
                        rgb[1] += px[1];
                        rgb[2] += px[2];
                    }
                    0.2126 * rgb[0] as f32 + 0.7152 * rgb[1] as f32 + 0.0722 * rgb[2] as f32
                };
                luma[gy * width + gx] = value * scale;
            }
        }
        Grid {
            width,
            height,
            block,
            luma,
        }
    }

    /// Per cell: absolute second differences across and down (the outermost cells copy
    /// their inner neighbour's).
    fn sharpness(&self) -> Vec<f32> {
        let (w, h) = (self.width, self.height);
        let at = |x: usize, y: usize| self.luma[y * w + x];
        let mut out = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (xc, yc) = (x.clamp(1, w - 2), y.clamp(1, h - 2));
                let across = (at(xc - 1, y) - 2.0 * at(xc, y) + at(xc + 1, y)).abs();
                let down = (at(x, yc - 1) - 2.0 * at(x, yc) + at(x, yc + 1)).abs();
                out[y * w + x] = across + down;
            }
        }
        out
    }
}

/// Mean of `values` (rows `width` long) over a rectangle; 0 when it is empty.
fn mean_of(values: &[f32], width: usize, cols: Range<usize>, rows: Range<usize>) -> f32 {
    let n = cols.len() * rows.len();
    if n == 0 {
        return 0.0;
    }
    let sum: f32 = rows
        .map(|y| {
            values[y * width + cols.start..y * width + cols.end]
                .iter()
                .sum::<f32>()
        })
        .sum();
    sum / n as f32
}

/// The lines between the soft runs at either end of a sharpness profile: a line is soft
/// while below `fill_sharpness_per_mille` of the median of the central fifth.
fn soft_run(profile: &[f32], options: &InsetOptions) -> Range<usize> {
    let n = profile.len();
    let mut central: Vec<f32> = profile[2 * n / 5..(3 * n / 5).max(2 * n / 5 + 1)].to_vec();
    central.sort_by(f32::total_cmp);
    let reference = central[central.len() / 2];
    if reference < FLAT {
        return 0..n;
    }
    let soft = |v: &f32| *v * 1000.0 < reference * options.fill_sharpness_per_mille as f32;
    let start = profile.iter().take_while(|v| soft(v)).count();
    if start == n {
        return 0..n;
    }
    let end = n - profile.iter().rev().take_while(|v| soft(v)).count();
    start..end
}

/// The first content line counted from one side (`at(i, s)`: grey at line `i` from that side,
/// position `s` along it), searched up to `limit`: where the sharpness along the lines steps
/// up most from the fill side to the content side (and the grey level jumps across).
/// `None` without a clear step.
fn boundary(
    at: &dyn Fn(usize, usize) -> f32,
    len: usize,
    along: Range<usize>,
    window: Range<usize>,
    options: &InsetOptions,
) -> Option<usize> {
    if along.len() < 2 {
        return None;
    }
    // Lines `first..last` are measured; boundaries `first + BAND + 1..last - BAND` scored.
    let first = window.start.saturating_sub(BAND + 1);
    let last = (window.end + BAND).min(len / 2);
    if last <= first + 2 * BAND + 1 {
        return None;
    }
    let step = (along.len() - 1).div_ceil(SAMPLES).max(1);
    let samples: Vec<usize> = (along.start..along.end - 1).step_by(step).collect();
    // Sharpness along each line, and the jump across to the line before.
    let mut along_sharp = vec![0.0f32; last];
    let mut across = vec![0.0f32; last];
    for i in first..last {
        let (mut a, mut c) = (0.0f32, 0.0f32);
        for &s in &samples {
            let v = at(i, s);
            a += (at(i, s + 1) - v).abs();
            if i > 0 {
                c += (v - at(i - 1, s)).abs();
            }
        }
        along_sharp[i] = a / samples.len() as f32;
        across[i] = c / samples.len() as f32;
    }
    let band_mean = |v: &[f32], r: Range<usize>| v[r.clone()].iter().sum::<f32>() / r.len() as f32;
    let mut best: Option<(usize, f32)> = None;
    for i in first + BAND + 1..last - BAND {
        let inner = band_mean(&along_sharp, i..i + BAND);
        let outer = band_mean(&along_sharp, i - BAND..i);
        let jump = across[i] - band_mean(&across, i - BAND..i);
        let score = inner - outer + 0.5 * jump;
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((i, score));
        }
    }
    let (i, _) = best?;
    let inner = band_mean(&along_sharp, i..i + BAND);
    let outer = band_mean(&along_sharp, i - BAND..i).max(FILL_FLOOR);
    (inner * 1000.0 >= outer * options.min_edge_step_per_mille as f32).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `width × height` grey picture: noise over a diagonal gradient (sharp everywhere).
    fn picture(width: usize, height: usize, seed: u32) -> Vec<u8> {
        let mut state = seed;
        (0..width * height)
            .map(|i| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let (x, y) = (i % width, i / width);
                let base = (x * 120 / width + y * 80 / height) as u32;
                (base + (state >> 16) % 96) as u8
            })
            .collect()
    }

    /// Separable box blur of radius `r`, twice (close to a Gaussian).
    fn blurred(data: &[u8], width: usize, height: usize, r: usize) -> Vec<u8> {
        let mut v: Vec<f32> = data.iter().map(|&b| f32::from(b)).collect();
        for _ in 0..2 {
            for (step, len, lines) in [(1, width, height), (width, height, width)] {
                let mut out = v.clone();
                for line in 0..lines {
                    let at = |i: usize| {
                        if step == 1 {
                            line * width + i
                        } else {
                            i * width + line
                        }
                    };
                    for i in 0..len {
                        let (a, b) = (i.saturating_sub(r), (i + r + 1).min(len));
                        out[at(i)] = (a..b).map(|j| v[at(j)]).sum::<f32>() / (b - a) as f32;
                    }
                }
                v = out;
            }
        }
        v.iter().map(|&f| f.round() as u8).collect()
    }

    /// `picture` (pw × ph) centred at full height or width in a `width × height` canvas,
    /// on itself enlarged to cover the canvas and blurred; returns the canvas and the box.
    fn blurred_fill(width: usize, height: usize, pw: usize, ph: usize) -> (Vec<u8>, Rect) {
        let pic = picture(pw, ph, 7);
        let scale = (width as f32 / pw as f32).max(height as f32 / ph as f32);
        let (ox, oy) = (
            (pw as f32 * scale - width as f32) / 2.0,
            (ph as f32 * scale - height as f32) / 2.0,
        );
        let enlarged: Vec<u8> = (0..width * height)
            .map(|i| {
                let sx = (((i % width) as f32 + ox) / scale) as usize;
                let sy = (((i / width) as f32 + oy) / scale) as usize;
                pic[sy.min(ph - 1) * pw + sx.min(pw - 1)]
            })
            .collect();
        let mut canvas = blurred(&enlarged, width, height, 6);
        let (x0, y0) = ((width - pw) / 2, (height - ph) / 2);
        for y in 0..ph {
            let row = (y0 + y) * width + x0;
            canvas[row..row + pw].copy_from_slice(&pic[y * pw..(y + 1) * pw]);
        }
        let rect = Rect {
            x: x0,
            y: y0,
            width: pw,
            height: ph,
        };
        (canvas, rect)
    }

    fn assert_near(got: Option<Rect>, want: Rect, what: &str) {
        let got = got.unwrap_or_else(|| panic!("{what}: no box"));
        let ends = |r: Rect| [r.x, r.y, r.x + r.width, r.y + r.height];
        for (g, w) in ends(got).into_iter().zip(ends(want)) {
            assert!(g.abs_diff(w) <= 2, "{what}: {got:?} against {want:?}");
        }
    }

    #[test]
    fn finds_a_picture_on_its_own_blurred_enlargement() {
        for (w, h, pw, ph, what) in [
            (640, 360, 202, 360, "portrait in landscape"),
            (360, 640, 360, 202, "landscape in portrait"),
            (480, 480, 480, 270, "landscape in a square"),
            (480, 480, 400, 300, "with fill on all four sides"),
        ] {
            let (canvas, rect) = blurred_fill(w, h, pw, ph);
            let pixels = Pixels::new(&canvas, w, h, 1).unwrap();
            assert_near(inset_box(&pixels, &InsetOptions::default()), rect, what);
        }
    }

    #[test]
    fn reads_rgb_rgba_and_strides() {
        let (w, h) = (640, 360);
        let (grey, rect) = blurred_fill(w, h, 202, 360);
        for channels in [3, 4] {
            let stride = w * channels + 13;
            let mut data = vec![0u8; stride * h];
            for (i, &v) in grey.iter().enumerate() {
                let at = (i / w) * stride + (i % w) * channels;
                data[at..at + 3].copy_from_slice(&[v, v, v]);
            }
            let pixels = Pixels::with_stride(&data, w, h, channels, stride).unwrap();
            let what = format!("{channels} channels, padded rows");
            assert_near(inset_box(&pixels, &InsetOptions::default()), rect, &what);
        }
    }

    #[test]
    fn no_box_in_plain_pictures() {
        for (w, h) in [(640, 360), (300, 500), (64, 64)] {
            let data = picture(w, h, 3);
            let pixels = Pixels::new(&data, w, h, 1).unwrap();
            assert_eq!(
                inset_box(&pixels, &InsetOptions::default()),
                None,
                "{w}x{h}"
            );
        }
        // Soft everywhere: nothing sharp to find.
        let data = blurred(&picture(320, 240, 5), 320, 240, 6);
        let pixels = Pixels::new(&data, 320, 240, 1).unwrap();
        assert_eq!(inset_box(&pixels, &InsetOptions::default()), None, "soft");
        let flat = vec![7u8; 200 * 200];
        let pixels = Pixels::new(&flat, 200, 200, 1).unwrap();
        assert_eq!(inset_box(&pixels, &InsetOptions::default()), None, "flat");
    }

    #[test]
    fn fill_on_one_side_only_is_not_a_frame() {
        // The picture against the left edge: a fill on the right alone.
        let (w, h, pw) = (640, 360, 400);
        let (centred, _) = blurred_fill(w, h, pw, h);
        let shift = (w - pw) / 2;
        let data: Vec<u8> = (0..w * h)
            .map(|i| centred[(i / w) * w + ((i % w) + shift).min(w - 1)])
            .collect();
        let pixels = Pixels::new(&data, w, h, 1).unwrap();
        assert_eq!(inset_box(&pixels, &InsetOptions::default()), None);
    }
}
