use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use vigil_core::Algorithm;
use vigil_hash::{Digest, ExactAlgorithm, Family, Hash64, PdqHash, VpdqFeature};
use vigil_index::{
    ExactIndex, HashEntry, HashList, NearIndex, VpdqIndex, VpdqMatch, VpdqThresholds,
};
use vigil_lists::ListInfo;
use vigil_scan::config::MatchConfig;

/// Arguments of `vigil match`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A hash list (any format of docs/lists.md, chosen by extension: .csv, .jsonl, else HMA
    /// lines, unless --list-format says). Repeatable; added to the configured lists.
    #[arg(long = "list", value_name = "FILE")]
    lists: Vec<PathBuf>,
    /// Format of the --list files: csv, jsonl, hma or bare.
    #[arg(long, value_name = "FORMAT", value_parser = crate::lists::parse_format)]
    list_format: Option<vigil_lists::ListFormat>,
    /// Algorithm of bare --list files.
    #[arg(long, value_name = "NAME")]
    list_algorithm: Option<String>,
    /// Category of the entries of HMA and bare --list files [default: the list's name].
    #[arg(long, value_name = "CATEGORY")]
    list_category: Option<String>,
    /// Use the hash lists (and match settings) of this configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Largest Hamming distance that matches [default: match.pdq_max_distance (31) for PDQ,
    /// match.<family>_max_distance (8) for pHash, dHash, aHash].
    #[arg(long, value_name = "N")]
    max_distance: Option<u32>,
    /// The algorithm of bare hex input lines; `vpdq` matches videos: each input line is a
    /// `vigil hash` JSON line with a `vpdq` list, or such a list alone, and is matched
    /// against the listed videos with each list's `vpdq_*` thresholds (`match.vpdq_*` by
    /// default; --max-distance overrides the frame distance).
    #[arg(long, value_name = "NAME", default_value = "pdq", value_parser = str::parse::<Algorithm>)]
    algorithm: Algorithm,
    /// Input: hex hashes or `vigil hash` JSON lines, one per line ("-" or absent: stdin).
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct Line<'a> {
    query: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    matches: Vec<MatchOut<'a>>,
}

#[derive(Debug, Serialize)]
struct MatchOut<'a> {
    list: &'a str,
    list_version: &'a str,
    entry_id: String,
    category: &'a str,
    algorithm: &'static str,
    distance: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    metadata: serde_json::Map<String, Value>,
}

impl<'a> MatchOut<'a> {
    fn new(list: &'a ListInfo, entry: HashEntry<'a>, distance: u32) -> Self {
        MatchOut {
            list: &list.name,
            list_version: &list.version,
            entry_id: entry.entry_id.into_owned(),
            category: entry.category,
            algorithm: entry.algorithm.as_str(),
            distance,
            variant: None,
            metadata: entry
                .metadata
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
        }
    }
}

struct Matcher {
    exact: ExactIndex,
    near: NearIndex,
    radius: MatchConfig,
}

/// One thing to look up: a hash of an algorithm, with the variant it came from.
struct Query {
    algorithm: Algorithm,
    hex: String,
    variant: Option<String>,
}

impl Matcher {
    fn radius(&self, algorithm: Algorithm, explicit: Option<u32>) -> u32 {
        explicit.unwrap_or(match algorithm {
            Algorithm::Phash => self.radius.phash_max_distance,
            Algorithm::Dhash => self.radius.dhash_max_distance,
            Algorithm::Ahash => self.radius.ahash_max_distance,
            _ => self.radius.pdq_max_distance,
        })
    }

    /// Every entry matching any query; for PDQ, each entry once with its best variant.
    fn find(&self, queries: &[Query], explicit: Option<u32>) -> Result<Vec<MatchOut<'_>>, String> {
        let mut out = Vec::new();
        let mut pdq = Vec::new();
        for query in queries {
            let bad = |e: &dyn std::fmt::Display| format!("not a {} hash: {e}", query.algorithm);
            if let Ok(exact) = ExactAlgorithm::try_from(query.algorithm) {
                let digest = Digest::from_hex(exact, &query.hex).map_err(|e| bad(&e))?;
                out.extend(
                    self.exact
                        .lookup(exact, &digest)
                        .map(|h| MatchOut::new(h.list, h.entry, 0)),
                );
            } else if let Ok(family) = Family::try_from(query.algorithm) {
                let hash = Hash64::from_hex(&query.hex).map_err(|e| bad(&e))?;
                let radius = self.radius(query.algorithm, explicit);
                out.extend(
                    self.near
                        .near_bits64(family, hash, radius)
                        .into_iter()
                        .map(|h| MatchOut::new(h.list, h.entry, h.distance)),
                );
            } else {
                pdq.push((
                    PdqHash::from_hex(&query.hex).map_err(|e| bad(&e))?,
                    &query.variant,
                ));
            }
        }
        if !pdq.is_empty() {
            let hashes: Vec<PdqHash> = pdq.iter().map(|(h, _)| *h).collect();
            let radius = self.radius(Algorithm::Pdq, explicit);
            out.extend(
                self.near
                    .near_pdq(&hashes, radius)
                    .into_iter()
                    .map(|h| MatchOut {
                        variant: pdq[h.query].1.clone(),
                        ..MatchOut::new(h.list, h.entry, h.distance)
                    }),
            );
        }
        Ok(out)
    }
}

/// The queries of one input line, its `query` text and path.
fn parse_line(
    line: &str,
    algorithm: Algorithm,
) -> Result<(String, Option<String>, Vec<Query>), String> {
    if !line.starts_with('{') {
        let query = Query {
            algorithm,
            hex: line.to_string(),
            variant: None,
        };
        return Ok((line.to_string(), None, vec![query]));
    }
    let value: serde_json::Map<String, Value> =
        serde_json::from_str(line).map_err(|e| format!("not a hex hash nor a JSON object: {e}"))?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let mut queries = Vec::new();
    match value.get("pdq_queries").and_then(Value::as_array) {
        Some(forms) => {
            for form in forms {
                let hex = form
                    .get("pdq")
                    .and_then(Value::as_str)
                    .ok_or("pdq_queries: entry without `pdq`")?;
                let variant = form
                    .get("variant")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                queries.push(Query {
                    algorithm: Algorithm::Pdq,
                    hex: hex.into(),
                    variant,
                });
            }
        }
        None => {
            if let Some(hex) = text("pdq") {
                queries.push(Query {
                    algorithm: Algorithm::Pdq,
                    hex,
                    variant: None,
                });
            }
        }
    }
    for algorithm in Algorithm::ALL.into_iter().filter(|&a| a != Algorithm::Pdq) {
        if let Some(hex) = text(algorithm.as_str()) {
            queries.push(Query {
                algorithm,
                hex,
                variant: None,
            });
        }
    }
    let query = queries
        .first()
        .map(|q| q.hex.clone())
        .ok_or("no hash fields (pdq, phash, dhash, ahash, md5, sha1, sha256)")?;
    Ok((query, text("path"), queries))
}

/// The output line of one video.
#[derive(Debug, Serialize)]
struct VideoLine<'a> {
    /// The input's `path`, else its line number.
    query: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    matches: Vec<VideoMatchOut<'a>>,
}

#[derive(Debug, Serialize)]
struct VideoMatchOut<'a> {
    list: &'a str,
    list_version: &'a str,
    entry_id: String,
    category: &'a str,
    query_match_percent: f64,
    compared_match_percent: f64,
    best_distance: u32,
    segments: Vec<SegmentOut>,
}

/// A matched stretch of the query video, and the listed video's frames it matched.
#[derive(Debug, Serialize)]
struct SegmentOut {
    start_s: f64,
    end_s: f64,
    listed_start_s: f64,
    listed_end_s: f64,
}

impl<'a> From<VpdqMatch<'a>> for VideoMatchOut<'a> {
    fn from(m: VpdqMatch<'a>) -> Self {
        VideoMatchOut {
            list: &m.list.name,
            list_version: &m.list.version,
            entry_id: m.entry.entry_id.into_owned(),
            category: m.entry.category,
            query_match_percent: m.query_match_percent,
            compared_match_percent: m.compared_match_percent,
            best_distance: m.best_distance,
            segments: m
                .segments
                .iter()
                .map(|s| SegmentOut {
                    start_s: s.start_s,
                    end_s: s.end_s,
                    listed_start_s: s.listed_start_s,
                    listed_end_s: s.listed_end_s,
                })
                .collect(),
        }
    }
}

/// A video's frames from an input line (a `vigil hash` object's `vpdq`, or the list alone),
/// and its `path`.
fn parse_video(line: &str) -> Result<(Vec<VpdqFeature>, Option<String>), String> {
    if line.starts_with('[') {
        return Ok((
            VpdqFeature::list_from_json(line).map_err(|e| e.to_string())?,
            None,
        ));
    }
    let value: serde_json::Map<String, Value> = serde_json::from_str(line)
        .map_err(|e| format!("not a vPDQ list nor a JSON object: {e}"))?;
    let frames = value.get("vpdq").ok_or("no `vpdq` field")?;
    let frames =
        VpdqFeature::list_from_json(&frames.to_string()).map_err(|e| format!("field vpdq: {e}"))?;
    let path = value
        .get("path")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok((frames, path))
}

/// `vigil match --algorithm vpdq`: each input line's video against the listed videos.
fn run_video(
    input: Box<dyn BufRead>,
    index: &VpdqIndex,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut all_good = true;
    for (number, line) in input.lines().enumerate() {
        let line = line.context("cannot read the input")?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let record = match parse_video(line) {
            Ok((frames, path)) => VideoLine {
                query: path.map_or_else(|| Value::from(number + 1), Value::from),
                error: None,
                matches: index.lookup(&frames).into_iter().map(Into::into).collect(),
            },
            Err(error) => {
                all_good = false;
                VideoLine {
                    query: Value::from(number + 1),
                    error: Some(error),
                    matches: Vec::new(),
                }
            }
        };
        serde_json::to_writer(&mut *out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(all_good)
}

/// `vigil match`; false if any input line was bad.
pub(crate) fn run(args: Args) -> anyhow::Result<bool> {
    let config = match &args.config {
        Some(path) => crate::settings::load(Some(path))?,
        None => vigil_config::Config::default(),
    };
    let mut sources = config.lists.hash_lists.clone();
    sources.extend(args.lists.iter().map(|path| vigil_lists::ListSource {
        format: args.list_format,
        algorithm: args.list_algorithm.clone(),
        category: args.list_category.clone(),
        ..vigil_lists::ListSource::from(path.clone())
    }));
    anyhow::ensure!(
        !sources.is_empty(),
        "no lists: give --list FILE or --config FILE"
    );
    let integrity = vigil_lists::Integrity::from_config(&config.lists)?;
    let now = time::OffsetDateTime::now_utc();
    let lists = sources
        .iter()
        .map(|s| HashList::read(s, &integrity, config.lists.lenient, now).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let input: Box<dyn BufRead> = match &args.input {
        None => Box::new(io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(io::stdin().lock()),
        Some(p) => Box::new(io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
    };
    let mut out = BufWriter::new(io::stdout().lock());
    if args.algorithm == Algorithm::Vpdq {
        let thresholds = sources.iter().map(|source| VpdqThresholds {
            max_distance: args
                .max_distance
                .unwrap_or(config.matching.vpdq_thresholds(source).max_distance),
            ..config.matching.vpdq_thresholds(source)
        });
        let index = VpdqIndex::build(lists.into_iter().zip(thresholds));
        return run_video(input, &index, &mut out);
    }
    let matcher = Matcher {
        exact: ExactIndex::build(lists.iter().cloned()),
        near: NearIndex::build(lists),
        radius: config.matching,
    };
    let mut all_good = true;
    for line in input.lines() {
        let line = line.context("cannot read the input")?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let result = parse_line(line, args.algorithm).and_then(|(query, path, queries)| {
            Ok((query, path, matcher.find(&queries, args.max_distance)?))
        });
        let record = match result {
            Ok((query, path, matches)) => Line {
                query,
                path,
                error: None,
                matches,
            },
            Err(error) => {
                all_good = false;
                Line {
                    query: line.chars().take(200).collect(),
                    path: None,
                    error: Some(error),
                    matches: Vec::new(),
                }
            }
        };
        serde_json::to_writer(&mut out, &record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(all_good)
}
