//! Rendering a few frames as small thumbnails, for the review console's contact sheet: the
//! stream opened and bounded exactly as for hashing ([`Decoding::open`]), frames counted as
//! vPDQ counts them (decoder output order, time = frame number over frame rate), so a flag's
//! `frame_ms` and segment times name the frames that matched. Each time asked for gets the
//! frame nearest to it, scaled down (never up) with `SWS_AREA` to fit the job's side, as
//! RGB24. Decoding stops once every time has its frame.

use std::io;
use std::path::Path;

use base64::Engine as _;
use ffmpeg::software::scaling;
use ffmpeg::util::error::EAGAIN;
use ffmpeg::{Packet, frame};
use ffmpeg_next as ffmpeg;
use vigil_core::ReasonCode;
use vigil_hash::frame_timestamp;
use vigil_video::protocol::{Event, Failure, Job, JobLimits, RenderJob, Summary, WireThumbnail};

use crate::decode::{Decoding, failed};

/// Renders the frames `render` asks for from the video at `path`, reporting through `emit`:
/// [`Event::Info`], an [`Event::Thumbnail`] per time (in time order), then [`Event::Done`]
/// or [`Event::Failed`]. Errors are only `emit`'s.
pub(crate) fn render_frames(
    path: &Path,
    job: &Job,
    render: &RenderJob,
    mut emit: impl FnMut(&Event) -> io::Result<()>,
) -> io::Result<()> {
    if !render.within_bounds() {
        return emit(&Event::Failed(Failure::new(
            ReasonCode::VideoWorkerCrashed,
            "a render job over its bounds (frames or thumbnail side)",
        )));
    }
    let mut decoding = match Decoding::open(path, job) {
        Ok(decoding) => decoding,
        Err(failure) => return emit(&Event::Failed(failure)),
    };
    emit(&Event::Info(decoding.info.clone()))?;
    let mut pending = render.times_ms.clone();
    pending.sort_unstable();
    pending.dedup();
    // Soonest last, to pop.
    pending.reverse();
    let mut state = Renderer {
        pending,
        max_side: render.max_side,
        frame_rate: decoding.frame_rate,
        limits: job.limits,
        scaler: None,
        decoded: frame::Video::empty(),
        scaled: frame::Video::empty(),
        frames_decoded: 0,
        rendered: 0,
    };
    let mut stopped = None;
    while !state.pending.is_empty() && stopped.is_none() {
        // A new packet each time: reading into a used one would leak its buffer.
        let mut packet = Packet::empty();
        if packet.read(&mut decoding.input).is_err() {
            // The buffered frames too; times past the last frame get none.
            stopped = match decoding.decoder.send_eof() {
                Ok(()) => state.drain(&mut decoding.decoder, &mut emit)?,
                Err(e) => Some(failed(&e, "the decoder refused the end of the stream")),
            };
            break;
        }
        if packet.stream() != decoding.stream {
            continue;
        }
        stopped = match decoding.decoder.send_packet(&packet) {
            Ok(()) => state.drain(&mut decoding.decoder, &mut emit)?,
            Err(e) => Some(failed(&e, "the decoder refused a packet")),
        };
    }
    match stopped {
        Some(failure) if state.rendered == 0 => emit(&Event::Failed(failure)),
        stopped => emit(&Event::Done(Summary {
            frames_decoded: state.frames_decoded,
            frames_hashed: state.rendered,
            stopped,
            peak_rss_bytes: crate::sandbox::peak_rss_bytes(),
            seccomp: false,
        })),
    }
}

/// What the frame loop carries.
struct Renderer {
    /// Times still without a frame, soonest last.
    pending: Vec<u64>,
    max_side: u32,
    frame_rate: f64,
    limits: JobLimits,
    scaler: Option<scaling::Context>,
    decoded: frame::Video,
    scaled: frame::Video,
    frames_decoded: u64,
    rendered: u64,
}

impl Renderer {
    /// Receives every frame the decoder has ready, rendering those nearest a pending time;
    /// `Some` failure ends decoding.
    fn drain(
        &mut self,
        decoder: &mut ffmpeg::decoder::Video,
        emit: &mut impl FnMut(&Event) -> io::Result<()>,
    ) -> io::Result<Option<Failure>> {
        while !self.pending.is_empty() {
            match decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {}
                Err(ffmpeg::Error::Other { errno: EAGAIN } | ffmpeg::Error::Eof) => {
                    return Ok(None);
                }
                Err(e) => return Ok(Some(failed(&e, "the decoder failed"))),
            }
            let number = self.frames_decoded;
            self.frames_decoded += 1;
            if let Some(failure) =
                crate::decode::over_limits(&self.limits, number, self.frame_rate, &self.decoded)
            {
                return Ok(Some(failure));
            }
            let ms = frame_timestamp(number, self.frame_rate) * 1000.0;
            let half_frame_ms = 500.0 / self.frame_rate;
            let mut thumbnail: Option<WireThumbnail> = None;
            // This frame is the nearest to every pending time before its own next half frame.
            while let Some(&time_ms) = self.pending.last()
                && (time_ms as f64) < ms + half_frame_ms
            {
                self.pending.pop();
                let wire = match &thumbnail {
                    Some(done) => done.clone(),
                    None => match self.scale() {
                        Ok(rgb) => rgb,
                        Err(e) => return Ok(Some(failed(&e, "cannot scale a frame"))),
                    },
                };
                let wire = WireThumbnail {
                    time_ms,
                    frame_ms: ms.round() as u64,
                    ..wire
                };
                emit(&Event::Thumbnail(wire.clone()))?;
                self.rendered += 1;
                thumbnail = Some(wire);
            }
        }
        Ok(None)
    }

    /// The decoded frame scaled to fit `max_side`, as packed RGB24 in base64 (times unset).
    fn scale(&mut self) -> Result<WireThumbnail, ffmpeg::Error> {
        let frame = &self.decoded;
        let (width, height) = fit(frame.width(), frame.height(), self.max_side);
        crate::decode::to_rgb24(&mut self.scaler, frame, &mut self.scaled, (width, height))?;
        let row = width as usize * 3;
        let stride = self.scaled.stride(0);
        let data = self.scaled.data(0);
        let mut rgb = Vec::with_capacity(row * height as usize);
        for y in 0..height as usize {
            let start = y * stride;
            rgb.extend_from_slice(data.get(start..start + row).ok_or(ffmpeg::Error::Bug)?);
        }
        Ok(WireThumbnail {
            time_ms: 0,
            frame_ms: 0,
            width,
            height,
            rgb: base64::engine::general_purpose::STANDARD.encode(rgb),
        })
    }
}

/// `width × height` scaled down to fit `max_side` (aspect kept, at least 1 × 1); a frame
/// that fits already keeps its size.
fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        let scaled =
            (u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(max_side).clamp(1, max_side)
    };
    (scale(width), scale(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_shrink_to_fit_and_keep_their_aspect() {
        assert_eq!(fit(1920, 1080, 320), (320, 180));
        assert_eq!(fit(1080, 1920, 320), (180, 320));
        assert_eq!(fit(320, 240, 320), (320, 240));
        assert_eq!(fit(100, 50, 320), (100, 50), "never enlarged");
        assert_eq!(fit(65535, 5, 320), (320, 1), "at least a pixel");
    }
}
