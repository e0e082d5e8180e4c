//! The crash-loop breaker (at-least-once).
//!
//! A record that ends the process — an abort on a failed allocation, an out-of-memory kill,
//! a stack overflow: nothing `catch_unwind` can hold — is read again by whichever consumer
//! takes its partition next, and ends that one too: the partition stalls and the crash
//! spreads through the group. So every consumer notes in the metadata of the committed
//! offset that it started reading there ([`Mark`]); a clean release (revocation, shutdown)
//! or committed progress clears the note. The next owner learns how many starts at that
//! position ended without a release, and reads more carefully the more there were
//! ([`Guard`]):
//!
//! - none: normally;
//! - one: committing after every batch until it has read what the partition held when it
//!   started (which includes the record at fault, if there is one), so a second crash
//!   leaves the committed offset within about `2 × max_in_flight` records of its cause;
//! - two or more: one record at a time across the whole process, each noted in the
//!   committed metadata before it is scanned, for `serial_window` offsets, so a further
//!   crash names its record;
//! - a record that ended `crash_loop_limit` processes alone is dead-lettered
//!   (`crash_loop`) without being scanned again.

/// What the metadata committed with an offset says about the record there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// Consecutive starts at or before this position that ended without a clean release.
    pub unclean: u32,
    /// How many processes ended while the record at this offset was the only record in flight.
    pub alone: u32,
}

const PREFIX: &str = "vigil-crash-v1:";

impl Mark {
    /// Reads committed metadata; anything vigil did not write (none, another tool's) is clean.
    pub fn parse(metadata: &str) -> Mark {
        let Some(fields) = metadata.strip_prefix(PREFIX) else {
            return Mark::default();
        };
        let mut mark = Mark::default();
        for field in fields.split(',') {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            let Ok(value) = value.parse() else {
                return Mark::default();
            };
            match key {
                "unclean" => mark.unclean = value,
                "alone" => mark.alone = value,
                _ => return Mark::default(),
            }
        }
        mark
    }

    /// The metadata to commit: empty when clean.
    pub fn encode(self) -> String {
        if self == Mark::default() {
            String::new()
        } else {
            format!("{PREFIX}unclean={},alone={}", self.unclean, self.alone)
        }
    }
}

/// How a partition is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Offsets stored as records complete and committed every `commit_interval_ms`.
    Normal,
    /// Offsets committed after every batch, carrying the unclean count.
    Careful,
    /// One record at a time in the whole process, each marked before it is scanned.
    Serial,
}

/// The breaker's settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `kafka.crash_loop_limit` (at least 1).
    pub limit: u32,
    /// Offsets read one at a time after two unclean starts.
    pub serial_window: i64,
}

/// The breaker's state for one assigned partition.
#[derive(Debug, Clone)]
pub struct Guard {
    mode: Mode,
    /// The committed offset at assignment: where reading starts.
    start: i64,
    /// The mark found there.
    found: Mark,
    /// Whether the record at `start` is dead-lettered unscanned.
    poison: bool,
    serial_end: i64,
    careful_end: i64,
}

impl Guard {
    /// The guard of a partition assigned at committed offset `start`, where `found` was
    /// committed; `log_end` is the partition's end offset at assignment (only consulted when
    /// `found` is unclean).
    pub fn new(start: i64, found: Mark, log_end: i64, settings: Settings) -> Guard {
        let mut guard = Guard {
            mode: match found.unclean {
                0 => Mode::Normal,
                1 => Mode::Careful,
                _ => Mode::Serial,
            },
            start,
            found,
            poison: found.unclean >= 2 && found.alone >= settings.limit,
            serial_end: start.saturating_add(settings.serial_window).min(log_end),
            careful_end: log_end,
        };
        guard.advance(start);
        guard
    }

    /// Whether [`Guard::new`] needs the partition's end offset for `found`.
    pub fn needs_log_end(found: Mark) -> bool {
        found.unclean > 0
    }

    /// The mark committed at assignment: one more start that has not (yet) ended cleanly.
    pub fn start_mark(&self) -> Mark {
        Mark {
            unclean: self.found.unclean + 1,
            alone: self.found.alone,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The offset where reading started.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// Whether the record at `offset` is to be dead-lettered without scanning.
    pub fn is_poison(&self, offset: i64) -> bool {
        self.poison && offset == self.start
    }

    /// The mark committed with the partition's position in the current mode: the unclean
    /// count is kept until the careful modes are over, so progress made carefully does not
    /// reset it.
    pub fn mark(&self) -> Mark {
        match self.mode {
            Mode::Normal => Mark::default(),
            Mode::Careful | Mode::Serial => Mark {
                unclean: self.found.unclean + 1,
                alone: 0,
            },
        }
    }

    /// The mark committed at `position` on a clean release: this start did not crash, but
    /// the evidence of earlier ones is kept until the careful modes are over.
    pub fn release_mark(&self, position: i64) -> Mark {
        match self.mode {
            Mode::Normal => Mark::default(),
            Mode::Careful | Mode::Serial => Mark {
                unclean: self.found.unclean,
                alone: if position == self.start {
                    self.found.alone
                } else {
                    0
                },
            },
        }
    }

    /// The mark committed at `offset` just before that record is scanned alone.
    pub fn alone_mark(&self, offset: i64) -> Mark {
        let before = if offset == self.start {
            self.found.alone
        } else {
            0
        };
        Mark {
            unclean: self.found.unclean + 1,
            alone: before + 1,
        }
    }

    /// Moves on with the partition's watermark (everything below it complete); returns
    /// whether the mode changed.
    pub fn advance(&mut self, watermark: i64) -> bool {
        let before = self.mode;
        if self.mode == Mode::Serial && watermark >= self.serial_end {
            self.mode = Mode::Careful;
        }
        if self.mode == Mode::Careful && watermark >= self.careful_end {
            self.mode = Mode::Normal;
        }
        self.mode != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: Settings = Settings {
        limit: 2,
        serial_window: 10,
    };

    fn mark(unclean: u32, alone: u32) -> Mark {
        Mark { unclean, alone }
    }

    #[test]
    fn marks_round_trip_and_foreign_metadata_is_clean() {
        for m in [mark(0, 0), mark(1, 0), mark(3, 2), mark(u32::MAX, 7)] {
            assert_eq!(Mark::parse(&m.encode()), m, "{m:?}");
        }
        assert_eq!(mark(0, 0).encode(), "");
        for foreign in [
            "",
            "some other tool",
            "vigil-crash-v1:unclean=x",
            "vigil-crash-v1:unclean=1,other=2",
            "vigil-crash-v1:unclean=-1",
            "vigil-crash-v0:unclean=3",
        ] {
            assert_eq!(Mark::parse(foreign), Mark::default(), "{foreign:?}");
        }
    }

    #[test]
    fn modes_follow_the_unclean_starts_found() {
        // (found, log end, mode at start, poison at start)
        let table = [
            (mark(0, 0), 100, Mode::Normal, false),
            (mark(1, 0), 100, Mode::Careful, false),
            (mark(2, 0), 100, Mode::Serial, false),
            (mark(5, 0), 100, Mode::Serial, false),
            (mark(2, 1), 100, Mode::Serial, false),
            (mark(2, 2), 100, Mode::Serial, true),
            (mark(3, 9), 100, Mode::Serial, true),
            // Nothing to read beyond the start: the crash was not this partition's.
            (mark(1, 0), 50, Mode::Normal, false),
            (mark(4, 0), 50, Mode::Normal, false),
        ];
        for (found, log_end, mode, poison) in table {
            let guard = Guard::new(50, found, log_end, SETTINGS);
            assert_eq!(guard.mode(), mode, "{found:?} up to {log_end}");
            assert_eq!(guard.is_poison(50), poison, "{found:?}");
            assert!(!guard.is_poison(51));
            assert_eq!(guard.start_mark(), mark(found.unclean + 1, found.alone));
        }
    }

    #[test]
    fn serial_reads_its_window_then_careful_reads_to_the_end_found() {
        let mut guard = Guard::new(50, mark(2, 0), 100, SETTINGS);
        assert_eq!(guard.mark(), mark(3, 0));
        assert!(!guard.advance(59));
        assert_eq!(guard.mode(), Mode::Serial);
        assert!(guard.advance(60));
        assert_eq!(guard.mode(), Mode::Careful);
        assert_eq!(guard.mark(), mark(3, 0), "careful progress keeps the count");
        assert!(!guard.advance(99));
        assert!(guard.advance(100));
        assert_eq!(guard.mode(), Mode::Normal);
        assert_eq!(guard.mark(), Mark::default(), "then progress clears it");
    }

    #[test]
    fn a_serial_window_past_the_end_found_ends_there() {
        let mut guard = Guard::new(50, mark(3, 0), 55, SETTINGS);
        assert_eq!(guard.mode(), Mode::Serial);
        assert!(guard.advance(55));
        assert_eq!(guard.mode(), Mode::Normal);
    }

    #[test]
    fn a_clean_release_keeps_the_evidence_until_the_careful_modes_are_over() {
        let serial = Guard::new(50, mark(2, 1), 100, SETTINGS);
        assert_eq!(serial.release_mark(50), mark(2, 1));
        assert_eq!(serial.release_mark(53), mark(2, 0));
        let careful = Guard::new(50, mark(1, 0), 100, SETTINGS);
        assert_eq!(careful.release_mark(70), mark(1, 0));
        let mut done = careful.clone();
        done.advance(100);
        assert_eq!(done.release_mark(100), Mark::default());
    }

    #[test]
    fn only_the_record_found_alone_carries_its_count_forward() {
        let guard = Guard::new(50, mark(3, 1), 100, SETTINGS);
        assert_eq!(guard.alone_mark(50), mark(4, 2));
        assert_eq!(guard.alone_mark(51), mark(4, 1));
    }
}
