//! Checking the access log's hash chain (migration 0007): each row's `prev_hash` must be the
//! previous row's `row_hash`, and its `row_hash` the SHA-256 of `prev_hash` and the row's
//! canonical encoding, recomputed here independently of the database. The first row that
//! does not fit is where the log was changed: its contents were edited, or a row before it
//! was removed or slipped in. Rows removed from the end leave no gap; compare the reported
//! head with one recorded earlier (an auditor's copy, a previous report) to see those.

use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::access::AccessRow;
use crate::store::{Store, StoreError};

/// Rows read per query.
const BATCH: i64 = 5000;

/// What checking the chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Rows checked (all of them, or up to the first broken one).
    pub rows: u64,
    /// The last row's id and hash (hex) when the whole chain holds: record it, and a later
    /// check shows whether rows were removed from the end.
    pub head: Option<(i64, String)>,
    /// The first row that does not fit, and how.
    pub broken: Option<BrokenRow>,
}

/// A row where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRow {
    /// Its id.
    pub id: i64,
    /// What is wrong with it.
    pub why: &'static str,
}

/// The fields of one access-log row that its hash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Covered {
    row: AccessRow,
    reviewer_id: Option<i64>,
}

fn field(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.extend_from_slice(b"-;"),
        Some(v) => {
            out.extend_from_slice(format!("{}:", v.len()).as_bytes());
            out.extend_from_slice(v.as_bytes());
            out.push(b';');
        }
    }
}

impl Covered {
    /// The encoding `access_log_canonical` gives in the database.
    fn canonical(&self) -> Vec<u8> {
        let r = &self.row;
        let micros = (r.at.unix_timestamp_nanos() / 1000).to_string();
        let mut out = Vec::new();
        field(&mut out, Some(&r.id.to_string()));
        field(&mut out, Some(&micros));
        field(
            &mut out,
            self.reviewer_id.map(|id| id.to_string()).as_deref(),
        );
        for value in [&r.actor, &r.role, &r.action] {
            field(&mut out, Some(value));
        }
        field(&mut out, r.flag_id.as_deref());
        field(&mut out, r.attachment_id.as_deref());
        field(&mut out, Some(&r.detail));
        field(&mut out, Some(&r.remote_addr));
        out
    }

    fn hash(&self, prev: &[u8]) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(prev);
        hasher.update(self.canonical());
        hasher.finalize().to_vec()
    }
}

impl Store {
    /// Walks the access log in id order and checks every row's place in the chain.
    pub async fn verify_access_log(&self) -> Result<ChainReport, StoreError> {
        let mut report = ChainReport {
            rows: 0,
            head: None,
            broken: None,
        };
        let mut previous = vec![0u8; 32];
        let mut last_id = i64::MIN;
        loop {
            let rows = sqlx::query(
                "SELECT id, at, reviewer_id, actor, role, action, flag_id, attachment_id,
                        detail, remote_addr, prev_hash, row_hash
                 FROM access_log WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(last_id)
            .bind(BATCH)
            .fetch_all(self.pool())
            .await
            .map_err(StoreError::db("read access log"))?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let row = Covered {
                    row: AccessRow::from_row(r),
                    reviewer_id: r.get("reviewer_id"),
                };
                let prev: Option<Vec<u8>> = r.get("prev_hash");
                let hash: Option<Vec<u8>> = r.get("row_hash");
                let why = match (prev, hash) {
                    (None, _) | (_, None) => Some("it carries no hash"),
                    (Some(prev), _) if prev != previous => Some(
                        "it does not follow the row before it: a row between was removed or \
                         added, or the one before was rewritten",
                    ),
                    (Some(prev), Some(hash)) if hash != row.hash(&prev) => {
                        Some("its contents changed after it was written")
                    }
                    (_, Some(hash)) => {
                        previous = hash;
                        None
                    }
                };
                if let Some(why) = why {
                    report.broken = Some(BrokenRow {
                        id: row.row.id,
                        why,
                    });
                    return Ok(report);
                }
                report.rows += 1;
                last_id = row.row.id;
            }
        }
        if report.rows > 0 {
            report.head = Some((last_id, hex::encode(&previous)));
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    #[test]
    fn the_encoding_prefixes_every_field_with_its_length_and_marks_nulls() {
        let row = Covered {
            row: AccessRow {
                id: 7,
                at: OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_000).unwrap(),
                actor: "reviewer-1".into(),
                role: "reviewer".into(),
                action: "view_flag".into(),
                flag_id: Some("ab".into()),
                attachment_id: None,
                detail: "".into(),
                remote_addr: "é".into(),
            },
            reviewer_id: None,
        };
        assert_eq!(
            String::from_utf8(row.canonical()).unwrap(),
            "1:7;16:1795000000123456;-;10:reviewer-1;8:reviewer;9:view_flag;2:ab;-;0:;2:é;"
        );
        // A value cannot pass for two: "a;" + "b" and "a" + ";b" differ.
        let mut one = row.clone();
        one.row.actor = "a;".into();
        one.row.role = "b".into();
        let mut two = row.clone();
        two.row.actor = "a".into();
        two.row.role = ";b".into();
        assert_ne!(one.canonical(), two.canonical());
    }
}
