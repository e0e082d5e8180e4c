//! Text detection: keyword lists compiled into Aho-Corasick automata over normalised text,
//! with every match mapped back to character spans of the original message.
//!
//! - [`KeywordList`] / [`KeywordRule`] — the CSV keyword-list format
//!   (`rule_id,term,category[,whole_word,severity,normalize,kind]`); `kind = allow` rows
//!   suppress term matches inside their own.
//! - [`Normalizer`] / [`Steps`] — the normalisation pipeline that sees through disguises:
//!   default-ignorable characters, NFKC, case folding, diacritics, UTS #39 confusables,
//!   leetspeak, white space, separators, repeated letters; each step can be switched off per
//!   rule. [`Normalized`] keeps, for every normalised byte, the original characters it came
//!   from.
//! - [`KeywordMatcher`] — per normalisation profile, one term search (an Aho-Corasick
//!   automaton, or for large lists a hashed-window literal matcher; [`TermSearch`]); reports
//!   every rule that matched (overlapping matches included) with all its spans, honouring
//!   `whole_word` on the ORIGINAL word boundaries so that `sext` does not fire inside
//!   `sextant`.
//! - [`TextConfig`] — the `[text]` section: how much of a message's text is scanned.
//!
//! ```
//! use vigil_text::{KeywordList, KeywordMatcher};
//!
//! let csv = "rule_id,term,category,whole_word\n\
//!            k1,keep this a secret,grooming.secrecy,true\n\
//!            k2,sext,sexual,true\n";
//! let list = KeywordList::parse("kw", "kw.csv".as_ref(), csv.as_bytes()).unwrap();
//! let matcher = KeywordMatcher::build(vec![list]).unwrap();
//!
//! let hits = matcher.find("Ok.  KEEP this\na secret, no sextant talk");
//! assert_eq!(hits.len(), 1);
//! assert_eq!(hits[0].rule_id, "k1");
//! assert_eq!((hits[0].spans[0].start, hits[0].spans[0].end), (5, 23));
//!
//! // Disguised: leetspeak, Cyrillic look-alikes, a zero-width space, dots between letters.
//! let hits = matcher.find("k33p th1s а s.e.c\u{200b}r.e.t");
//! assert_eq!((hits[0].spans[0].start, hits[0].spans[0].end), (0, 23));
//! ```

pub mod config;
mod keywords;
mod literals;
mod matcher;
mod normalize;
mod rules;

pub use config::TextConfig;
pub use keywords::{KeywordList, KeywordRule, RuleKind};
pub use matcher::{KeywordMatcher, RuleClass, TermSearch, TextError, TextHit};
pub use normalize::{Normalized, Normalizer, Step, Steps, latin_lookalike};
pub use rules::{CooccurrenceRule, REGEX_SIZE_LIMIT_BYTES, RegexRule, Rules};
