//! The content of a flagged message, read from the record its flag points at — and shown only
//! if that record is the message flagged. Coordinates alone are not enough: after a topic is
//! recreated or offsets shift, the same topic, partition and offset hold someone else's
//! message, and a reviewer must never see (or confirm) that.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::{Offset, TopicPartitionList};
use vigil_core::{AttachmentDigest, Flag, Message, Source};

use crate::config::ConsoleConfig;
use vigil_scan::{ResolvedAttachment, Resolver};

use vigil_video::{Forms, PoolSettings, VideoPool};

use super::{Failure, IngestError, setup};
use crate::contact;
use crate::preview::Previewer;
use crate::store::{Content, Image};

/// Reads flagged messages from their source topics.
pub(super) struct ContentFetcher {
    consumer: BaseConsumer,
    resolver: Resolver,
    previewer: Previewer,
    /// Renders contact sheets; none when `video.enabled` is off or no worker is given.
    videos: Option<VideoPool>,
    timeout: Duration,
}

impl ContentFetcher {
    pub(super) fn new(config: &ConsoleConfig) -> Result<ContentFetcher, IngestError> {
        let group = format!("{}-content", config.review.group_id);
        let consumer: BaseConsumer = vigil_kafka::client::content_fetcher(&config.kafka, &group)
            .create()
            .map_err(setup("content consumer"))?;
        let resolver = Resolver::new(&config.attachments)
            .map_err(|(path, source)| IngestError::FileRoot { path, source })?;
        // One video at a time, as images: ingest settles one record at a time.
        let videos = config
            .video_worker
            .clone()
            .filter(|_| config.video.enabled)
            .map(|worker| {
                VideoPool::new(
                    worker,
                    PoolSettings::new(&config.video, 1, Forms::default()),
                )
            });
        Ok(ContentFetcher {
            consumer,
            resolver,
            previewer: Previewer::new(&config.attachments),
            videos,
            timeout: Duration::from_millis(config.review.content_fetch_timeout_ms),
        })
    }

    /// The content of the message `flag` names, or why it is unavailable.
    pub(super) fn fetch(&self, flag: &Flag) -> Result<Content, Failure> {
        let source = &flag.source;
        let Source::Kafka {
            topic,
            partition,
            offset,
        } = source
        else {
            return Ok(Content::Unavailable(
                "flagged by `vigil scan` from a file; the console fetches content only from Kafka"
                    .into(),
            ));
        };
        let gone = || {
            Ok(Content::Unavailable(format!(
                "the source record {source} is no longer in its topic"
            )))
        };
        let mut assignment = TopicPartitionList::new();
        if assignment
            .add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .is_err()
            || self.consumer.assign(&assignment).is_err()
        {
            return Err(Failure::FetchTimeout(source.to_string()));
        }
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.topic() == topic && m.partition() == *partition => {
                    if m.offset() != *offset {
                        return gone();
                    }
                    return Ok(self.content(flag, m.payload().unwrap_or_default()));
                }
                Some(Err(KafkaError::MessageConsumption(
                    RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::UnknownTopicOrPartition,
                ))) => return gone(),
                _ => {}
            }
        }
        Err(Failure::FetchTimeout(source.to_string()))
    }

    fn content(&self, flag: &Flag, payload: &[u8]) -> Content {
        let message = match Message::parse(payload) {
            Ok(message) => message,
            Err(err) => {
                return Content::Unavailable(format!(
                    "the source record is not a valid message ({})",
                    err.reason.as_str()
                ));
            }
        };
        let (attachments, _) = self.resolver.resolve(&message);
        if let Some(differs) = mismatch(flag, &message, &attachments) {
            return Content::Unavailable(format!(
                "the source record is not the message flagged: its {differs} differs; \
                 nothing of it was stored"
            ));
        }
        let videos = contact::video_attachments(&flag.matches)
            .into_iter()
            .filter_map(|id| attachments.iter().find(|a| a.attachment_id == id))
            .map(|a| {
                contact::render(
                    self.videos.as_ref(),
                    &flag.matches,
                    &a.attachment_id,
                    &a.bytes,
                )
            })
            .collect();
        let images = attachments
            .into_iter()
            .filter_map(|a| {
                let media = a.media_type.filter(|m| m.is_image())?;
                Some((a, media))
            })
            .enumerate()
            .map(|(i, (a, media))| Image {
                preview: self.previewer.render(i, &a.bytes),
                file_name: message
                    .attachments
                    .iter()
                    .find(|m| m.attachment_id == a.attachment_id)
                    .and_then(|m| m.file_name.clone()),
                attachment_id: a.attachment_id,
                media_type: media.as_str().to_string(),
                data: a.bytes,
            })
            .collect();
        Content::Stored {
            text: message.text,
            images,
            videos,
            sender: message.sender_details,
        }
    }
}

/// The first field in which `message` (with its resolved `attachments`) is not the message
/// `flag` was made from, if any.
fn mismatch(
    flag: &Flag,
    message: &Message,
    attachments: &[ResolvedAttachment],
) -> Option<&'static str> {
    let ids = [
        ("message_id", &flag.message_id, &message.message_id),
        (
            "conversation_id",
            &flag.conversation_id,
            &message.conversation_id,
        ),
        ("sender_id", &flag.sender_id, &message.sender_id),
    ];
    if let Some((field, ..)) = ids.iter().find(|(_, flagged, read)| flagged != read) {
        return Some(field);
    }
    if flag.sent_at != message.sent_at {
        return Some("sent_at");
    }
    let read: Vec<AttachmentDigest> = attachments
        .iter()
        .map(|a| AttachmentDigest::of(&a.attachment_id, &a.bytes))
        .collect();
    // Flags written before digests were added carry none: the ids have to do.
    let digests_differ = flag.attachments.iter().any(|d| !read.contains(d));
    digests_differ.then_some("attachment digest")
}

#[cfg(test)]
mod tests {
    use crate::test_support::keyword_flag;

    use super::*;

    fn message() -> Message {
        Message::parse(
            br#"{"message_id":"m-1","conversation_id":"c-1","sender_id":"u-1",
                "recipient_ids":["u-2"],"sent_at":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap()
    }

    fn flag_of(message: &Message, attachments: &[(&str, &[u8])]) -> Flag {
        let ids = [
            &message.message_id,
            &message.conversation_id,
            &message.sender_id,
        ];
        let mut flag = keyword_flag(ids.map(String::as_str), message.sent_at);
        flag.attachments = attachments
            .iter()
            .map(|(id, bytes)| AttachmentDigest::of(id, bytes))
            .collect();
        flag
    }

    fn resolved(id: &str, bytes: &[u8]) -> ResolvedAttachment {
        ResolvedAttachment {
            attachment_id: id.into(),
            media_type: None,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn only_the_message_flagged_with_the_same_attachments_matches() {
        let read = message();
        let flagged = flag_of(&read, &[("a1", b"png")]);
        let same = [resolved("a1", b"png")];
        assert_eq!(mismatch(&flagged, &read, &same), None);
        // A flag from before digests were added: the ids decide.
        assert_eq!(mismatch(&flag_of(&read, &[]), &read, &same), None);

        let cases: [(Message, Vec<ResolvedAttachment>, &str); 6] = [
            (
                Message {
                    message_id: "m-2".into(),
                    ..read.clone()
                },
                same.to_vec(),
                "message_id",
            ),
            (
                Message {
                    conversation_id: "c-2".into(),
                    ..read.clone()
                },
                same.to_vec(),
                "conversation_id",
            ),
            (
                Message {
                    sender_id: "u-9".into(),
                    ..read.clone()
                },
                same.to_vec(),
                "sender_id",
            ),
            (
                Message {
                    sent_at: read.sent_at + time::Duration::SECOND,
                    ..read.clone()
                },
                same.to_vec(),
                "sent_at",
            ),
            (
                read.clone(),
                vec![resolved("a1", b"gif")],
                "attachment digest",
            ),
            (read.clone(), vec![], "attachment digest"),
        ];
        for (other, attachments, field) in cases {
            assert_eq!(
                mismatch(&flagged, &other, &attachments),
                Some(field),
                "{field}"
            );
        }
    }
}
