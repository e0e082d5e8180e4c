//! Entry state: what reviewers and operators decided about list entries, kept in Kafka and
//! applied by every `vigil run` instance alike (no local database).
//!
//! - [`record`] — the wire format: the compacted state topic (per entry: each flag's
//!   decision, the disabled overlay, the last verification) and the sightings topic (entry ×
//!   conversation pseudonym, recently).
//! - [`table::EntryTable`] — the in-memory view of both topics and the [`table::Rules`] that
//!   make an entry [`table::Status::Disabled`] or [`table::Status::Quarantined`]
//!   (precision: enough false positives and low precision over the decision window; flood:
//!   too many distinct conversations in the flood window).
//! - [`Containment`] — applies the table to a scanned message: disabled entries'
//!   matches suppressed, sightings recorded, re-share counts on the flag, and a flag whose
//!   every entry is quarantined routed to verification.
//! - [`sync`] — the Kafka threads: topics created when missing, read to the end before
//!   scanning, followed afterwards; the console's decisions fed back into the state topic.
//! - [`overlay`] — `vigil lists disable|enable|disabled`.
//! - [`ContainmentConfig`] — `[containment]`.
//!
//! ```
//! use std::sync::Arc;
//! use time::OffsetDateTime;
//! use vigil_kafka::entries::{Containment, ContainmentConfig, EntryId, Status};
//!
//! let containment = Containment::new(Arc::default(), ContainmentConfig::default().rules());
//! let table = containment.table().read().unwrap();
//! let id = EntryId::new("ncmec-pdq", "e-17");
//! assert_eq!(table.status(&id, OffsetDateTime::now_utc(), containment.rules()), Status::Normal);
//! ```

mod config;
mod contain;
pub mod overlay;
pub mod record;
pub mod sync;
pub mod table;

pub use config::{ContainmentConfig, defaults};
pub use contain::{Contained, Containment};
pub use record::{Disabled, EntryId, MatchOutcome};
pub use table::{EntryTable, Rules, Status, Tally};
