use std::io::Write;
use std::path::Path;

use vigil_scan::{ListKind, Pipeline};

/// `vigil config check FILE`.
pub(crate) fn run(file: &Path) -> anyhow::Result<()> {
    let config = crate::settings::load(Some(file))?;
    let pipeline = Pipeline::from_config(&crate::settings::scan_config(&config)?)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "config ok: {}", file.display())?;
    for list in pipeline.lists() {
        let kind = match list.kind {
            ListKind::Hash => "hash list",
            ListKind::Keyword => "keyword list",
            ListKind::Url => "URL list",
        };
        let info = &list.info;
        writeln!(
            out,
            "  {kind:<13} {} version {} ({} entries) from {}",
            info.name,
            info.version,
            info.entries,
            info.path.display()
        )?;
    }
    writeln!(
        out,
        "  detectors     {}",
        pipeline.scanner().detector_names().join(", ")
    )?;
    if pipeline.lists().is_empty() {
        writeln!(out, "  no lists configured: nothing can match")?;
    }
    if let Err(refusal) = config.lists.check_signed() {
        writeln!(out, "  vigil run     would not start: {refusal}")?;
    }
    let m = &config.matching;
    writeln!(
        out,
        "  match         pdq_max_distance={} pdq_min_quality={}",
        m.pdq_max_distance, m.pdq_min_quality
    )?;
    writeln!(
        out,
        "  limits        attachments.max_bytes={} input.max_message_bytes={} file_roots={}",
        config.attachments.max_bytes,
        config.input.max_message_bytes,
        config.attachments.file_roots.len()
    )?;
    let k = &config.kafka;
    writeln!(
        out,
        "  kafka         brokers={} group_id={} input_topics={} review_topic={} dead_letter_topic={}",
        k.brokers,
        k.group_id,
        k.input_topics.join(","),
        k.review_topic,
        k.dead_letter_topic
    )?;
    if let Some(tls) = &k.tls {
        let ca = tls
            .ca_file
            .as_ref()
            .map_or_else(|| "system".to_string(), |p| p.display().to_string());
        writeln!(
            out,
            "  kafka.tls     ca_file={ca} client_certificate={} verify_hostname={}",
            tls.cert_file.is_some(),
            tls.verify_hostname
        )?;
    }
    if let Some(sasl) = &k.sasl {
        // Where the password comes from, never the password.
        let source = if let Some(path) = &sasl.password_file {
            format!("password_file={}", path.display())
        } else if let Some(var) = &sasl.password_env {
            format!("password_env={var}")
        } else {
            "password=<redacted>".to_string()
        };
        writeln!(
            out,
            "  kafka.sasl    mechanism={} username={} {source}",
            sasl.mechanism.as_str(),
            sasl.username
        )?;
    }
    writeln!(out, "  admin         listen={}", config.admin.listen)?;
    Ok(())
}
