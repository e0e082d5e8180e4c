//! For scripts/inset-eval: per image file, the inset box, the uniform-border box and the
//! cost of finding the inset box against a PDQ hash of the same pixels (median of 5 runs
//! each), as one JSON line per file.
//! Usage: cargo run -p vigil-hash --example inset-probe -- FILE...

use std::io::Write;
use std::time::Instant;

use vigil_hash::{
    DecodeLimits, InsetOptions, PdqHasher, Pixels, TrimOptions, content_box, decode, inset_box,
};

fn median_ms(mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut pdq = PdqHasher::new();
    let mut out = std::io::stdout().lock();
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        let decoded = decode(&bytes, &DecodeLimits::DEFAULT)?;
        let rgb = decoded.image.to_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let pixels = Pixels::new(rgb.as_raw(), w, h, 3)?;
        let options = InsetOptions::default();
        let rect = |r: vigil_hash::Rect| [r.x, r.y, r.width, r.height];
        let inset = inset_box(&pixels, &options).map(rect);
        let trimmed = content_box(&pixels, &TrimOptions::default()).map(rect);
        let inset_ms = median_ms(|| {
            std::hint::black_box(inset_box(&pixels, &options));
        });
        let pdq_ms = median_ms(|| {
            std::hint::black_box(pdq.features(pixels));
        });
        let line = serde_json::json!({
            "path": path, "width": w, "height": h, "inset": inset, "trimmed": trimmed,
            "inset_ms": inset_ms, "pdq_ms": pdq_ms,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}
