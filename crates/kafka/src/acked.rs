//! A producer for the tools and background threads that send a batch, wait for it and act
//! on whether all of it was acknowledged (`vigil dlq replay`, entry-state writes): failed
//! deliveries are counted, and [`AckedProducer::settle`] flushes and reports them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::client;
use crate::config::KafkaConfig;
use crate::read::ToolError;

/// Counts failed deliveries.
pub(crate) struct Acks {
    failed: AtomicUsize,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A producer whose batches are settled as a whole.
pub(crate) struct AckedProducer(pub(crate) ThreadedProducer<Acks>);

impl AckedProducer {
    /// A producer with `[kafka]`'s brokers and client settings; `topic` names the
    /// destination in errors.
    pub(crate) fn new(kafka: &KafkaConfig, topic: &str) -> Result<AckedProducer, ToolError> {
        let producer = client::producer(kafka)
            .create_with_context(Acks {
                failed: AtomicUsize::new(0),
            })
            .map_err(ToolError::kafka("cannot create a producer", topic))?;
        Ok(AckedProducer(producer))
    }

    /// Enqueues `record`, waiting while the producer's queue is full.
    pub(crate) fn send(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), ToolError> {
        loop {
            match self.0.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((err, returned)) => {
                    return Err(ToolError::Kafka {
                        what: "cannot enqueue a record",
                        topic: returned.topic.to_string(),
                        source: err,
                    });
                }
            }
        }
    }

    /// Waits up to `timeout` for everything sent so far; an error when any of it failed.
    pub(crate) fn settle(&self, topic: &str, timeout: Duration) -> Result<(), ToolError> {
        self.0
            .flush(timeout)
            .map_err(ToolError::kafka("cannot flush", topic))?;
        let failed = self.0.context().failed.swap(0, Ordering::SeqCst);
        if failed > 0 {
            return Err(ToolError::Undelivered {
                topic: topic.to_string(),
                failed,
            });
        }
        Ok(())
    }
}
