//! The FFmpeg loop, as Meta's vPDQ reference runs it: the first video stream, decoded frame
//! by frame; every `floor(seconds_per_hash × frame_rate)`-th output frame converted to RGB24
//! at the stream's size with `SWS_AREA` and hashed. Where the reference is silent or
//! undefined (limits, a frame whose size changed), the loop stops or converts sanely.

use std::io;
use std::path::Path;

use ffmpeg::codec::threading;
use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::util::error::{EAGAIN, ENOMEM};
use ffmpeg::{Dictionary, Packet, Rational, frame, media};
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
            let summary = decoding.run(job, &mut emit)?;
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

/// An opened stream, ready to decode (rendering opens it the same way: `render.rs`).
pub(crate) struct Decoding {
    pub(crate) input: ffmpeg::format::context::Input,
    pub(crate) stream: usize,
    pub(crate) decoder: ffmpeg::decoder::Video,
    pub(crate) info: VideoInfo,
    pub(crate) frame_rate: f64,
}

impl Decoding {
    pub(crate) fn open(path: &Path, job: &Job) -> Result<Decoding, Failure> {
        ffmpeg::init().map_err(|e| failed(&e, "cannot start FFmpeg"))?;
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
        let mut options = Dictionary::new();
        options.set("format_whitelist", DEMUXERS);
        let input = ffmpeg::format::input_with_dictionary(path, options)
            .map_err(|e| failed(&e, "cannot read the container"))?;
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
            decoder,
            info,
            frame_rate,
        })
    }

    fn run(
        &mut self,
        job: &Job,
        emit: &mut impl FnMut(&Event) -> io::Result<()>,
    ) -> io::Result<Summary> {
        let mut state = State {
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
        Ok(Summary {
            frames_decoded: state.frames_decoded,
            frames_hashed: state.frames_hashed,
            stopped,
            peak_rss_bytes: crate::sandbox::peak_rss_bytes(),
            seccomp: false,
        })
    }
}

/// What the frame loop carries.
struct State {
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
            let number = self.frames_decoded;
            self.frames_decoded += 1;
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
        let limits = &self.limits;
        if number >= limits.max_frames {
            return Some(Failure::new(
                ReasonCode::VideoTooManyFrames,
                format!("over video.max_frames ({})", limits.max_frames),
            ));
        }
        if frame_timestamp(number, self.frame_rate) > limits.max_duration_secs as f64 {
            return Some(Failure::new(
                ReasonCode::VideoTooLong,
                format!(
                    "over video.max_duration_secs ({})",
                    limits.max_duration_secs
                ),
            ));
        }
        let pixels = u64::from(self.decoded.width()) * u64::from(self.decoded.height());
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

    /// The decoded frame as RGB24 at the stream's size, with the reference's `SWS_AREA`.
    fn convert(&mut self) -> Result<(), ffmpeg::Error> {
        let frame = &self.decoded;
        let fits = |s: &scaling::Context| {
            s.input().format == frame.format()
                && s.input().width == frame.width()
                && s.input().height == frame.height()
        };
        if !self.scaler.as_ref().is_some_and(fits) {
            self.scaler = Some(scaling::Context::get(
                frame.format(),
                frame.width(),
                frame.height(),
                Pixel::RGB24,
                self.width,
                self.height,
                scaling::Flags::AREA,
            )?);
        }
        match self.scaler.as_mut() {
            Some(scaler) => scaler.run(frame, &mut self.rgb),
            None => Err(ffmpeg::Error::Bug),
        }
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
