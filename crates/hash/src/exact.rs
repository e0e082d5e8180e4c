//! Exact (cryptographic) digests of raw attachment bytes.

use std::fmt;

use vigil_core::Algorithm;

use crate::ExactAlgorithm;

impl ExactAlgorithm {
    /// Digest length in bytes.
    #[inline]
    pub fn digest_len(self) -> usize {
        Algorithm::from(self).bits() as usize / 8
    }

    /// Hashes `bytes`.
    pub fn digest(self, bytes: &[u8]) -> Digest {
        use sha2::Digest as _;
        match self {
            ExactAlgorithm::Md5 => Digest::new(&md5::Md5::digest(bytes)),
            ExactAlgorithm::Sha1 => Digest::new(&sha1::Sha1::digest(bytes)),
            ExactAlgorithm::Sha256 => Digest::new(&sha2::Sha256::digest(bytes)),
        }
    }
}

/// A digest of up to 32 bytes, stored inline. Digests of different lengths never compare
/// equal; comparison is bytewise, so sorted arrays of digests support binary search.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    len: u8,
    bytes: [u8; 32],
}

/// Why a hex string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestError {
    /// Wrong number of hex characters for the algorithm.
    Length {
        /// Characters expected.
        expected: usize,
        /// Characters given.
        actual: usize,
    },
    /// A character outside `0-9a-fA-F`.
    NotHex,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::Length { expected, actual } => {
                write!(f, "expected {expected} hex characters, got {actual}")
            }
            DigestError::NotHex => f.write_str("contains a character that is not hex"),
        }
    }
}

impl std::error::Error for DigestError {}

impl Digest {
    fn new(value: &[u8]) -> Digest {
        let mut bytes = [0; 32];
        bytes[..value.len()].copy_from_slice(value);
        Digest {
            len: value.len() as u8,
            bytes,
        }
    }

    /// Parses the hex form for `algorithm` (either case).
    pub fn from_hex(algorithm: ExactAlgorithm, hex: &str) -> Result<Digest, DigestError> {
        let expected = algorithm.digest_len() * 2;
        if hex.len() != expected {
            return Err(DigestError::Length {
                expected,
                actual: hex.chars().count(),
            });
        }
        let mut bytes = [0; 32];
        if !crate::hexdigits::decode(hex.as_bytes(), &mut bytes[..algorithm.digest_len()]) {
            return Err(DigestError::NotHex);
        }
        Ok(Digest {
            len: algorithm.digest_len() as u8,
            bytes,
        })
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.as_bytes())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

/// The exact digests of one attachment, for the algorithms that were asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExactDigests {
    digests: [Option<Digest>; ExactAlgorithm::ALL.len()],
}

impl ExactDigests {
    /// Computes each of `algorithms` over `bytes` (each algorithm once, however often named).
    pub fn compute(bytes: &[u8], algorithms: &[ExactAlgorithm]) -> ExactDigests {
        let mut digests = ExactDigests::default();
        for &algorithm in algorithms {
            let slot = &mut digests.digests[algorithm as usize];
            if slot.is_none() {
                *slot = Some(algorithm.digest(bytes));
            }
        }
        digests
    }

    /// The digest for `algorithm`, if it was computed.
    pub fn get(&self, algorithm: ExactAlgorithm) -> Option<Digest> {
        self.digests[algorithm as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1321, RFC 3174 and FIPS 180-2 test vectors.
    #[test]
    fn published_vectors() {
        let table = [
            (ExactAlgorithm::Md5, "", "d41d8cd98f00b204e9800998ecf8427e"),
            (
                ExactAlgorithm::Md5,
                "abc",
                "900150983cd24fb0d6963f7d28e17f72",
            ),
            (
                ExactAlgorithm::Sha1,
                "abc",
                "a9993e364706816aba3e25717850c26c9cd0d89d",
            ),
            (
                ExactAlgorithm::Sha256,
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                ExactAlgorithm::Sha256,
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (algorithm, input, expected) in table {
            let digest = algorithm.digest(input.as_bytes());
            assert_eq!(digest.to_hex(), expected, "{algorithm} of {input:?}");
            assert_eq!(Digest::from_hex(algorithm, expected), Ok(digest));
        }
    }

    #[test]
    fn hex_parsing_rejects_bad_input() {
        let md5 = ExactAlgorithm::Md5;
        assert_eq!(
            Digest::from_hex(md5, "abc"),
            Err(DigestError::Length {
                expected: 32,
                actual: 3
            })
        );
        assert_eq!(
            Digest::from_hex(md5, "zz0150983cd24fb0d6963f7d28e17f72"),
            Err(DigestError::NotHex)
        );
        // Same bytes under a different length are different digests.
        let short = Digest::from_hex(md5, &"00".repeat(16)).unwrap();
        let long = Digest::from_hex(ExactAlgorithm::Sha1, &"00".repeat(20)).unwrap();
        assert_ne!(short, long);
    }
}
