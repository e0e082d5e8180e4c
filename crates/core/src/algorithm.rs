//! The hash algorithms vigil matches, named once: lists, flags, metrics, the CLI and the
//! hashing crate all use [`Algorithm`] and its wire names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A hash algorithm, by its list and wire name.
///
/// Declared in the order flags sort their matches (exact first), which the flag id depends
/// on: add new algorithms at the end, never reorder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// MD5 of the raw bytes (128 bits).
    Md5,
    /// SHA-1 of the raw bytes (160 bits).
    Sha1,
    /// SHA-256 of the raw bytes (256 bits).
    Sha256,
    /// Meta's PDQ perceptual hash (256 bits).
    Pdq,
    /// DCT perceptual hash (64 bits).
    Phash,
    /// Gradient hash (64 bits).
    Dhash,
    /// Mean hash (64 bits).
    Ahash,
    /// Meta's video hash: a list of frames, each a PDQ hash (256 bits) with its quality and
    /// timestamp. A listed video matches by the share of frames within a distance, not as
    /// one hash.
    Vpdq,
}

impl Algorithm {
    /// All of them, image hashes first (perceptual, then exact), then video: the order lists
    /// keep their tables and entries in.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::Pdq,
        Algorithm::Phash,
        Algorithm::Dhash,
        Algorithm::Ahash,
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Vpdq,
    ];

    /// The wire name: `pdq`, `phash`, `dhash`, `ahash`, `md5`, `sha1`, `sha256`, `vpdq`.
    #[inline]
    pub fn as_str(self) -> &'static str {
        self.facts().name
    }

    /// Whether it is a cryptographic digest of raw bytes (matched exactly, no decoding),
    /// rather than a perceptual hash of decoded pixels (matched within a distance).
    #[inline]
    pub fn is_exact(self) -> bool {
        self.facts().exact
    }

    /// The hash's length in bits (of one frame, for vPDQ).
    #[inline]
    pub fn bits(self) -> u32 {
        self.facts().bits
    }

    /// The algorithm with exactly this wire name, as flags carry it.
    pub fn from_wire(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// Every fact about one algorithm, in one table so that a new algorithm is one entry.
    #[inline]
    fn facts(self) -> Facts {
        let (name, alias, exact, bits) = match self {
            Algorithm::Md5 => ("md5", None, true, 128),
            Algorithm::Sha1 => ("sha1", Some("sha-1"), true, 160),
            Algorithm::Sha256 => ("sha256", Some("sha-256"), true, 256),
            Algorithm::Pdq => ("pdq", None, false, 256),
            Algorithm::Phash => ("phash", None, false, 64),
            Algorithm::Dhash => ("dhash", None, false, 64),
            Algorithm::Ahash => ("ahash", None, false, 64),
            Algorithm::Vpdq => ("vpdq", None, false, 256),
        };
        Facts {
            name,
            alias,
            exact,
            bits,
        }
    }
}

/// What [`Algorithm::facts`] knows of one algorithm.
struct Facts {
    name: &'static str,
    /// Another spelling lists use (`sha-256`).
    alias: Option<&'static str>,
    exact: bool,
    bits: u32,
}

/// A name that is no algorithm vigil knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownAlgorithm {
    /// The name given.
    pub name: String,
}

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
        write!(
            f,
            "unknown algorithm `{}` (expected {})",
            self.name,
            names.join(", ")
        )
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Parses a name as lists and the command line spell it: any ASCII case, surrounding
    /// spaces ignored, `sha-1`/`sha-256` accepted.
    fn from_str(name: &str) -> Result<Algorithm, UnknownAlgorithm> {
        let wanted = name.trim();
        Algorithm::ALL
            .into_iter()
            .find(|a| {
                let facts = a.facts();
                facts.name.eq_ignore_ascii_case(wanted)
                    || facts.alias.is_some_and(|s| s.eq_ignore_ascii_case(wanted))
            })
            .ok_or_else(|| UnknownAlgorithm { name: name.into() })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    /// Only the exact wire names: a flag is not a list file.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Algorithm, D::Error> {
        by_wire_name(deserializer, Algorithm::ALL.into_iter(), Algorithm::as_str)
    }
}

/// Deserializes the one of `all` whose `name` is the string read, failing as serde does for
/// an unknown variant, with the names that would have been accepted.
pub(crate) fn by_wire_name<'de, D: Deserializer<'de>, T: Copy>(
    deserializer: D,
    all: impl Iterator<Item = T> + Clone,
    name: fn(T) -> &'static str,
) -> Result<T, D::Error> {
    let wanted = String::deserialize(deserializer)?;
    all.clone().find(|&t| name(t) == wanted).ok_or_else(|| {
        let expected: Vec<String> = all.map(|t| format!("`{}`", name(t))).collect();
        serde::de::Error::custom(format_args!(
            "unknown variant `{wanted}`, expected one of {}",
            expected.join(", ")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_parse_as_lists_spell_them() {
        for algorithm in Algorithm::ALL {
            let name = algorithm.as_str();
            assert_eq!(Algorithm::from_wire(name), Some(algorithm));
            assert_eq!(name.parse(), Ok(algorithm));
            assert_eq!(name.to_uppercase().parse(), Ok(algorithm));
            let json = serde_json::to_string(&algorithm).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), algorithm);
        }
        assert_eq!(" SHA-256 ".parse(), Ok(Algorithm::Sha256));
        assert_eq!("sha-1".parse(), Ok(Algorithm::Sha1));
        // The wire is strict: list spellings are not flag spellings.
        assert_eq!(Algorithm::from_wire("SHA-256"), None);
        assert!(serde_json::from_str::<Algorithm>("\"sha-256\"").is_err());
    }

    /// Moved from vigil-hash with the type (`Algorithm::parse` became `FromStr`).
    #[test]
    fn algorithm_names_round_trip() {
        for a in Algorithm::ALL {
            assert_eq!(a.as_str().parse().ok(), Some(a));
            assert_eq!(a.as_str().to_uppercase().parse().ok(), Some(a));
        }
        assert_eq!("SHA-256".parse().ok(), Some(Algorithm::Sha256));
        assert_eq!("photodna".parse::<Algorithm>().ok(), None);
    }

    #[test]
    fn unknown_names_are_named_in_the_error() {
        let err = "tmk".parse::<Algorithm>().unwrap_err();
        assert_eq!(err.name, "tmk");
        assert_eq!(
            err.to_string(),
            "unknown algorithm `tmk` (expected pdq, phash, dhash, ahash, md5, sha1, sha256, vpdq)"
        );
        let err = serde_json::from_str::<Algorithm>("\"md4\"").unwrap_err();
        assert!(err.to_string().contains("unknown variant `md4`"), "{err}");
    }

    #[test]
    fn facts() {
        let exact: Vec<Algorithm> = Algorithm::ALL
            .into_iter()
            .filter(|a| a.is_exact())
            .collect();
        assert_eq!(exact, [Algorithm::Md5, Algorithm::Sha1, Algorithm::Sha256]);
        let bits: Vec<u32> = Algorithm::ALL.iter().map(|a| a.bits()).collect();
        assert_eq!(bits, [256, 64, 64, 64, 128, 160, 256, 256]);
        // Declaration order sorts a flag's matches: vPDQ, added last, sorts last.
        assert_eq!(Algorithm::ALL.iter().max(), Some(&Algorithm::Vpdq));
    }
}
