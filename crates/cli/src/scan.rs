use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use time::OffsetDateTime;
use vigil_core::Source;
use vigil_scan::{BoundedLines, Pipeline, Record};

/// Arguments of `vigil scan`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Configuration file [default: $VIGIL_CONFIG, else ./vigil.toml if present].
    #[arg(long, value_name = "FILE", env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Also load this hash list (CSV: algorithm,hash,entry_id,category). Repeatable.
    #[arg(long = "hash-list", value_name = "FILE")]
    hash_lists: Vec<PathBuf>,
    /// Also load this keyword list (CSV: rule_id,term,category[,whole_word,severity]).
    /// Repeatable.
    #[arg(long = "keywords", value_name = "FILE")]
    keyword_lists: Vec<PathBuf>,
    /// Write error records here instead of standard error.
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Messages, one JSON object per line; `-` for standard input.
    #[arg(value_name = "INPUT", default_value = "-")]
    input: String,
}

#[derive(Debug, Default)]
struct Summary {
    records: u64,
    scanned: u64,
    flagged: u64,
    errors: u64,
    suppressed: u64,
}

/// `vigil scan`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut config = crate::settings::load(args.config.as_deref())?;
    config
        .lists
        .hash_lists
        .extend(args.hash_lists.into_iter().map(Into::into));
    config
        .lists
        .keyword_lists
        .extend(args.keyword_lists.into_iter().map(Into::into));
    let pipeline = Pipeline::from_config(&crate::settings::scan_config(&config)?)?;
    if pipeline.lists().is_empty() {
        eprintln!("vigil: warning: no lists configured; nothing can match");
    }
    let streaming = args.input == "-";
    let input: Box<dyn BufRead> = if streaming {
        Box::new(io::stdin().lock())
    } else {
        let file =
            File::open(&args.input).with_context(|| format!("cannot open input {}", args.input))?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let mut errors: Box<dyn Write> = match &args.errors {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(io::stderr().lock()),
    };
    let mut flags = BufWriter::new(io::stdout().lock());
    let file_name = if streaming {
        "-".to_string()
    } else {
        args.input.clone()
    };
    let mut summary = Summary::default();
    let result = scan_all(
        &pipeline,
        input,
        &file_name,
        streaming,
        &mut flags,
        &mut errors,
        &mut summary,
    )
    .and_then(|()| flags.flush())
    .and_then(|()| errors.flush());
    drop(errors);
    // Suppressed matches are never silent; the count appears once there are any.
    let suppressed = match summary.suppressed {
        0 => String::new(),
        n => format!(" suppressed={n}"),
    };
    eprintln!(
        "vigil scan: records={} scanned={} flagged={} errors={}{suppressed}",
        summary.records, summary.scanned, summary.flagged, summary.errors
    );
    match result {
        // A closed pipe (`vigil scan ... | head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("scan failed"),
    }
}

fn scan_all(
    pipeline: &Pipeline,
    input: impl BufRead,
    file_name: &str,
    streaming: bool,
    flags: &mut impl Write,
    errors: &mut impl Write,
    summary: &mut Summary,
) -> io::Result<()> {
    for item in BoundedLines::new(input, pipeline.max_message_bytes()) {
        let (line, record) = item?;
        let source = Source::File {
            file: file_name.to_string(),
            line,
        };
        let now = OffsetDateTime::now_utc();
        let outcome = match record {
            Record::Line(bytes) => pipeline.process(&bytes, source, now),
            Record::TooLarge(size) => pipeline.too_large(size, source, now),
        };
        summary.records += 1;
        summary.scanned += u64::from(outcome.scanned);
        summary.suppressed += outcome.suppressed.len() as u64;
        if let Some(flag) = &outcome.flag {
            summary.flagged += 1;
            serde_json::to_writer(&mut *flags, flag)?;
            flags.write_all(b"\n")?;
            if streaming {
                flags.flush()?;
            }
        }
        for error in &outcome.errors {
            summary.errors += 1;
            serde_json::to_writer(&mut *errors, error)?;
            errors.write_all(b"\n")?;
        }
    }
    Ok(())
}
