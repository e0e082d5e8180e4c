//! Why the runtime stops with an error.

use rdkafka::error::KafkaError;

use crate::access::AccessError;

/// Why the runtime stopped with an error. Retrying by restarting the process is always safe:
/// nothing is committed that was not completed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A Kafka client could not be created or configured (check `[kafka]` / `[kafka.client]`).
    #[error("cannot set up the Kafka {what}: {source}")]
    Setup {
        /// Which client or call.
        what: &'static str,
        /// The client error.
        source: KafkaError,
    },
    /// An unrecoverable client error (e.g. the transactional producer was fenced).
    #[error("fatal Kafka error: {0}")]
    Fatal(String),
    /// The brokers refused the TLS or SASL settings at start-up.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// The entry state (`[containment]`) could not be set up or read at start-up.
    #[error("entry state: {0}")]
    EntryState(#[from] crate::read::ToolError),
}

/// Maps a client error at start-up to [`RunError::Setup`] of `what`.
pub(super) fn setup(what: &'static str) -> impl FnOnce(KafkaError) -> RunError {
    move |source| RunError::Setup { what, source }
}
