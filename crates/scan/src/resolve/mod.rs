mod beneath;

use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use crate::config::AttachmentsConfig;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use vigil_core::{AttachmentBody, MediaType, Message, ReasonCode};

use crate::Problem;
use beneath::{Root, open_beneath};

/// An attachment whose bytes are in hand.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedAttachment {
    /// The attachment's id in its message.
    pub attachment_id: String,
    /// The declared media type, if vigil knows it.
    pub media_type: Option<MediaType>,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for ResolvedAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedAttachment")
            .field("attachment_id", &self.attachment_id)
            .field("media_type", &self.media_type)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .finish()
    }
}

/// Turns attachment bodies into bytes: base64 `data` inline, `file://` URIs beneath the
/// configured roots. Enforces the size limit of one attachment and the count and byte budget
/// of one message before reading or allocating.
#[derive(Debug, Clone)]
pub struct Resolver {
    max_bytes: u64,
    max_count: usize,
    max_total_bytes: u64,
    roots: Vec<Root>,
}

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl Resolver {
    /// A resolver with the limits of `config`, fetching `file://` URIs beneath
    /// `config.file_roots`. Each root must be a directory; it is opened now, so neither a
    /// symlink nor a rename can later widen it.
    pub fn new(config: &AttachmentsConfig) -> Result<Resolver, (PathBuf, std::io::Error)> {
        let roots = config
            .file_roots
            .iter()
            .map(|root| Root::open(root).map_err(|e| (root.clone(), e)))
            .collect::<Result<_, _>>()?;
        Ok(Resolver {
            max_bytes: config.max_bytes,
            max_count: usize::try_from(config.max_attachments_per_message).unwrap_or(usize::MAX),
            max_total_bytes: config.max_total_bytes_per_message,
            roots,
        })
    }

    /// Resolves the attachments of `message`, in order, within its budget. Attachments that
    /// fail are left out and reported as problems, one each; those past the count limit are
    /// not read and reported in one problem naming the first. An unknown media type is
    /// reported but its bytes are still returned, so exact hashes are checked whatever the
    /// label says.
    pub fn resolve(&self, message: &Message) -> (Vec<ResolvedAttachment>, Vec<Problem>) {
        let mut resolved = Vec::new();
        let mut problems = Vec::new();
        let count = message.attachments.len().min(self.max_count);
        let (within, over) = message.attachments.split_at(count);
        let mut left = self.max_total_bytes;
        for attachment in within {
            let id = &attachment.attachment_id;
            let problem = |reason, detail: String| Problem {
                reason,
                attachment_id: Some(id.clone()),
                detail,
            };
            let bytes = match &attachment.body {
                AttachmentBody::Data(data) => self.decode(data, left),
                AttachmentBody::Uri(uri) => self.fetch(uri, left),
            };
            let bytes = match bytes {
                Ok(bytes) => bytes,
                Err((reason, detail)) => {
                    problems.push(problem(reason, detail));
                    continue;
                }
            };
            left = left.saturating_sub(bytes.len() as u64);
            let media_type = MediaType::parse(&attachment.media_type);
            if media_type.is_none() {
                problems.push(problem(
                    ReasonCode::UnsupportedMediaType,
                    format!(
                        "media type {} is not one vigil knows; only exact hashes were checked",
                        describe_media_type(&attachment.media_type)
                    ),
                ));
            }
            resolved.push(ResolvedAttachment {
                attachment_id: id.clone(),
                media_type,
                bytes,
            });
        }
        if let Some(first) = over.first() {
            problems.push(Problem {
                reason: ReasonCode::TooManyAttachments,
                attachment_id: Some(first.attachment_id.clone()),
                detail: format!(
                    "{} of the message's {} attachments, from attachments[{count}] on, were not \
                     read: attachments.max_attachments_per_message = {}",
                    over.len(),
                    message.attachments.len(),
                    self.max_count
                ),
            });
        }
        (resolved, problems)
    }

    /// Refuses an attachment of `size` bytes when it is over the limit for one attachment,
    /// or over the `left` bytes of its message's budget.
    fn admit(&self, size: u64, left: u64) -> Result<(), (ReasonCode, String)> {
        if size > self.max_bytes {
            return Err((
                ReasonCode::AttachmentTooLarge,
                format!(
                    "{size} bytes exceeds attachments.max_bytes = {}",
                    self.max_bytes
                ),
            ));
        }
        if size > left {
            return Err((
                ReasonCode::AttachmentBudgetExceeded,
                format!(
                    "{size} bytes exceeds the {left} bytes the message has left of \
                     attachments.max_total_bytes_per_message = {}",
                    self.max_total_bytes
                ),
            ));
        }
        Ok(())
    }

    fn decode(&self, data: &str, left: u64) -> Result<Vec<u8>, (ReasonCode, String)> {
        // Checked on the encoded length first so an oversized attachment is never decoded.
        self.admit((data.len() as u64 / 4) * 3, left)?;
        let bytes = BASE64.decode(data).map_err(|e| {
            let detail = match e {
                base64::DecodeError::InvalidByte(offset, _) => {
                    format!("invalid base64 character at offset {offset}")
                }
                base64::DecodeError::InvalidLength(len) => {
                    format!("invalid base64 length ({len} symbols)")
                }
                base64::DecodeError::InvalidLastSymbol { offset, .. } => {
                    format!("invalid last base64 symbol at offset {offset}")
                }
                base64::DecodeError::InvalidPadding => "invalid base64 padding".to_string(),
            };
            (ReasonCode::InvalidBase64, detail)
        })?;
        self.admit(bytes.len() as u64, left)?;
        Ok(bytes)
    }

    fn fetch(&self, uri: &str, left: u64) -> Result<Vec<u8>, (ReasonCode, String)> {
        let not_allowed = |why: &str| (ReasonCode::UriNotAllowed, why.to_string());
        let scheme = uri_scheme(uri).ok_or_else(|| not_allowed("the uri has no scheme"))?;
        if !scheme.eq_ignore_ascii_case("file") {
            return Err((
                ReasonCode::UnsupportedUriScheme,
                format!("scheme `{scheme}` is not fetched (only file:// is)"),
            ));
        }
        if self.roots.is_empty() {
            return Err(not_allowed(
                "file:// attachments are disabled (attachments.file_roots is empty)",
            ));
        }
        let path = file_uri_path(uri).ok_or_else(|| not_allowed("malformed file:// uri"))?;
        // Decided from the path alone, before any file system call, so that whether a file
        // outside the roots exists never shows in the outcome.
        let (root, relative) = self.beneath(&path).map_err(not_allowed)?;
        let file = std::fs::File::from(open_beneath(root.dir.as_fd(), relative)?);
        let unreadable = |e: std::io::Error| {
            (
                ReasonCode::AttachmentUnreadable,
                format!("cannot read the file: {}", e.kind()),
            )
        };
        let metadata = file.metadata().map_err(unreadable)?;
        if !metadata.is_file() {
            return Err(not_allowed("not a regular file"));
        }
        self.admit(metadata.len(), left)?;
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        file.take(self.max_bytes.min(left) + 1)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        self.admit(bytes.len() as u64, left)?;
        Ok(bytes)
    }

    /// The root `path` lies beneath and the path relative to it, judged from the names
    /// alone; `..` is refused wherever it appears.
    fn beneath<'a>(&'a self, path: &'a Path) -> Result<(&'a Root, &'a Path), &'static str> {
        if path.components().any(|c| c == Component::ParentDir) {
            return Err("the path has a `..` component");
        }
        let (root, relative) = self
            .roots
            .iter()
            .find_map(|root| {
                let relative = root
                    .prefixes
                    .iter()
                    .find_map(|p| path.strip_prefix(p).ok())?;
                Some((root, relative))
            })
            .ok_or("the file is outside attachments.file_roots")?;
        if relative.as_os_str().is_empty() {
            return Err("not a regular file");
        }
        Ok((root, relative))
    }
}

/// The scheme of `uri` if it has a syntactically valid one (RFC 3986: ALPHA *( ALPHA / DIGIT /
/// "+" / "-" / "." )), at most 32 characters so it is safe to quote.
fn uri_scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && scheme.len() <= 32;
    valid.then_some(scheme)
}

/// The local path of a `file://` URI (`file:///p` or `file://localhost/p`), percent-decoded.
fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let rest = &uri[uri.find("://")? + 3..];
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    let mut bytes = Vec::with_capacity(path.len());
    let mut input = path.bytes();
    while let Some(b) = input.next() {
        if b == b'%' {
            let hex = [input.next()?, input.next()?];
            let value = u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?;
            bytes.push(value);
        } else {
            bytes.push(b);
        }
    }
    let path = String::from_utf8(bytes).ok()?;
    if path.contains('\0') {
        return None;
    }
    Some(Path::new(&path).to_path_buf())
}

/// A media type quoted only if it looks like one (`type/subtype` of token characters, short);
/// a client could put anything in that field.
/// `value` as error details may show it: the sender chose it, so only a registered top-level
/// type is named (`image/...`); the subtype could carry anything.
fn describe_media_type(value: &str) -> String {
    const TOP_LEVEL: [&str; 11] = [
        "application",
        "audio",
        "example",
        "font",
        "haptics",
        "image",
        "message",
        "model",
        "multipart",
        "text",
        "video",
    ];
    match value.split_once('/') {
        Some((kind, _)) => match TOP_LEVEL.iter().find(|t| t.eq_ignore_ascii_case(kind)) {
            Some(top) => format!("`{top}/...` (subtype withheld)"),
            None => "of an unregistered type (withheld)".to_string(),
        },
        None => "(not a media type)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use rustix::fs::{FileType, Mode, OFlags};

    use super::beneath::{OpenError, open_walking};
    use super::*;

    fn message(attachments: &str) -> Message {
        let json = format!(
            r#"{{"message_id":"m","conversation_id":"c","sender_id":"s","recipient_ids":["r"],
                "sent_at":"2026-01-01T00:00:00Z","attachments":[{attachments}]}}"#
        );
        Message::parse(json.as_bytes()).unwrap()
    }

    fn resolve(resolver: &Resolver, attachments: &str) -> (Vec<ResolvedAttachment>, Vec<Problem>) {
        resolver.resolve(&message(attachments))
    }

    /// A resolver with `max_bytes` per attachment, the default message budget, and `roots`.
    fn resolver(max_bytes: u64, roots: &[PathBuf]) -> Resolver {
        Resolver::new(&AttachmentsConfig {
            max_bytes,
            file_roots: roots.to_vec(),
            ..AttachmentsConfig::default()
        })
        .unwrap()
    }

    /// `n` attachments `<prefix>0`, `<prefix>1`, … with the same `body` (JSON members).
    fn repeated(prefix: &str, n: usize, body: &str) -> String {
        (0..n)
            .map(|i| {
                format!(r#"{{"attachment_id":"{prefix}{i}","media_type":"video/mp4",{body}}}"#)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A directory with a root holding `ok.bin`, `sub/inner.bin` and symlinks that lead out
    /// of it or around in it, and `outside/outside.bin` beside the root.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(root.join("ok.bin"), b"listed bytes").unwrap();
        std::fs::write(root.join("sub/inner.bin"), b"inner").unwrap();
        std::fs::write(outside.join("outside.bin"), b"x").unwrap();
        let link = |target: &Path, name: &str| std::os::unix::fs::symlink(target, root.join(name));
        link(&outside.join("outside.bin"), "escape.bin").unwrap();
        link(&outside, "dirlink").unwrap();
        link(&root.join("ok.bin"), "alias.bin").unwrap();
        link(Path::new("../ok.bin"), "sub/relative.bin").unwrap();
        link(Path::new("sub"), "sublink").unwrap();
        (dir, root)
    }

    fn uri(path: &Path) -> String {
        format!(
            r#"{{"attachment_id":"a","media_type":"image/png","uri":"file://{}"}}"#,
            path.display()
        )
    }

    /// The reason and detail of the single problem resolving `path` gives.
    fn refusal(resolver: &Resolver, path: &Path) -> (ReasonCode, String) {
        let (ok, problems) = resolve(resolver, &uri(path));
        assert!(ok.is_empty(), "{}", path.display());
        assert_eq!(problems.len(), 1, "{}: {problems:?}", path.display());
        (problems[0].reason, problems[0].detail.clone())
    }

    #[test]
    fn paths_outside_the_roots_get_one_answer_whether_or_not_they_exist() {
        let (dir, root) = tree();
        let resolver = resolver(32, std::slice::from_ref(&root));
        let outside = dir.path().join("outside");
        let expected = (
            ReasonCode::UriNotAllowed,
            "the file is outside attachments.file_roots".to_string(),
        );
        for (existing, missing) in [
            (outside.join("outside.bin"), outside.join("missing.bin")),
            (PathBuf::from("/etc/passwd"), PathBuf::from("/nonexistent")),
            (dir.path().to_path_buf(), dir.path().join("nonexistent/x")),
        ] {
            assert!(existing.exists() && !missing.exists());
            assert_eq!(
                refusal(&resolver, &existing),
                expected,
                "{}",
                existing.display()
            );
            assert_eq!(
                refusal(&resolver, &missing),
                expected,
                "{}",
                missing.display()
            );
        }
        // Escapes are judged before any lookup too: by name (`..`), or at the symlink.
        for (existing, missing, reason) in [
            (
                root.join("../outside/outside.bin"),
                root.join("../outside/missing.bin"),
                ReasonCode::UriNotAllowed,
            ),
            (
                root.join("dirlink/outside.bin"),
                root.join("dirlink/missing.bin"),
                ReasonCode::UriNotAllowed,
            ),
        ] {
            let got = refusal(&resolver, &existing);
            assert_eq!(got.0, reason, "{}", existing.display());
            assert_eq!(refusal(&resolver, &missing), got, "{}", missing.display());
        }
    }

    #[test]
    fn no_symlink_beneath_a_root_is_followed_and_the_walk_agrees_with_openat2() {
        let (_dir, root) = tree();
        let resolver = resolver(32, std::slice::from_ref(&root));
        let dir = rustix::fs::open(&root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let kind = |result: Result<OwnedFd, OpenError>| match result {
            Ok(_) => "opened",
            Err(OpenError::Link) => "link",
            Err(OpenError::NotFound) => "not found",
            Err(OpenError::Io(e)) => panic!("{e}"),
        };
        let table = [
            ("ok.bin", "opened"),
            ("sub/inner.bin", "opened"),
            ("./sub/./inner.bin", "opened"),
            // Out of the root, or around inside it: a link is a link either way.
            ("escape.bin", "link"),
            ("dirlink/outside.bin", "link"),
            ("alias.bin", "link"),
            ("sub/relative.bin", "link"),
            ("sublink/inner.bin", "link"),
            ("missing.bin", "not found"),
            ("ok.bin/x", "not found"),
        ];
        for (relative, expected) in table {
            let path = Path::new(relative);
            assert_eq!(
                kind(open_beneath(dir.as_fd(), path)),
                expected,
                "{relative}"
            );
            assert_eq!(
                kind(open_walking(dir.as_fd(), path)),
                expected,
                "walk: {relative}"
            );
            let (ok, problems) = resolve(&resolver, &uri(&root.join(relative)));
            let reason = problems.first().map(|p| p.reason);
            let want = match expected {
                "opened" => None,
                "link" => Some(ReasonCode::UriNotAllowed),
                _ => Some(ReasonCode::AttachmentNotFound),
            };
            assert_eq!(reason, want, "{relative}: {problems:?}");
            assert_eq!(ok.len(), usize::from(want.is_none()), "{relative}");
        }
    }

    #[test]
    fn a_root_configured_through_a_symlink_may_be_named_either_way() {
        let (dir, root) = tree();
        let configured = dir.path().join("media");
        std::os::unix::fs::symlink(&root, &configured).unwrap();
        let resolver = resolver(32, std::slice::from_ref(&configured));
        for base in [&configured, &root] {
            let (ok, problems) = resolve(&resolver, &uri(&base.join("sub/inner.bin")));
            assert!(problems.is_empty(), "{}: {problems:?}", base.display());
            assert_eq!(ok[0].bytes, b"inner");
        }
    }

    #[test]
    fn a_fifo_beneath_a_root_is_refused_without_blocking() {
        let (_dir, root) = tree();
        let fifo = root.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
        let resolver = resolver(32, std::slice::from_ref(&root));
        assert_eq!(
            refusal(&resolver, &fifo),
            (ReasonCode::UriNotAllowed, "not a regular file".to_string())
        );
    }

    #[test]
    fn one_file_referenced_many_times_stops_at_the_message_budget() {
        let (_dir, root) = tree();
        std::fs::write(root.join("100.bin"), [7u8; 100]).unwrap();
        let resolver = Resolver::new(&AttachmentsConfig {
            max_bytes: 100,
            max_total_bytes_per_message: 350,
            file_roots: vec![root.clone()],
            ..AttachmentsConfig::default()
        })
        .unwrap();
        let file = format!(r#""uri":"file://{}""#, root.join("100.bin").display());
        // Ten references to the file, then 40 bytes inline: these still fit in what is left.
        let inline = r#"{"attachment_id":"small","media_type":"video/mp4","data":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
        let (ok, problems) = resolve(&resolver, &format!("{},{inline}", repeated("a", 10, &file)));
        let ids: Vec<&str> = ok.iter().map(|a| a.attachment_id.as_str()).collect();
        assert_eq!(ids, ["a0", "a1", "a2", "small"]);
        assert_eq!(ok[3].bytes.len(), 39);
        assert_eq!(problems.len(), 7, "{problems:?}");
        for (i, problem) in problems.iter().enumerate() {
            assert_eq!(problem.reason, ReasonCode::AttachmentBudgetExceeded);
            assert_eq!(
                problem.attachment_id.as_deref(),
                Some(format!("a{}", i + 3).as_str())
            );
            assert_eq!(
                problem.detail,
                "100 bytes exceeds the 50 bytes the message has left of \
                 attachments.max_total_bytes_per_message = 350"
            );
        }
        // A single attachment over its own limit is that, not a budget matter.
        let (_, problems) = resolve(
            &resolver,
            &format!(
                r#"{{"attachment_id":"a","media_type":"image/png","data":"{}"}}"#,
                "A".repeat(200)
            ),
        );
        assert_eq!(problems[0].reason, ReasonCode::AttachmentTooLarge);
    }

    #[test]
    fn attachments_past_the_count_limit_are_not_read_and_are_reported_once() {
        let (_dir, root) = tree();
        let resolver = Resolver::new(&AttachmentsConfig {
            max_attachments_per_message: 3,
            file_roots: vec![root.clone()],
            ..AttachmentsConfig::default()
        })
        .unwrap();
        // Reading any attachment past the third would report the missing file.
        let missing = format!(r#""uri":"file://{}""#, root.join("missing.bin").display());
        let attachments = format!(
            "{},{}",
            repeated("a", 3, r#""data":"aGk=""#),
            repeated("b", 5, &missing)
        );
        let (ok, problems) = resolve(&resolver, &attachments);
        assert_eq!(ok.len(), 3);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].reason, ReasonCode::TooManyAttachments);
        assert_eq!(problems[0].attachment_id.as_deref(), Some("b0"));
        assert_eq!(
            problems[0].detail,
            "5 of the message's 8 attachments, from attachments[3] on, were not read: \
             attachments.max_attachments_per_message = 3"
        );
    }

    #[test]
    fn inline_data_decodes_with_or_without_padding() {
        let resolver = resolver(16, &[]);
        let (ok, problems) = resolve(
            &resolver,
            r#"{"attachment_id":"a","media_type":"image/png","data":"aGk="},
               {"attachment_id":"b","media_type":"image/png","data":"aGk"}"#,
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(ok[0].bytes, b"hi");
        assert_eq!(ok[1].bytes, b"hi");
        assert_eq!(ok[0].media_type, Some(MediaType::Png));
    }

    #[test]
    fn each_bad_attachment_gets_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("ok.bin"), b"listed bytes").unwrap();
        std::fs::write(root.join("big.bin"), vec![0u8; 64]).unwrap();
        std::fs::write(dir.path().join("outside.bin"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.bin"), root.join("escape.bin"))
            .unwrap();
        let resolver = resolver(32, std::slice::from_ref(&root));
        let uri = |name: &str| format!("file://{}", root.join(name).display());
        let table = [
            (
                r#""data":"!!!!""#.to_string(),
                Some(ReasonCode::InvalidBase64),
            ),
            (
                format!(r#""data":"{}""#, "A".repeat(100)),
                Some(ReasonCode::AttachmentTooLarge),
            ),
            (
                r#""uri":"https://cdn.example/x.jpg""#.into(),
                Some(ReasonCode::UnsupportedUriScheme),
            ),
            (
                r#""uri":"no scheme here""#.into(),
                Some(ReasonCode::UriNotAllowed),
            ),
            (format!(r#""uri":"{}""#, uri("ok.bin")), None),
            (
                format!(r#""uri":"{}""#, uri("ok.bin").replace("ok", "%6Fk")),
                None,
            ),
            (
                format!(r#""uri":"{}""#, uri("missing.bin")),
                Some(ReasonCode::AttachmentNotFound),
            ),
            (
                format!(r#""uri":"{}""#, uri("big.bin")),
                Some(ReasonCode::AttachmentTooLarge),
            ),
            (
                format!(r#""uri":"{}""#, uri("escape.bin")),
                Some(ReasonCode::UriNotAllowed),
            ),
            (
                format!(r#""uri":"{}""#, uri("../outside.bin")),
                Some(ReasonCode::UriNotAllowed),
            ),
            (
                r#""uri":"file:relative/path""#.into(),
                Some(ReasonCode::UriNotAllowed),
            ),
        ];
        for (body, expected) in table {
            let json = format!(r#"{{"attachment_id":"a","media_type":"image/jpeg",{body}}}"#);
            let (ok, problems) = resolve(&resolver, &json);
            let got = problems.first().map(|p| p.reason);
            assert_eq!(got, expected, "{body}: {problems:?}");
            match expected {
                None => assert_eq!(ok[0].bytes, b"listed bytes"),
                Some(_) => assert!(ok.is_empty(), "{body}"),
            }
        }
    }

    #[test]
    fn file_uris_are_refused_without_roots() {
        let resolver = resolver(32, &[]);
        let (_, problems) = resolve(
            &resolver,
            r#"{"attachment_id":"a","media_type":"image/png","uri":"file:///etc/hostname"}"#,
        );
        assert_eq!(problems[0].reason, ReasonCode::UriNotAllowed);
        assert!(problems[0].detail.contains("disabled"));
    }

    #[test]
    fn unknown_media_type_keeps_bytes_and_reports() {
        let resolver = resolver(32, &[]);
        let (ok, problems) = resolve(
            &resolver,
            r#"{"attachment_id":"a","media_type":"application/x-thing","data":"aGk="},
               {"attachment_id":"b","media_type":"keep this secret","data":"aGk="}"#,
        );
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].media_type, None);
        assert!(
            problems
                .iter()
                .all(|p| p.reason == ReasonCode::UnsupportedMediaType)
        );
        assert!(problems[0].detail.contains("`application/...`"));
        assert!(!problems[0].detail.contains("x-thing"));
        assert!(
            !problems[1].detail.contains("secret"),
            "{}",
            problems[1].detail
        );
    }

    #[test]
    fn error_details_name_only_the_registered_top_level_media_type() {
        assert_eq!(
            describe_media_type("image/x-secret"),
            "`image/...` (subtype withheld)"
        );
        assert_eq!(
            describe_media_type("VIDEO/mp5"),
            "`video/...` (subtype withheld)"
        );
        assert_eq!(
            describe_media_type("x/hello"),
            "of an unregistered type (withheld)"
        );
        assert_eq!(describe_media_type("hello there"), "(not a media type)");
    }
}
