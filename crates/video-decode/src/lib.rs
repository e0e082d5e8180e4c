//! The video worker: the process `vigil video-worker` runs, one per video.
//!
//! It reads one [`vigil_video::Job`] and the video's bytes from stdin, puts the bytes in a
//! memory file, limits its own address space, CPU time, file size and descriptors, installs
//! a seccomp filter (no network, no new processes or threads, no writing to the file
//! system), and only then lets FFmpeg's demuxers and decoders read the video. It samples
//! frames as Meta's vPDQ reference does, hashes them (the reference's PDQ and the extra
//! query forms) and writes [`vigil_video::Event`] lines to stdout. It never writes pixels,
//! except for a render job (the review console's contact sheet): a few thumbnails of the
//! frames asked for, at most 320 pixels a side. FFmpeg's own log is silenced (it can quote
//! metadata).
//!
//! [`hash_video`] is the decoding loop itself, for tests and benchmarks that run it in
//! process on trusted files; production always goes through [`serve`] in a worker.
//!
//! ```no_run
//! use std::io::{stdin, stdout};
//!
//! // The whole of a worker's main.
//! std::process::exit(vigil_video_decode::serve(stdin().lock(), stdout().lock()));
//! ```

mod decode;
mod frames;
mod render;
mod sandbox;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use rustix::fs::MemfdFlags;
use vigil_core::ReasonCode;
use vigil_video::protocol::{Event, Failure, read_job, write_event};

pub use decode::hash_video;

/// The largest video a worker accepts (the scanner's `attachments.max_bytes` is far below).
const MAX_VIDEO_BYTES: u64 = 4 << 30;

/// Serves one job from `input`, writing events to `output`; returns the process exit code
/// (0 when the events were written, whatever they say).
pub fn serve(mut input: impl BufRead, mut output: impl Write) -> i32 {
    let (job, video) = match read_job(&mut input, MAX_VIDEO_BYTES) {
        Ok(read) => read,
        Err(_) => return 2,
    };
    let emit_failure = |output: &mut dyn Write, detail: String| {
        let failure = Failure::new(ReasonCode::VideoWorkerCrashed, detail);
        i32::from(write_event(output, &Event::Failed(failure)).is_err())
    };
    let path = match memory_file(&video) {
        Ok(path) => path,
        Err(e) => return emit_failure(&mut output, format!("cannot hold the video: {e}")),
    };
    drop(video);
    if let Err(e) = sandbox::limit(&job.limits) {
        return emit_failure(&mut output, e);
    }
    // Where the kernel has no seccomp the limits above still hold; the summary says so.
    let seccomp = sandbox::seccomp().is_ok();
    let emit = |event: &Event| match event {
        Event::Done(summary) => {
            let mut summary = summary.clone();
            summary.seccomp = seccomp;
            write_event(&mut output, &Event::Done(summary))
        }
        event => write_event(&mut output, event),
    };
    let written = match &job.render {
        Some(render) => render::render_frames(&path, &job, render, emit),
        None => hash_video(&path, &job, emit),
    };
    i32::from(written.is_err())
}

/// The video in an anonymous memory file, and the path FFmpeg opens it by.
fn memory_file(video: &[u8]) -> std::io::Result<PathBuf> {
    let fd = rustix::fs::memfd_create("vigil-video", MemfdFlags::empty())?;
    let mut file = std::fs::File::from(fd);
    file.write_all(video)?;
    let path = PathBuf::from(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&file)
    ));
    // Kept open for the life of the process: the path names this descriptor.
    std::mem::forget(file);
    Ok(path)
}
