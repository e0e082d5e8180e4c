use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use vigil_core::Algorithm;
use vigil_hash::{Family, VpdqFeature};
use vigil_index::HashList;
use vigil_lists::{
    Integrity, ListFile, ListInfo, Manifest, TrustedKey, default_manifest_path, sign_manifest,
    signature_path,
};
use vigil_lists::{ListFormat, ListSource, Thresholds};
use vigil_scan::config::MatchConfig;
use vigil_text::KeywordList;
use vigil_url::UrlList;

/// `vigil lists` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Check lists against their manifests and signatures; print each list's identity.
    ///
    /// Checks the configured lists (--config) and any LIST given, with the configured
    /// `lists.trusted_keys` and `lists.max_age_secs` plus any --key. Exits non-zero if any
    /// list is refused, naming the list and the reason code (docs/lists.md).
    Verify(Select),
    /// Print entry counts per list, algorithm and category; for listed videos (vPDQ) also
    /// their frames, and the frames matching compares (repeats and low quality dropped, by
    /// the list's `vpdq_min_quality`).
    Stats(Select),
    /// Convert a list (HMA lines, bare hashes, JSON lines, CSV) to vigil CSV; a URL list to
    /// CSV of hashed entries (`url_sha256`), which holds no URL in plaintext.
    Convert(Convert),
    /// Write a manifest for a list file and sign it with an ed25519 key (PEM, PKCS#8, as
    /// `openssl genpkey -algorithm ed25519 -out key.pem` writes it).
    ///
    /// Writes DATA.manifest.json and DATA.manifest.json.sig. The version defaults to the
    /// existing manifest's plus one (1 for a new list); name and source default to the
    /// existing manifest's.
    Sign(Sign),
    /// Disable one entry or rule everywhere without editing its list: its matches are not
    /// flagged but counted (vigil_matches_suppressed_total{reason="disabled"}) and reported
    /// in verdicts. Survives list reloads and new versions; `vigil run` applies it with
    /// `[containment] enabled = true`.
    ///
    /// Example: vigil lists disable ncmec-pdq e-1742 --reason "stock photo" --by alice --until 30d
    Disable(crate::overlay::Disable),
    /// Enable a disabled entry again.
    Enable(crate::overlay::Entry),
    /// Reinstate a quarantined entry: decisions and sightings so far stop counting, so its
    /// matches go to the main review queue again.
    Reinstate(crate::overlay::Entry),
    /// Print the disabled entries (who, why, until when) and the entries reviewers'
    /// decisions quarantine.
    Disabled(crate::overlay::Show),
}

/// How to read one list file given on the command line.
#[derive(Debug, clap::Args)]
pub(crate) struct Format {
    /// File format [default: by extension: .csv, .jsonl; else `bare` with --algorithm, else
    /// `hma`].
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<ListFormat>,
    /// Algorithm of a `bare` list.
    #[arg(long, value_name = "NAME")]
    algorithm: Option<String>,
    /// Category for formats without one [default: the list name].
    #[arg(long, value_name = "CATEGORY")]
    category: Option<String>,
    /// Skip and count malformed lines instead of refusing the list.
    #[arg(long)]
    lenient: bool,
}

impl Format {
    fn source(&self, path: PathBuf) -> ListSource {
        ListSource {
            format: self.format,
            algorithm: self.algorithm.clone(),
            category: self.category.clone(),
            lenient: Some(self.lenient),
            ..ListSource::from(path)
        }
    }
}

/// `CATEGORY=BITS`, as `--category-pdq-max-distance` takes it.
fn parse_category_distance(value: &str) -> Result<(String, u32), String> {
    let (category, bits) = value
        .rsplit_once('=')
        .ok_or_else(|| format!("`{value}` is not CATEGORY=BITS"))?;
    let bits = bits
        .parse()
        .map_err(|_| format!("`{bits}` is not a number of bits"))?;
    Ok((category.to_string(), bits))
}

pub(crate) fn parse_format(name: &str) -> Result<ListFormat, String> {
    match name {
        "csv" => Ok(ListFormat::Csv),
        "hma" => Ok(ListFormat::Hma),
        "bare" => Ok(ListFormat::Bare),
        "jsonl" => Ok(ListFormat::Jsonl),
        _ => Err(format!(
            "unknown format `{name}` (expected csv, hma, bare or jsonl)"
        )),
    }
}

/// Which lists to look at.
#[derive(Debug, clap::Args)]
pub(crate) struct Select {
    /// The configured lists of this file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// A trusted public key (PEM); repeatable. With any key, every list must be signed.
    #[arg(long = "key", value_name = "PUB")]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    format: Format,
    /// Hash-list files.
    #[arg(value_name = "LIST")]
    lists: Vec<PathBuf>,
}

/// Arguments of `vigil lists convert`.
#[derive(Debug, clap::Args)]
pub(crate) struct Convert {
    #[command(flatten)]
    format: Format,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The list to convert.
    #[arg(value_name = "LIST")]
    input: PathBuf,
}

/// Arguments of `vigil lists sign`.
#[derive(Debug, clap::Args)]
pub(crate) struct Sign {
    /// The private key (PEM, PKCS#8).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// List name [default: the existing manifest's, else the file stem].
    #[arg(long)]
    name: Option<String>,
    /// Publisher [default: the existing manifest's].
    #[arg(long)]
    source: Option<String>,
    /// Version number [default: the existing manifest's plus one, else 1].
    #[arg(long)]
    version: Option<u64>,
    /// The PDQ distance at which the list's entries match at most, written into the
    /// manifest: configuration can only tighten it [default: the existing manifest's].
    #[arg(long, value_name = "BITS")]
    pdq_max_distance: Option<u32>,
    /// The lowest PDQ quality matched against the list, in the manifest [default: the
    /// existing manifest's].
    #[arg(long, value_name = "QUALITY")]
    pdq_min_quality: Option<u8>,
    /// One category's PDQ distance, in the manifest (repeatable) [default: the existing
    /// manifest's].
    #[arg(long, value_name = "CATEGORY=BITS", value_parser = parse_category_distance)]
    category_pdq_max_distance: Vec<(String, u32)>,
    #[command(flatten)]
    format: Format,
    /// The list's data file (a keyword list is counted as one when its header has `term`).
    #[arg(value_name = "DATA")]
    data: PathBuf,
}

/// `vigil lists ...`; false if any list was refused.
pub(crate) fn run(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Verify(select) => verify(&select),
        Command::Stats(select) => stats(&select).map(|()| true),
        Command::Convert(convert) => self::convert(&convert).map(|()| true),
        Command::Sign(sign) => self::sign(&sign).map(|()| true),
        Command::Disable(args) => crate::overlay::disable(&args).map(|()| true),
        Command::Enable(args) => crate::overlay::enable(&args).map(|()| true),
        Command::Reinstate(args) => crate::overlay::reinstate(&args).map(|()| true),
        Command::Disabled(args) => crate::overlay::show(&args).map(|()| true),
    }
}

/// What a selected list lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hash,
    Keyword,
    Url,
}

/// The selected lists with their kinds, the integrity policy and the match settings.
type Selected = (Vec<(ListSource, Kind)>, Integrity, MatchConfig);

fn selection(select: &Select) -> anyhow::Result<Selected> {
    let config = match &select.config {
        Some(path) => crate::settings::load(Some(path))?,
        None => vigil_config::Config::default(),
    };
    let mut integrity = Integrity::from_config(&config.lists)?;
    for key in &select.keys {
        integrity.keys.push(TrustedKey::load(key)?);
    }
    let lists = &config.lists;
    let mut sources: Vec<(ListSource, Kind)> = [
        (&lists.hash_lists, Kind::Hash),
        (&lists.keyword_lists, Kind::Keyword),
        (&lists.url_lists, Kind::Url),
    ]
    .into_iter()
    .flat_map(|(sources, kind)| sources.iter().map(move |s| (s.clone(), kind)))
    .collect();
    sources.extend(select.lists.iter().map(|p| {
        let source = select.format.source(p.clone());
        let kind = match std::fs::read(p) {
            Ok(bytes) if source.format.is_none() => kind_of_file(p, &bytes),
            _ => Kind::Hash,
        };
        (source, kind)
    }));
    anyhow::ensure!(
        !sources.is_empty(),
        "no lists: give LIST files or --config FILE"
    );
    Ok((sources, integrity, config.matching))
}

/// What a list file given on the command line lists: keywords for a rule file (`.toml`) or a
/// CSV whose header names a `term` column; URLs for a CSV naming `url` or `url_sha256`, JSON
/// lines with those keys, or lines of one token that reads as a URL rather than a hex hash;
/// else hashes (HMA lines are `<type> <hash>`).
fn kind_of_file(path: &std::path::Path, bytes: &[u8]) -> Kind {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if extension == "toml" {
        return Kind::Keyword;
    }
    let first = bytes
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).trim().to_ascii_lowercase())
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap_or_default();
    let columns: Vec<&str> = first.split(',').map(str::trim).collect();
    if columns.contains(&"term") {
        return Kind::Keyword;
    }
    if columns.contains(&"url") || columns.contains(&"url_sha256") {
        return Kind::Url;
    }
    if extension == "jsonl" || extension == "ndjson" {
        let url_key = first.contains("\"url\"") || first.contains("\"url_sha256\"");
        return if url_key { Kind::Url } else { Kind::Hash };
    }
    // A URL list's line is one token (a URL has no spaces); an HMA line is `<type> <hash>`.
    let mut tokens = first.split_whitespace();
    let (token, more) = (tokens.next().unwrap_or(""), tokens.next().is_some());
    let url_like = !more
        && (token.contains('.') || token.contains('/'))
        && !token.chars().all(|c| c.is_ascii_hexdigit());
    if extension != "csv" && url_like {
        Kind::Url
    } else {
        Kind::Hash
    }
}

fn read(
    source: &ListSource,
    kind: Kind,
    integrity: &Integrity,
) -> Result<ListInfo, vigil_lists::ListError> {
    let now = time::OffsetDateTime::now_utc();
    match kind {
        Kind::Keyword => {
            KeywordList::from_file(ListFile::read(source, integrity, now)?).map(|l| l.info)
        }
        Kind::Url => {
            UrlList::from_file(source, ListFile::read(source, integrity, now)?).map(|l| l.info)
        }
        Kind::Hash => HashList::read(source, integrity, false, now).map(|l| l.info),
    }
}

fn verify(select: &Select) -> anyhow::Result<bool> {
    let (sources, integrity, _) = selection(select)?;
    let mut out = std::io::stdout().lock();
    let mut all_good = true;
    for (source, kind) in &sources {
        match read(source, *kind, &integrity) {
            Ok(info) => {
                write!(
                    out,
                    "ok      {} version {}: {} entries ({} lines skipped, {} deleted), sha256 {}",
                    info.name,
                    info.version,
                    info.entries,
                    info.skipped_lines,
                    info.deleted,
                    info.sha256
                )?;
                match &info.provenance {
                    Some(p) => writeln!(
                        out,
                        ", source {}, created {}, {}",
                        p.source,
                        p.created_at
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default(),
                        p.signed_by.as_ref().map_or(
                            "signature not checked (no trusted keys)".into(),
                            |k| format!("signed by {k}")
                        )
                    )?,
                    None => writeln!(out, ", no manifest")?,
                }
            }
            Err(error) => {
                all_good = false;
                writeln!(out, "REFUSED {}: {error}", source.path.display())?;
            }
        }
    }
    Ok(all_good)
}

fn stats(select: &Select) -> anyhow::Result<()> {
    let (sources, integrity, matching) = selection(select)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "list\tversion\talgorithm\tcategory\tentries\tframes\tkept_frames\tmax_distance\tmin_quality"
    )?;
    for (source, kind) in &sources {
        match kind {
            Kind::Keyword => {
                let info = read(source, *kind, &integrity)?;
                writeln!(
                    out,
                    "{}\t{}\tkeyword\t*\t{}\t-\t-\t-\t-",
                    info.name, info.version, info.entries
                )?;
                continue;
            }
            Kind::Url => {
                let now = time::OffsetDateTime::now_utc();
                let list = UrlList::from_file(source, ListFile::read(source, &integrity, now)?)?;
                let mut counts = std::collections::BTreeMap::new();
                for entry in list.entries() {
                    *counts.entry(entry.category.as_str()).or_insert(0usize) += 1;
                }
                for (category, n) in counts {
                    let (name, version) = (&list.info.name, &list.info.version);
                    writeln!(out, "{name}\t{version}\turl\t{category}\t{n}\t-\t-\t0\t-")?;
                }
                continue;
            }
            Kind::Hash => {}
        }
        let list = HashList::read(source, &integrity, false, time::OffsetDateTime::now_utc())?;
        let vpdq = matching.vpdq_thresholds(source);
        let min_quality = vpdq.min_quality;
        let limits = vigil_scan::HashLimits::new(&matching, [(source, &list.info)]);
        // (entries, frames, kept frames) per (algorithm, category).
        let mut counts = std::collections::BTreeMap::new();
        for entry in list.entries() {
            let count = counts
                .entry((entry.algorithm.as_str(), entry.category))
                .or_insert((0usize, 0usize, 0usize));
            count.0 += 1;
            count.1 += entry.frames.len();
            count.2 += vigil_index::kept_frames(entry.frames, min_quality).len();
        }
        for ((algorithm, category), (n, frames, kept)) in counts {
            let (frames, kept) = match algorithm == Algorithm::Vpdq.as_str() {
                true => (frames.to_string(), kept.to_string()),
                false => ("-".into(), "-".into()),
            };
            // What a match of these entries needs: the distance and quality in force.
            let (distance, quality) = match Algorithm::from_wire(algorithm) {
                Some(Algorithm::Pdq) => {
                    let global = (matching.pdq_max_distance, matching.pdq_min_quality);
                    let (d, q) = limits.effective(&list.info.name, category, global);
                    (d.to_string(), q.to_string())
                }
                Some(Algorithm::Vpdq) => {
                    (vpdq.max_distance.to_string(), vpdq.min_quality.to_string())
                }
                Some(Algorithm::Phash) => (
                    limits
                        .effective_family(
                            &list.info.name,
                            category,
                            Family::Phash,
                            matching.phash_max_distance,
                        )
                        .to_string(),
                    "-".into(),
                ),
                Some(Algorithm::Dhash) => (
                    limits
                        .effective_family(
                            &list.info.name,
                            category,
                            Family::Dhash,
                            matching.dhash_max_distance,
                        )
                        .to_string(),
                    "-".into(),
                ),
                Some(Algorithm::Ahash) => (
                    limits
                        .effective_family(
                            &list.info.name,
                            category,
                            Family::Ahash,
                            matching.ahash_max_distance,
                        )
                        .to_string(),
                    "-".into(),
                ),
                _ => ("0".into(), "-".into()),
            };
            writeln!(
                out,
                "{}\t{}\t{algorithm}\t{category}\t{n}\t{frames}\t{kept}\t{distance}\t{quality}",
                list.info.name, list.info.version
            )?;
        }
    }
    Ok(())
}

/// A URL list as CSV of hashed entries (`url_sha256,entry_id,category,severity`): the same
/// list, holding no URL in plaintext.
fn convert_urls(
    source: &ListSource,
    file: ListFile,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let list = UrlList::from_file(source, file)?;
    let sink: Box<dyn Write> = match output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(sink);
    writer.write_record(["url_sha256", "entry_id", "category", "severity"])?;
    for entry in list.entries() {
        let hash = hex::encode(entry.hash);
        writer.write_record([
            &hash,
            &entry.entry_id,
            &entry.category,
            entry.severity.as_str(),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

fn convert(args: &Convert) -> anyhow::Result<()> {
    let source = args.format.source(args.input.clone());
    let file = ListFile::read(
        &source,
        &Integrity::default(),
        time::OffsetDateTime::now_utc(),
    )?;
    if source.format.is_none() && kind_of_file(&args.input, file.bytes()) == Kind::Url {
        return convert_urls(&source, file, args.output.as_deref());
    }
    let list = HashList::from_file(&source, file, args.format.lenient)?;
    let mut extra: Vec<Arc<str>> = Vec::new();
    for (key, _) in list.entries().flat_map(|e| e.metadata) {
        if !extra.contains(key) {
            extra.push(key.clone());
        }
    }
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(sink);
    let mut header = vec!["algorithm", "hash", "entry_id", "category", "severity"];
    header.extend(extra.iter().map(|k| &**k));
    writer.write_record(&header)?;
    for entry in list.entries() {
        let hash = match entry.algorithm {
            Algorithm::Vpdq => VpdqFeature::list_to_json(entry.frames),
            _ => entry.value.to_hex(),
        };
        let mut row = vec![
            entry.algorithm.as_str(),
            &hash,
            &entry.entry_id,
            &entry.category,
            entry.severity.as_str(),
        ];
        for key in &extra {
            row.push(
                entry
                    .metadata
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or("", |(_, v)| v),
            );
        }
        writer.write_record(&row)?;
    }
    writer.flush()?;
    if list.info.skipped_lines > 0 {
        eprintln!("vigil: skipped {} malformed lines", list.info.skipped_lines);
    }
    Ok(())
}

fn sign(args: &Sign) -> anyhow::Result<()> {
    let manifest_path = default_manifest_path(&args.data);
    let previous: Option<Manifest> = match std::fs::read(&manifest_path) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a manifest", manifest_path.display()))?,
        ),
        Err(_) => None,
    };
    let source = args.format.source(args.data.clone());
    let bytes = std::fs::read(&args.data)
        .with_context(|| format!("cannot read {}", args.data.display()))?;
    let kind = match source.format {
        None => kind_of_file(&args.data, &bytes),
        Some(_) => Kind::Hash,
    };
    let file = ListFile::read_unchecked(&source, bytes);
    let info = match kind {
        Kind::Keyword => KeywordList::from_file(file)?.info,
        Kind::Url => UrlList::from_file(&source, file)?.info,
        Kind::Hash => HashList::from_file(&source, file, false)?.info,
    };
    let (entries, sha256) = (info.entries, info.sha256);
    let name = args
        .name
        .clone()
        .or_else(|| previous.as_ref().map(|m| m.name.clone()))
        .unwrap_or_else(|| ListInfo::name_from_path(&args.data));
    let publisher = args
        .source
        .clone()
        .or_else(|| previous.as_ref().map(|m| m.source.clone()))
        .context("--source is required for a list without a manifest")?;
    let version = args
        .version
        .unwrap_or_else(|| previous.as_ref().map_or(1, |m| m.version + 1));
    if let Some(previous) = &previous {
        anyhow::ensure!(
            version > previous.version,
            "version {version} is not above the existing manifest's {}",
            previous.version
        );
    }
    let mut thresholds = previous
        .as_ref()
        .and_then(|m| m.thresholds.clone())
        .unwrap_or_default();
    if args.pdq_max_distance.is_some() {
        thresholds.pdq_max_distance = args.pdq_max_distance;
    }
    if args.pdq_min_quality.is_some() {
        thresholds.pdq_min_quality = args.pdq_min_quality;
    }
    for (category, bits) in &args.category_pdq_max_distance {
        thresholds
            .categories
            .entry(category.clone())
            .or_default()
            .pdq_max_distance = Some(*bits);
    }
    let manifest = Manifest {
        name,
        source: publisher,
        version,
        created_at: time::OffsetDateTime::now_utc(),
        entries: entries as u64,
        sha256,
        thresholds: (thresholds != Thresholds::default()).then_some(thresholds),
    };
    let bytes = manifest.to_bytes();
    let signature = sign_manifest(&args.key, &bytes)?;
    std::fs::write(&manifest_path, &bytes)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    let signature_file = signature_path(&manifest_path);
    std::fs::write(&signature_file, signature)
        .with_context(|| format!("cannot write {}", signature_file.display()))?;
    writeln!(
        std::io::stdout().lock(),
        "signed {} version {} ({} entries): {} and {}",
        manifest.name,
        manifest.version,
        manifest.entries,
        manifest_path.display(),
        signature_file.display()
    )?;
    Ok(())
}
