//! The parts of [`Algorithm`] that one kind of hashing computes, as their own types so that
//! digesting, family hashing and their tables are total; converted to and from
//! [`Algorithm`] here and nowhere else.

use std::fmt;

use vigil_core::Algorithm;

/// An algorithm asked of a subset it is not in (a perceptual one of digesting, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("`{algorithm}` is not {expected}")]
pub struct NotInSubset {
    /// The algorithm given.
    pub algorithm: Algorithm,
    /// What was expected, e.g. `an exact digest`.
    pub expected: &'static str,
}

/// Declares a subset of [`Algorithm`] with the same variant names, its `ALL` (in
/// declaration order, which slots follow) and both conversions.
macro_rules! subset {
    ($(#[$doc:meta])* $name:ident, $expected:literal: $($variant:ident),+) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $(
                #[doc = concat!("[`Algorithm::", stringify!($variant), "`].")]
                $variant,
            )+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];
        }

        impl From<$name> for Algorithm {
            #[inline]
            fn from(member: $name) -> Algorithm {
                match member {
                    $($name::$variant => Algorithm::$variant,)+
                }
            }
        }

        impl TryFrom<Algorithm> for $name {
            type Error = NotInSubset;

            fn try_from(algorithm: Algorithm) -> Result<$name, NotInSubset> {
                match algorithm {
                    $(Algorithm::$variant => Ok($name::$variant),)+
                    _ => Err(NotInSubset { algorithm, expected: $expected }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Algorithm::from(*self).as_str())
            }
        }
    };
}

subset!(
    /// A cryptographic digest of raw bytes ([`Algorithm::is_exact`]).
    ExactAlgorithm, "an exact digest": Md5, Sha1, Sha256
);

subset!(
    /// A 64-bit member of the img_hash family, computed by `image_hasher`.
    Family, "a 64-bit family hash": Phash, Dhash, Ahash
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_cover_the_algorithms_they_claim() {
        for algorithm in Algorithm::ALL {
            let exact = ExactAlgorithm::try_from(algorithm);
            assert_eq!(exact.is_ok(), algorithm.is_exact(), "{algorithm}");
            let family = Family::try_from(algorithm);
            assert_eq!(
                family.is_ok(),
                !algorithm.is_exact() && algorithm.bits() == 64,
                "{algorithm}"
            );
            if let Ok(member) = exact {
                assert_eq!(Algorithm::from(member), algorithm);
                assert_eq!(member.to_string(), algorithm.as_str());
            }
            if let Ok(member) = family {
                assert_eq!(Algorithm::from(member), algorithm);
            }
        }
        let err = ExactAlgorithm::try_from(Algorithm::Pdq).unwrap_err();
        assert_eq!(err.to_string(), "`pdq` is not an exact digest");
    }
}
