use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use vigil_core::Algorithm;
use vigil_hash::{
    AttachmentHasher, AttachmentHashes, DecodeLimits, ExactAlgorithm, HashOptions, PdqResult,
    TrimOptions, VpdqFeature,
};
use vigil_video::{Failure, Forms, PoolSettings, VideoConfig, VideoHashes, VideoPool};

/// Arguments of `vigil hash`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Comma-separated algorithms: pdq, phash, dhash, ahash, md5, sha1, sha256, and vpdq
    /// (videos and animated images, decoded in a confined worker process).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "pdq,phash,dhash,ahash,md5,sha1,sha256",
        value_parser = str::parse::<Algorithm>
    )]
    algorithms: Vec<Algorithm>,
    /// Also print the 8 dihedral PDQ hashes (original, rot90, rot180, rot270, flipX, flipY,
    /// flip+1, flip-1), as the reference orders them.
    #[arg(long)]
    dihedral: bool,
    /// Do not hash the content inside uniform borders separately.
    #[arg(long)]
    no_trim: bool,
    /// Also print `pdq_queries`: every PDQ hash vigil's matching would query lists with
    /// (oriented rotations and mirrorings, trimmed forms) with its variant and quality.
    #[arg(long)]
    queries: bool,
    /// Smallest quality of a form of the image that --queries includes.
    #[arg(long, value_name = "Q", default_value_t = 0)]
    min_quality: u8,
    /// vPDQ: hash one frame every this many seconds (0: every frame)
    /// [default: video.seconds_per_hash, 1.0].
    #[arg(long, value_name = "S")]
    seconds_per_hash: Option<f64>,
    /// Take the decoding limits from this configuration file's [attachments] and [video] sections
    /// [default: $VIGIL_CONFIG, else ./vigil.toml if present, else built-in defaults].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Image files, or directories (every file inside, recursively, in name order).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
}

/// One output line. Field order is the documented one; absent hashes are omitted.
#[derive(Debug, Default, Serialize)]
struct Line<'a> {
    path: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_quality: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_dihedral: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_trimmed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_trimmed_quality: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_trimmed_box: Option<[usize; 4]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_trimmed_dihedral: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pdq_queries: Option<Vec<Query>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dhash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ahash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpdq: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    video: Option<VideoLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
}

/// What `"video"` says of a decoded video.
#[derive(Debug, Serialize)]
struct VideoLine {
    container: String,
    codec: String,
    width: u32,
    height: u32,
    frame_rate: f64,
    duration_s: Option<f64>,
    frames_decoded: u64,
    frames_hashed: usize,
}

#[derive(Debug, Serialize)]
struct Query {
    variant: String,
    pdq: String,
    quality: u8,
}

fn dihedral_hex(result: &PdqResult) -> Option<Vec<String>> {
    result
        .dihedral
        .map(|hashes| hashes.iter().map(|h| h.to_hex()).collect())
}

impl<'a> Line<'a> {
    fn new(path: &'a str, hashes: &AttachmentHashes, queries: Option<u8>) -> Line<'a> {
        let exact = |a| hashes.exact.get(a).map(|d| d.to_hex());
        let mut line = Line {
            path,
            md5: exact(ExactAlgorithm::Md5),
            sha1: exact(ExactAlgorithm::Sha1),
            sha256: exact(ExactAlgorithm::Sha256),
            ..Line::default()
        };
        match &hashes.image {
            None => {}
            Some(Err(e)) => {
                line.error = Some(e.reason());
                line.detail = Some(e.to_string());
            }
            Some(Ok(image)) => {
                line.format = Some(image.format);
                line.width = Some(image.width);
                line.height = Some(image.height);
                if let Some(pdq) = &image.pdq {
                    line.pdq = Some(pdq.hash.to_hex());
                    line.pdq_quality = Some(pdq.quality);
                    line.pdq_dihedral = dihedral_hex(pdq);
                }
                line.pdq_queries = queries.map(|min_quality| {
                    let queries = image.pdq_queries(min_quality).into_iter();
                    queries
                        .map(|q| Query {
                            variant: q.variant.unwrap_or_else(|| "original".into()),
                            pdq: q.hash.to_hex(),
                            quality: q.quality,
                        })
                        .collect()
                });
                if let Some((rect, pdq)) = image.pdq_trimmed.first() {
                    line.pdq_trimmed = Some(pdq.hash.to_hex());
                    line.pdq_trimmed_quality = Some(pdq.quality);
                    line.pdq_trimmed_box = Some([rect.x, rect.y, rect.width, rect.height]);
                    line.pdq_trimmed_dihedral = dihedral_hex(pdq);
                }
                line.phash = image.phash.map(|h| h.to_hex());
                line.dhash = image.dhash.map(|h| h.to_hex());
                line.ahash = image.ahash.map(|h| h.to_hex());
            }
        }
        line
    }
}

impl Line<'_> {
    /// Adds a video's vPDQ hash, or why it could not be had (a video that stopped early
    /// keeps its frames and names the reason).
    fn video(&mut self, result: Result<VideoHashes, Failure>) {
        let stopped = match result {
            Ok(hashes) => {
                let features = hashes.vpdq();
                self.vpdq = Some(features.iter().map(VpdqFeature::to_string).collect());
                self.video = Some(VideoLine {
                    container: hashes.info.container,
                    codec: hashes.info.codec,
                    width: hashes.info.width,
                    height: hashes.info.height,
                    frame_rate: hashes.info.frame_rate,
                    duration_s: hashes.info.duration_s,
                    frames_decoded: hashes.frames_decoded,
                    frames_hashed: features.len(),
                });
                hashes.stopped
            }
            Err(failure) => Some(failure),
        };
        if let Some(failure) = stopped {
            self.error.get_or_insert(failure.reason.as_str());
            self.detail.get_or_insert(failure.detail);
        }
    }
}

/// The video pool `vigil hash` uses: one worker at a time, this very binary.
fn video_pool(args: &Args, config: &VideoConfig) -> anyhow::Result<VideoPool> {
    let config = VideoConfig {
        seconds_per_hash: args.seconds_per_hash.unwrap_or(config.seconds_per_hash),
        ..config.clone()
    };
    anyhow::ensure!(
        config.seconds_per_hash.is_finite() && config.seconds_per_hash >= 0.0,
        "--seconds-per-hash must be 0 or more"
    );
    let forms = Forms {
        dihedral: args.dihedral || args.queries,
        trim: !args.no_trim,
    };
    Ok(VideoPool::new(
        crate::settings::video_worker()?,
        PoolSettings::new(&config, 1, forms),
    ))
}

/// `vigil hash`. Returns whether every file was hashed.
pub(crate) fn run(args: Args) -> anyhow::Result<bool> {
    let (limits, video) = match &args.config {
        Some(_) => {
            let config = crate::settings::load(args.config.as_deref())?;
            (vigil_scan::decode_limits(&config.attachments), config.video)
        }
        None => (DecodeLimits::DEFAULT, VideoConfig::default()),
    };
    let videos = args
        .algorithms
        .contains(&Algorithm::Vpdq)
        .then(|| video_pool(&args, &video))
        .transpose()?;
    let queries = args.queries.then_some(args.min_quality);
    let mut hasher = AttachmentHasher::new(HashOptions {
        algorithms: args.algorithms.clone(),
        dihedral: args.dihedral || args.queries,
        trim: (!args.no_trim).then(TrimOptions::default),
        limits,
    });
    let mut files = Vec::new();
    for path in &args.paths {
        collect(path, &mut files).with_context(|| format!("cannot list {}", path.display()))?;
    }
    let mut out = BufWriter::new(io::stdout().lock());
    let mut failed = 0usize;
    for path in &files {
        let name = path.to_string_lossy();
        let line = match read_limited(path, limits.max_input_bytes) {
            Ok(bytes) => {
                let hashes = hasher.hash(&bytes);
                let mut line = Line::new(&name, &hashes, queries);
                if !args.dihedral {
                    line.pdq_dihedral = None;
                    line.pdq_trimmed_dihedral = None;
                }
                if let Some(pool) = &videos {
                    line.video(pool.hash(&bytes));
                }
                serde_json::to_writer(&mut out, &line)?;
                line.error.is_some()
            }
            Err((reason, detail)) => {
                let line = Line {
                    path: &name,
                    error: Some(reason),
                    detail: Some(detail),
                    ..Line::default()
                };
                serde_json::to_writer(&mut out, &line)?;
                true
            }
        };
        failed += usize::from(line);
        out.write_all(b"\n")?;
    }
    out.flush()?;
    if failed > 0 {
        eprintln!(
            "vigil: {failed} of {} files could not be hashed",
            files.len()
        );
    }
    Ok(failed == 0)
}

/// Files under `path` in name order (the path itself if it is not a directory).
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    if !path.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    for entry in entries {
        collect(&entry, files)?;
    }
    Ok(())
}

/// Reads a file, refusing (without reading it) one larger than the decoding limit.
fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, (&'static str, String)> {
    let unreadable = |e: io::Error| ("unreadable", format!("cannot read: {}", e.kind()));
    let size = std::fs::metadata(path).map_err(unreadable)?.len();
    if size > limit {
        return Err((
            "image_too_large",
            format!("{size} bytes of image data, over the {limit}-byte decoding limit"),
        ));
    }
    std::fs::read(path).map_err(unreadable)
}
