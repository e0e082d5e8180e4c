//! Helpers shared by the integration tests: run the real binary, load the JSON Schemas.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `vigil` command with a clean environment: no inherited VIGIL_* variables, run in `cwd`.
pub fn vigil(cwd: &Path) -> Command {
    vigil_via(cwd, &[])
}

/// [`vigil`] started through `wrapper`, a command that runs the one after it (e.g.
/// `["prlimit", "--data=N"]`); none when empty.
pub fn vigil_via(cwd: &Path, wrapper: &[&str]) -> Command {
    let binary = env!("CARGO_BIN_EXE_vigil");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("VIGIL_") {
            command.env_remove(key);
        }
    }
    command
}

/// Writes `kw.csv` into `dir`: a keyword list of one rule, with no manifest or signature.
pub fn unsigned_keyword_list(dir: &Path) {
    std::fs::write(
        dir.join("kw.csv"),
        "rule_id,term,category\nk1,home alone,grooming.isolation\n",
    )
    .unwrap();
}

/// Runs `command` feeding `stdin`.
pub fn run(command: &mut Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil binary runs");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// Runs `command` feeding `stdin`, and fails the test with its stderr unless it succeeded.
pub fn run_ok(command: &mut Command, stdin: &[u8]) -> Output {
    let output = run(command, stdin);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The `(entry_id, distance)` of each match in a JSON array of hash matches, sorted.
pub fn entry_distances(matches: &Value) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = matches
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["entry_id"].as_str().unwrap().to_string(),
                m["distance"].as_u64().unwrap(),
            )
        })
        .collect();
    found.sort();
    found
}

/// Parses JSON lines.
pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A validator for `docs/schemas/<name>.schema.json`, checking formats too.
pub fn schema(name: &str) -> jsonschema::Validator {
    let path = root()
        .join("docs/schemas")
        .join(format!("{name}.schema.json"));
    let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts `instance` is valid against `validator`, listing every violation.
pub fn assert_valid(validator: &jsonschema::Validator, instance: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{instance:#}");
}

/// PNG's chunk checksum (CRC-32, reflected, polynomial 0xEDB88320).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// A PNG chunk.
pub fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut checked = kind.to_vec();
    checked.extend_from_slice(data);
    out.extend_from_slice(&crc32(&checked).to_be_bytes());
    out
}

/// Zlib of `rows` rows of `row_bytes` zero bytes each, streamed (never all in memory).
pub fn zeros_zlib(rows: usize, row_bytes: usize) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    let row = vec![0u8; row_bytes];
    for _ in 0..rows {
        encoder.write_all(&row).unwrap();
    }
    encoder.finish().unwrap()
}

/// An RGB PNG of zeros, `width` × `height`, with `extra` chunks before the pixels.
pub fn png(width: u32, height: u32, extra: &[u8]) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let pixels = zeros_zlib(height as usize, 1 + 3 * width as usize);
    [
        b"\x89PNG\r\n\x1a\n".to_vec(),
        chunk(b"IHDR", &ihdr),
        extra.to_vec(),
        chunk(b"IDAT", &pixels),
        chunk(b"IEND", &[]),
    ]
    .concat()
}

/// Encodes `seconds` of the ffmpeg lavfi graph `source` into `dir/name` (the container from
/// the extension) with `extra` output options, single-threaded so the bytes are the same
/// every run.
pub fn encode_clip(dir: &Path, name: &str, source: &str, seconds: f64, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-t",
        ])
        .arg(seconds.to_string())
        .args(extra)
        .args(["-threads", "1"])
        .arg(&path)
        .status()
        .expect("ffmpeg (Debian's ffmpeg package) is needed to make test clips");
    assert!(status.success(), "ffmpeg failed making {name}");
    path
}

/// Peak resident memory of a video worker on the small clips of the video tests (FFmpeg, one
/// 320×240 RGB frame, PDQ scratch, the binary itself).
pub const WORKER_MEMORY_BOUND_BYTES: u64 = 256 * 1024 * 1024;

/// A pool of two real, confined video workers (`vigil video-worker`) under `config`.
pub fn video_pool(config: vigil_video::VideoConfig) -> vigil_video::VideoPool {
    let command = vigil_video::WorkerCommand::vigil(env!("CARGO_BIN_EXE_vigil").into());
    let settings = vigil_video::PoolSettings::new(&config, 2, vigil_video::Forms::default());
    vigil_video::VideoPool::new(command, settings)
}

/// `len` bytes of seeded noise (xorshift), the same every run.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// `clip` with bytes flipped every 97 through its middle half: corrupt packets, intact
/// headers.
pub fn corrupt_middle(clip: &[u8]) -> Vec<u8> {
    let mut corrupt = clip.to_vec();
    for i in (clip.len() / 4..clip.len() * 3 / 4).step_by(97) {
        corrupt[i] ^= 0x5a;
    }
    corrupt
}

/// A one-frame GIF declaring a 65535 × 65535 screen (17 GB of pixels).
pub fn huge_screen_gif() -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00]);
    gif.extend_from_slice(&[0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0]);
    gif.extend_from_slice(&[0x02, 0x02, 0x44, 0x01, 0x00, 0x3b]);
    gif
}

/// An MP4 whose index claims ten hours: every duration of `clip` (mvhd, mdhd, version 0)
/// rewritten.
pub fn ten_hour_claim(mut clip: Vec<u8>) -> Vec<u8> {
    for atom in [&b"mvhd"[..], b"mdhd"] {
        let at = clip.windows(4).position(|w| w == atom).unwrap();
        let timescale = u32::from_be_bytes(clip[at + 16..at + 20].try_into().unwrap());
        clip[at + 20..at + 24].copy_from_slice(&(timescale * 36_000).to_be_bytes());
    }
    clip
}

/// Runs `openssl ARGS` in `dir` (keys and certificates for the signature and TLS tests),
/// failing the test with openssl's message if it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
