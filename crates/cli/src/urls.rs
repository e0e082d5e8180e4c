//! `vigil urls`: what the URL detector sees in each line of text — the links found, their
//! canonical form, the expressions looked up and the list entries they match. A tool for list
//! curators checking an entry or a disguise; it prints the URLs it is given.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use vigil_lists::{Integrity, ListFile, ListSource};
use vigil_url::{Extractor, UrlIndex, UrlList, expression_hash};

/// Arguments of `vigil urls`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A URL list (one URL, folder or domain per line; or .csv / .jsonl with `url` or
    /// `url_sha256`). Repeatable; added to the configured `lists.url_lists`.
    #[arg(long = "list", value_name = "FILE")]
    lists: Vec<PathBuf>,
    /// Use the URL lists of this configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Input text, one message per line ("-" or absent: stdin).
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Line {
    line: usize,
    urls: Vec<Found>,
}

#[derive(Debug, Serialize)]
struct Found {
    /// Characters `start..end` of the line.
    start: usize,
    end: usize,
    written: String,
    canonical: String,
    disguised: bool,
    expressions: Vec<String>,
    matches: Vec<Hit>,
}

#[derive(Debug, Serialize)]
struct Hit {
    list: String,
    list_version: String,
    entry_id: String,
    category: String,
    expression: String,
}

/// `vigil urls`.
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut sources: Vec<ListSource> = match &args.config {
        Some(path) => crate::settings::load(Some(path))?.lists.url_lists,
        None => Vec::new(),
    };
    sources.extend(args.lists.iter().cloned().map(ListSource::from));
    let integrity = Integrity::default();
    let now = time::OffsetDateTime::now_utc();
    let lists = sources
        .iter()
        .map(|source| {
            let file = ListFile::read(source, &integrity, now)?;
            Ok(Arc::new(UrlList::from_file(source, file)?))
        })
        .collect::<Result<Vec<_>, vigil_lists::ListError>>()?;
    let index = UrlIndex::build(lists);
    let extractor = Extractor::new();
    let reader: Box<dyn BufRead> = match args.input.as_deref() {
        None => Box::new(io::stdin().lock()),
        Some(path) if path.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(path) => Box::new(io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    for (i, line) in reader.lines().enumerate() {
        let text = line.context("cannot read the input")?;
        let chars: Vec<char> = text.chars().collect();
        let urls = extractor
            .extract(&text)
            .into_iter()
            .map(|found| {
                let expressions = found.url.expressions();
                let matches = expressions
                    .iter()
                    .flat_map(|expression| {
                        index.lookup(expression_hash(expression)).map(|hit| Hit {
                            list: hit.list.name.clone(),
                            list_version: hit.list.version.clone(),
                            entry_id: hit.entry.entry_id.clone(),
                            category: hit.entry.category.clone(),
                            expression: expression.clone(),
                        })
                    })
                    .collect();
                Found {
                    start: found.span.start,
                    end: found.span.end,
                    written: chars[found.span.start..found.span.end].iter().collect(),
                    canonical: found.url.as_url(),
                    disguised: found.disguised,
                    expressions,
                    matches,
                }
            })
            .collect();
        serde_json::to_writer(&mut out, &Line { line: i + 1, urls })?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
