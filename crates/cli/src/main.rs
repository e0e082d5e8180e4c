//! `vigil`: the command-line entry point. Thin by design: argument parsing and I/O wiring;
//! the work happens in the library crates (see docs/architecture.md).

mod audit;
mod check;
mod dlq;
mod hash;
mod lists;
mod matching;
mod overlay;
mod review;
mod run;
mod scan;
mod settings;
mod urls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// vigil scans direct messages for known child-abuse imagery (hash lists) and grooming
/// language (keyword lists), and writes a flag for every message that matches, for human
/// review.
///
/// Messages are JSON objects, one per line (see docs/schemas/message.md). Configuration is a
/// TOML file (see docs/config.md), found from --config, then $VIGIL_CONFIG, then ./vigil.toml;
/// any key can be overridden with an environment variable VIGIL_<SECTION>__<KEY>.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan messages from a JSON-lines file or standard input; print flags as JSON lines.
    ///
    /// Flags (docs/schemas/flag.md) go to standard output, one per flagged message. Error
    /// records (docs/schemas/error-record.md) for input that could not be scanned go to
    /// standard error, or to --errors FILE; they never contain message content. A one-line
    /// summary ends standard error. Exit status is 0 whenever the scan ran, even if some
    /// records were bad; non-zero only for usage or configuration errors.
    ///
    /// Example: vigil scan --config examples/vigil.toml examples/dms.jsonl
    Scan(scan::Args),
    /// Consume messages from Kafka, scan them, and produce flags to the review topics.
    ///
    /// Joins the consumer group `kafka.group_id` on `kafka.input_topics`; writes flags to
    /// `kafka.review_topic` (or the topic of the first matching [[routes]] entry),
    /// unscannable records to `kafka.dead_letter_topic`, and one verdict per record to
    /// `kafka.verdict_topic` if set. Serves /healthz, /readyz, /metrics and /lists on
    /// `admin.listen`. SIGTERM or SIGINT drains in-flight records, commits and exits within
    /// `kafka.shutdown_timeout_secs` (a second signal exits at once). Log level: $VIGIL_LOG
    /// (default info); --log-format json for one JSON object per line.
    Run(run::Args),
    /// Hash image files: PDQ (with quality, dihedral variants and a border-trimmed hash),
    /// pHash, dHash, aHash, MD5, SHA-1, SHA-256.
    ///
    /// Prints one JSON object per file, in input order (docs/detection.md describes every
    /// field and hex encoding). Exact digests are computed from the raw bytes before
    /// decoding, so they are printed even for files that cannot be decoded; such a file gets
    /// an `error` reason code and `detail`, processing continues, and the exit status is 1 at
    /// the end.
    ///
    /// Example: vigil hash --dihedral tests/fixtures/images/
    Hash(hash::Args),
    /// Match hashes against hash lists: one JSON line of matches per input line.
    ///
    /// Input lines are hex hashes (of --algorithm) or the JSON lines `vigil hash` prints
    /// (every hash in them is looked up; with `pdq_queries`, every rotation and trimmed
    /// form). Output, in input order: {"query": HEX, "matches": [{"list", "list_version",
    /// "entry_id", "category", "algorithm", "distance", ...}]}. A bad line gets an "error"
    /// and the exit status is 1 at the end.
    ///
    /// Example: vigil hash --queries photo.jpg | vigil match --list lists/ncmec.txt
    Match(matching::Args),
    /// Show the links found in text: canonical form, lookup expressions, URL-list matches.
    ///
    /// Prints one JSON line per input line: {"line", "urls": [{"start", "end", "written",
    /// "canonical", "disguised", "expressions", "matches": [{"list", "list_version",
    /// "entry_id", "category", "expression"}]}]}. A tool for list curators checking an entry
    /// or a disguise (docs/lists.md#url-lists); it prints the URLs it reads.
    ///
    /// Example: echo 'see hxxps://bad.example[.]com/x' | vigil urls --list lists/urls.txt
    Urls(urls::Args),
    /// Verify, inspect, convert and sign lists; disable and reinstate entries.
    #[command(subcommand)]
    Lists(lists::Command),
    /// Work with configuration files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Report from the verdict topic what was scanned, flagged (per list version and
    /// category) and dead-lettered, and whether every input offset has a verdict.
    ///
    /// Reads only verdicts, which never carry content. Text by default, --format json for
    /// tools (docs/auditing.md describes every field). With --strict, exits 1 if an input
    /// offset lacks a verdict.
    ///
    /// Example: vigil audit --config vigil.toml --since 24h
    Audit(audit::Args),
    /// Work with the dead-letter topic.
    #[command(subcommand)]
    Dlq(dlq::Command),
    /// The review console for safety teams: the review queue in the browser, decisions,
    /// the access audit.
    #[command(subcommand)]
    Review(review::Command),
    /// Decode and hash one video from standard input, confined (internal: the scanner
    /// starts one per video; see docs/video.md).
    #[command(hide = true)]
    VideoWorker,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file: parse it, apply VIGIL_* overrides, load and compile
    /// every list. Prints what would be in force; exits non-zero naming the bad key or line.
    Check {
        /// The TOML configuration file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Run(args) => run::run(args),
        Command::Hash(args) => match hash::run(args) {
            Ok(false) => return ExitCode::from(1),
            other => other.map(|_| ()),
        },
        Command::Match(args) => match matching::run(args) {
            Ok(false) => return ExitCode::from(1),
            other => other.map(|_| ()),
        },
        Command::Lists(command) => match lists::run(command) {
            Ok(false) => return ExitCode::from(1),
            other => other.map(|_| ()),
        },
        Command::Urls(args) => urls::run(args),
        Command::Config(ConfigCommand::Check { file }) => check::run(&file),
        Command::Audit(args) => match audit::run(args) {
            Ok(false) => return ExitCode::from(1),
            other => other.map(|_| ()),
        },
        Command::Dlq(command) => dlq::run(command),
        Command::Review(command) => match review::run(command) {
            Ok(false) => return ExitCode::from(1),
            other => other.map(|_| ()),
        },
        Command::VideoWorker => {
            let code = vigil_video_decode::serve(std::io::stdin().lock(), std::io::stdout().lock());
            return ExitCode::from(u8::try_from(code).unwrap_or(1));
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vigil: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// A panic message can quote the data being processed (a string slice error prints the
/// string), so only the location is ever printed.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".into());
        eprintln!(
            "vigil: internal error at {location} (details withheld: they may quote message content)"
        );
    }));
}
