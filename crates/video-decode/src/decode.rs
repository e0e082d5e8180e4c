//! The FFmpeg loop, as Meta's vPDQ reference runs it: the first video stream, decoded frame
//! by frame; every `floor(seconds_per_hash × frame_rate)`-th output frame converted to RGB24
//! at the stream's size with `SWS_AREA` and hashed. Where the reference is silent or
//! undefined (limits, a frame whose size changed), the loop stops or converts sanely.
//! Frames that are neither sampled nor referenced are not decoded where that is checked to
//! give the same frames ([`Sparse`]); otherwise, or when the check fails, all are.

use std::io;
use std::path::Path;

use ffmpeg::codec::threading;
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::error::{EAGAIN, ENOMEM};
use ffmpeg::{Dictionary, Discard, Packet, Rational, codec, frame, media};
use ffmpeg_next as ffmpeg;
use vigil_core::ReasonCode;
use vigil_hash::{MIN_DIMENSION, Pixels, frame_interval, frame_timestamp};
use vigil_video::protocol::{Event, Failure, Job, JobLimits, Summary, VideoInfo};

use crate::frames::FrameHasher;

/// Decodes the video at `path` and hashes its sampled frames, reporting each step through
/// `emit`: [`Event::Info`], [`Event::Frame`]s, then [`Event::Done`] or [`Event::Failed`].
/// Errors are only `emit`'s (the scanner stopped listening).
pub fn hash_video(
    path: &Path,
    job: &Job,
    mut emit: impl FnMut(&Event) -> io::Result<()>,
) -> io::Result<()> {
    match Decoding::open(path, job) {
        Ok(mut decoding) => {
            emit(&Event::Info(decoding.info.clone()))?;
            let summary = match decoding.sparse_plan(path, job) {
                Some(plan) => {
                    // Frames are held back until the sparse decode proved consistent.
                    let mut held = Vec::new();
                    let sparse = decoding.run(job, Some(plan), &mut |event: &Event| {
                        held.push(event.clone());
                        Ok(())
                    })?;
                    match sparse {
                        Some(summary) => {
                            held.iter().try_for_each(&mut emit)?;
                            summary
                        }
                        None => match Decoding::open(path, job) {
                            Ok(mut full) => full
                                .run(job, None, &mut emit)?
                                .unwrap_or_else(|| unreachable!("only a sparse decode gives up")),
                            Err(failure) => return emit(&Event::Failed(failure)),
                        },
                    }
                }
                None => decoding
                    .run(job, None, &mut emit)?
                    .unwrap_or_else(|| unreachable!("only a sparse decode gives up")),
            };
            match summary.stopped {
                Some(failure) if summary.frames_hashed == 0 => emit(&Event::Failed(failure)),
                _ => emit(&Event::Done(summary)),
            }
        }
        Err(failure) => emit(&Event::Failed(failure)),
    }
}

/// The demuxers a worker lets FFmpeg use (`format_whitelist`): the containers vigil hashes,
/// MP4/QuickTime/3GP, Matroska/WebM, GIF, APNG and WebP. Whatever else FFmpeg would probe is
/// refused (`video_decode_failed`), above all the playlist demuxers: an HLS playlist sent as
/// the video would have the worker open, decode and hash any local file it names by an
/// absolute path (`.mp4`, `.mkv`, `.ts`, …), which neither the rlimits nor the seccomp filter
/// (reading is allowed) prevent.
const DEMUXERS: &str = "mov,matroska,gif,apng,webp_pipe";

/// The container at `path`, demuxed only by the [`DEMUXERS`].
fn open_input(path: &Path) -> Result<ffmpeg::format::context::Input, ffmpeg::Error> {
    let mut options = Dictionary::new();
    options.set("format_whitelist", DEMUXERS);
    ffmpeg::format::input_with_dictionary(path, options)
}

/// An opened stream, ready to decode (rendering opens it the same way: `render.rs`).
pub(crate) struct Decoding {
    pub(crate) input: ffmpeg::format::context::Input,
    pub(crate) stream: usize,
    pub(crate) codec: codec::Id,
    pub(crate) decoder: ffmpeg::decoder::Video,
    pub(crate) info: VideoInfo,
    pub(crate) frame_rate: f64,
}

impl Decoding {
    pub(crate) fn open(path: &Path, job: &Job) -> Result<Decoding, Failure> {
        ffmpeg::init().map_err(|e| failed(&e, "cannot start FFmpeg"))?;
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
        let input = open_input(path).map_err(|e| failed(&e, "cannot read the container"))?;
        // The first video stream, as the reference takes (not FFmpeg's "best" one).
        let stream = input
            .streams()
            .find(|s| s.parameters().medium() == media::Type::Video)
            .ok_or_else(|| Failure::new(ReasonCode::VideoDecodeFailed, "no video stream"))?;
        let index = stream.index();
        let frame_rate = rate(stream.avg_frame_rate())
            .or_else(|| rate(stream.rate()))
            .ok_or_else(|| {
                Failure::new(
                    ReasonCode::VideoDecodeFailed,
                    "the stream has no frame rate",
                )
            })?;
        let parameters = stream.parameters();
        let codec = ffmpeg::decoder::find(parameters.id()).ok_or_else(|| {
            Failure::new(ReasonCode::VideoDecodeFailed, "no decoder for the codec")
        })?;
        let limits = &job.limits;
        // The declared size, from a decoder opened without a pixel limit (FFmpeg would
        // silently zero a size over it); the one that decodes has the limit.
        let probe = open_decoder(&parameters, codec, None)?;
        let (width, height) = (probe.width(), probe.height());
        drop(probe);
        if u64::from(width) * u64::from(height) > limits.max_pixels_per_frame {
            return Err(Failure::new(
                ReasonCode::VideoTooLarge,
                format!(
                    "{width}x{height} frames; video.max_pixels_per_frame is {}",
                    limits.max_pixels_per_frame
                ),
            ));
        }
        if width == 0 || height == 0 {
            // FFmpeg zeroes a size over its own bound (2^31 pixels) as well as a missing one.
            return Err(Failure::new(
                ReasonCode::VideoDecodeFailed,
                "the stream declares no usable frame size (none, or over 2^31 pixels)",
            ));
        }
        if (width as usize) < MIN_DIMENSION || (height as usize) < MIN_DIMENSION {
            return Err(Failure::new(
                ReasonCode::VideoDecodeFailed,
                format!(
                    "{width}x{height} frames are too small to hash \
                     (at least {MIN_DIMENSION}x{MIN_DIMENSION})"
                ),
            ));
        }
        let duration_s = declared_duration(&input);
        if let Some(seconds) = duration_s.filter(|&s| s > limits.max_duration_secs as f64) {
            return Err(Failure::new(
                ReasonCode::VideoTooLong,
                format!(
                    "declares {seconds:.0} s; video.max_duration_secs is {}",
                    limits.max_duration_secs
                ),
            ));
        }
        let decoder = open_decoder(&parameters, codec, Some(limits.max_pixels_per_frame))?;
        let info = VideoInfo {
            container: input.format().name().to_string(),
            codec: codec.name().to_string(),
            width,
            height,
            frame_rate,
            duration_s,
        };
        Ok(Decoding {
            input,
            stream: index,
            codec: codec.id(),
            decoder,
            info,
            frame_rate,
        })
    }

    /// A plan to decode only what the sampled frames need (at 1 hash per second, H.264's
    /// non-reference frames between samples, often half the frames, are never decoded),
    /// for H.264 (whose non-reference pictures `skip_frame` drops before decoding) as
    /// stream 0 (so the decoder is drained and every frame comes out), sampled sparsely,
    /// with a distinct pts on every packet (output order is pts order, so a frame's number
    /// is its pts's rank). A demuxing pass reads the pts; [`Sparse`] checks every output.
    fn sparse_plan(&self, path: &Path, job: &Job) -> Option<Sparse> {
        let interval = frame_interval(job.seconds_per_hash, self.frame_rate);
        if interval < 2 || self.stream != 0 || self.codec != codec::Id::H264 {
            return None;
        }
        let mut input = open_input(path).ok()?;
        let mut order = Vec::new();
        loop {
            let mut packet = Packet::empty();
            if packet.read(&mut input).is_err() {
                break;
            }
            if packet.stream() == self.stream {
                // Bounded: a video over max_frames is decoded whole and stops at the limit.
                if order.len() as u64 > job.limits.max_frames {
                    return None;
                }
                order.push(packet.pts()?);
            }
        }
        order.sort_unstable();
        let packets = order.len();
        order.dedup();
        (order.len() == packets && packets > 0).then(|| Sparse {
            sent: vec![Sent::Not; packets],
            order,
            interval,
            next: 0,
            broken: false,
        })
    }

    /// Decodes and hashes; `None` when a sparse decode found itself inconsistent with
    /// what the full decode would give (the caller then decodes in full).
    fn run(
        &mut self,
        job: &Job,
        sparse: Option<Sparse>,
        emit: &mut impl FnMut(&Event) -> io::Result<()>,
    ) -> io::Result<Option<Summary>> {
        let mut state = State {
            sparse,
            interval: frame_interval(job.seconds_per_hash, self.frame_rate),
            frame_rate: self.frame_rate,
            width: self.info.width,
            height: self.info.height,
            hasher: FrameHasher::new(job.forms),
            scaler: None,
            decoded: frame::Video::empty(),
            rgb: frame::Video::empty(),
            frames_decoded: 0,
            frames_hashed: 0,
            limits: job.limits,
        };
        let mut stopped = None;
        loop {
            // A new packet each time: reading into a used one would leak its buffer.
            let mut packet = Packet::empty();
            if packet.read(&mut self.input).is_err() {
                break;
            }
            if packet.stream() != self.stream {
                continue;
            }
            if let Some(sparse) = state.sparse.as_mut() {
                self.decoder.skip_frame(sparse.before_send(packet.pts()));
            }
            if let Err(e) = self.decoder.send_packet(&packet) {
                stopped = Some(failed(&e, "the decoder refused a packet"));
                break;
            }
            if let Some(failure) = state.drain(&mut self.decoder, emit)? {
                stopped = Some(failure);
                break;
            }
        }
        // The reference drains the decoder with the packet its last read left blank, whose
        // stream index is 0: the last buffered frames are hashed only when the video is
        // stream 0. Kept, so that vPDQ hashes stay the reference's.
        if stopped.is_none() && self.stream == 0 {
            if let Err(e) = self.decoder.send_eof() {
                stopped = Some(failed(&e, "the decoder refused the end of the stream"));
            } else {
                stopped = state.drain(&mut self.decoder, emit)?;
            }
        }
        if let Some(sparse) = state.sparse.as_mut() {
            let decode_failed = stopped
                .as_ref()
                .is_some_and(|f| f.reason == ReasonCode::VideoDecodeFailed);
            // Whatever the full decode would do after a decoder error, it does itself.
            if sparse.broken || decode_failed || (stopped.is_none() && !sparse.finish()) {
                return Ok(None);
            }
            if stopped.is_none() {
                state.frames_decoded = sparse.next;
            }
        }
        Ok(Some(Summary {
            frames_decoded: state.frames_decoded,
            frames_hashed: state.frames_hashed,
            stopped,
            peak_rss_bytes: crate::sandbox::peak_rss_bytes(),
            seccomp: false,
        }))
    }
}

/// How the packet of one frame (by output rank) went to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Not,
    /// Decoded, whatever it is.
    Whole,
    /// Dropped by the decoder if no other frame refers to it.
    Droppable,
}

/// A sparse decode: non-reference frames that are not sampled are not decoded. Frames are
/// numbered by their pts's rank, and every output is checked against what the full
/// decode would have given (every rank passed over is a droppable frame already sent, so
/// none was lost to reordering or an error); any doubt breaks the plan.
struct Sparse {
    /// Every packet's pts, ascending: a frame's rank is its output number.
    order: Vec<i64>,
    sent: Vec<Sent>,
    interval: u64,
    /// The rank the next output frame may have at least.
    next: u64,
    broken: bool,
}

impl Sparse {
    fn rank(&self, pts: Option<i64>) -> Option<usize> {
        self.order.binary_search(&pts?).ok()
    }

    /// How to decode the packet with `pts`: whole until the first frame is out (frames
    /// before a keyframe are dropped in either decode and must not look skipped), and
    /// whenever it is sampled.
    fn before_send(&mut self, pts: Option<i64>) -> Discard {
        let Some(rank) = self.rank(pts).filter(|&r| self.sent[r] == Sent::Not) else {
            self.broken = true;
            return Discard::Default;
        };
        let droppable = self.next > 0 && !(rank as u64).is_multiple_of(self.interval);
        self.sent[rank] = if droppable {
            Sent::Droppable
        } else {
            Sent::Whole
        };
        if droppable {
            Discard::NonReference
        } else {
            Discard::Default
        }
    }

    /// The number of an output frame with `pts`, or `None` (and the plan broken) when the
    /// full decode might have numbered it otherwise.
    fn number(&mut self, pts: Option<i64>) -> Option<u64> {
        let rank = self.rank(pts)?;
        let passed_over = self.sent.get(self.next as usize..rank)?;
        if self.sent[rank] == Sent::Not || passed_over.iter().any(|&s| s != Sent::Droppable) {
            self.broken = true;
            return None;
        }
        self.next = rank as u64 + 1;
        Some(rank as u64)
    }

    /// At the end: every frame after the last output was dropped on purpose.
    fn finish(&self) -> bool {
        self.sent[self.next as usize..]
            .iter()
            .all(|&s| s == Sent::Droppable)
    }
}

/// What the frame loop carries.
struct State {
    sparse: Option<Sparse>,
    interval: u64,
    frame_rate: f64,
    width: u32,
    height: u32,
    hasher: FrameHasher,
    scaler: Option<scaling::Context>,
    decoded: frame::Video,
    rgb: frame::Video,
    frames_decoded: u64,
    frames_hashed: u64,
    limits: JobLimits,
}

impl State {
    /// Receives every frame the decoder has ready; `Some` failure ends decoding.
    fn drain(
        &mut self,
        decoder: &mut ffmpeg::decoder::Video,
        emit: &mut impl FnMut(&Event) -> io::Result<()>,
    ) -> io::Result<Option<Failure>> {
        loop {
            match decoder.receive_frame(&mut self.decoded) {
                Ok(()) => {}
                Err(ffmpeg::Error::Other { errno: EAGAIN } | ffmpeg::Error::Eof) => {
                    return Ok(None);
                }
                Err(e) => return Ok(Some(failed(&e, "the decoder failed"))),
            }
            let number = match self.sparse.as_mut() {
                None => self.frames_decoded,
                Some(sparse) => match sparse.number(self.decoded.pts()) {
                    Some(number) => number,
                    None => {
                        sparse.broken = true;
                        return Ok(Some(Failure::new(
                            ReasonCode::VideoDecodeFailed,
                            "the sparse decode went astray",
                        )));
                    }
                },
            };
            self.frames_decoded = number + 1;
            if let Some(failure) = self.over_limits(number) {
                return Ok(Some(failure));
            }
            if !number.is_multiple_of(self.interval) {
                continue;
            }
            if let Err(e) = self.convert() {
                return Ok(Some(failed(&e, "cannot convert a frame to RGB")));
            }
            let (w, h) = (self.width as usize, self.height as usize);
            let Ok(pixels) = Pixels::with_stride(self.rgb.data(0), w, h, 3, self.rgb.stride(0))
            else {
                return Ok(Some(Failure::new(
                    ReasonCode::VideoDecodeFailed,
                    "a converted frame is smaller than the stream",
                )));
            };
            let timestamp = frame_timestamp(number, self.frame_rate);
            let hashed = self.hasher.hash(pixels, number, timestamp);
            self.frames_hashed += 1;
            emit(&Event::Frame(hashed))?;
        }
    }

    fn over_limits(&self, number: u64) -> Option<Failure> {
        over_limits(&self.limits, number, self.frame_rate, &self.decoded)
    }

    /// The decoded frame as RGB24 at the stream's size, with the reference's `SWS_AREA`.
    fn convert(&mut self) -> Result<(), ffmpeg::Error> {
        to_rgb24(
            &mut self.scaler,
            &self.decoded,
            &mut self.rgb,
            (self.width, self.height),
        )
    }
}

/// `frame` as RGB24 of `size` into `out`, with `SWS_AREA` as the reference converts; the
/// scaler in `scaler` is kept while frames keep their format and size (its output size
/// follows from theirs, for hashing and rendering alike).
pub(crate) fn to_rgb24(
    scaler: &mut Option<scaling::Context>,
    frame: &frame::Video,
    out: &mut frame::Video,
    (width, height): (u32, u32),
) -> Result<(), ffmpeg::Error> {
    let fits = |s: &scaling::Context| {
        s.input().format == frame.format()
            && s.input().width == frame.width()
            && s.input().height == frame.height()
    };
    if !scaler.as_ref().is_some_and(fits) {
        *scaler = Some(scaling::Context::get(
            frame.format(),
            frame.width(),
            frame.height(),
            Pixel::RGB24,
            width,
            height,
            scaling::Flags::AREA,
        )?);
    }
    match scaler.as_mut() {
        Some(scaler) => scaler.run(frame, out),
        None => Err(ffmpeg::Error::Bug),
    }
}

/// A frame rate, if it is one (the reference falls back when either term is 0).
fn rate(r: Rational) -> Option<f64> {
    let value = f64::from(r.numerator()) / f64::from(r.denominator());
    (r.numerator() != 0 && r.denominator() != 0 && value.is_finite() && value > 0.0)
        .then_some(value)
}

/// The container's duration in seconds, when it declares one.
fn declared_duration(input: &ffmpeg::format::context::Input) -> Option<f64> {
    let duration = input.duration();
    (duration > 0).then(|| duration as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE))
}

/// A single-threaded decoder for the stream (the worker is one core's work; frame
/// threading would only add latency: frames and their order are the same), its frames
/// bounded to `max_pixels` when given.
fn open_decoder(
    parameters: &ffmpeg::codec::Parameters,
    codec: ffmpeg::Codec,
    max_pixels: Option<u64>,
) -> Result<ffmpeg::decoder::Video, Failure> {
    let mut context = ffmpeg::codec::context::Context::from_parameters(parameters.clone())
        .map_err(|e| failed(&e, "bad codec parameters"))?;
    context.set_threading(threading::Config {
        kind: threading::Type::Slice,
        count: 1,
        ..threading::Config::default()
    });
    let mut options = Dictionary::new();
    if let Some(max_pixels) = max_pixels {
        options.set("max_pixels", &max_pixels.to_string());
    }
    context
        .decoder()
        .open_as_with(codec, options)
        .and_then(|opened| opened.video())
        .map_err(|e| failed(&e, "cannot open the decoder"))
}

/// A failure from an FFmpeg error: out of memory is the worker's memory limit, anything
/// else a decode failure. FFmpeg's messages name the problem, never the content.
pub(crate) fn failed(error: &ffmpeg::Error, what: &str) -> Failure {
    match error {
        ffmpeg::Error::Other { errno: ENOMEM } => Failure::new(
            ReasonCode::VideoMemoryLimit,
            format!("{what}: out of memory"),
        ),
        e => Failure::new(ReasonCode::VideoDecodeFailed, format!("{what}: {e}")),
    }
}

/// Why decoding must stop at output frame `number` (`frame`, at `frame_rate`), if it must:
/// the same limits for hashing and rendering.
pub(crate) fn over_limits(
    limits: &JobLimits,
    number: u64,
    frame_rate: f64,
    frame: &frame::Video,
) -> Option<Failure> {
    if number >= limits.max_frames {
        return Some(Failure::new(
            ReasonCode::VideoTooManyFrames,
            format!("over video.max_frames ({})", limits.max_frames),
        ));
    }
    if frame_timestamp(number, frame_rate) > limits.max_duration_secs as f64 {
        return Some(Failure::new(
            ReasonCode::VideoTooLong,
            format!(
                "over video.max_duration_secs ({})",
                limits.max_duration_secs
            ),
        ));
    }
    let pixels = u64::from(frame.width()) * u64::from(frame.height());
    if pixels > limits.max_pixels_per_frame {
        return Some(Failure::new(
            ReasonCode::VideoTooLarge,
            format!(
                "a frame of {pixels} pixels; video.max_pixels_per_frame is {}",
                limits.max_pixels_per_frame
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan over frames with pts 0, 10, 20, … sampling every `interval`-th.
    fn plan(frames: usize, interval: u64) -> Sparse {
        Sparse {
            order: (0..frames as i64).map(|f| f * 10).collect(),
            sent: vec![Sent::Not; frames],
            interval,
            next: 0,
            broken: false,
        }
    }

    #[test]
    fn skipped_frames_keep_their_numbers_and_a_lost_one_breaks_the_plan() {
        // Decode order I0 P3 B1 B2 P6 B4 B5 (pts ÷ 10), every 3rd frame sampled.
        let mut sparse = plan(7, 3);
        assert_eq!(sparse.before_send(Some(0)), Discard::Default);
        assert_eq!(sparse.number(Some(0)), Some(0));
        assert_eq!(sparse.before_send(Some(30)), Discard::Default, "sampled");
        assert_eq!(sparse.before_send(Some(10)), Discard::NonReference);
        assert_eq!(sparse.before_send(Some(20)), Discard::NonReference);
        // B1 and B2 were dropped: P3 comes out as frame 3.
        assert_eq!(sparse.number(Some(30)), Some(3));
        assert_eq!(sparse.before_send(Some(60)), Discard::Default);
        assert_eq!(sparse.before_send(Some(40)), Discard::NonReference);
        assert_eq!(sparse.before_send(Some(50)), Discard::NonReference);
        assert_eq!(sparse.number(Some(40)), Some(4), "a referenced B comes out");
        assert_eq!(sparse.number(Some(60)), Some(6));
        assert!(sparse.finish() && !sparse.broken);

        // A frame sent whole that never comes out: the full decode numbers differently.
        let mut lost = plan(7, 3);
        lost.before_send(Some(0));
        lost.number(Some(0));
        lost.before_send(Some(30));
        lost.before_send(Some(60));
        assert_eq!(lost.number(Some(60)), None);
        assert!(lost.broken);

        // Out of order: a frame output before an earlier one was even sent.
        let mut early = plan(4, 3);
        early.before_send(Some(0));
        early.number(Some(0));
        early.before_send(Some(20));
        assert_eq!(early.number(Some(20)), None, "frame 1 not sent yet");

        // Frames before the first output are decoded whole (a keyframe may be missing).
        let mut start = plan(4, 3);
        assert_eq!(start.before_send(Some(10)), Discard::Default);
        assert_eq!(start.before_send(Some(0)), Discard::Default);
        assert_eq!(
            start.number(Some(10)),
            None,
            "frame 0 was sent whole, never came out"
        );

        // Frames after the last output must have been dropped on purpose; unknown pts and
        // repeated packets break the plan.
        let mut end = plan(3, 3);
        end.before_send(Some(0));
        end.number(Some(0));
        end.before_send(Some(10));
        assert!(!end.finish(), "frame 2 never sent");
        end.before_send(Some(10));
        assert!(end.broken, "a packet twice");
        let mut unknown = plan(3, 3);
        unknown.before_send(Some(5));
        assert!(unknown.broken);
    }
}
