//! vPDQ, Meta's video hash: the PDQ hashes of sampled frames, each with its quality and
//! timestamp. This module holds what does not need a decoder: the feature, its compact text
//! form (python-threatexchange's), and the reference's sampling and timestamp rules. Frames
//! are decoded in an isolated worker (`vigil-video-decode`).

use std::fmt;

use crate::{PdqHash, PdqHashError};

/// One hashed frame: what a vPDQ hash is a list of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VpdqFeature {
    /// The frame's PDQ hash.
    pub hash: PdqHash,
    /// The frame's PDQ quality, 0–100.
    pub quality: u8,
    /// Seconds from the start of the video, as the reference computes it
    /// ([`frame_timestamp`]).
    pub timestamp: f64,
}

/// Why a string is not a compact vPDQ feature or feature list.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VpdqParseError {
    /// Not `<hash>,<quality>,<timestamp>`.
    #[error("a vPDQ feature is `<64 hex>,<quality>,<timestamp>`; found {0} comma-separated fields")]
    Fields(usize),
    /// The hash is not a PDQ hash.
    #[error("bad vPDQ frame hash: {0}")]
    Hash(#[from] PdqHashError),
    /// The quality is not an integer 0–100.
    #[error("a vPDQ quality is an integer from 0 to 100")]
    Quality,
    /// The timestamp is not a finite number of seconds ≥ 0.
    #[error("a vPDQ timestamp is a number of seconds, 0 or more")]
    Timestamp,
    /// Not a JSON list of strings.
    #[error("a vPDQ hash is a JSON list of \"<hex>,<quality>,<timestamp>\" strings: {0}")]
    Json(String),
    /// Feature `index` of a list is bad.
    #[error("vPDQ feature {index}: {error}")]
    At {
        /// Its position in the list, from 0.
        index: usize,
        /// What is wrong with it.
        error: Box<VpdqParseError>,
    },
}

impl VpdqFeature {
    /// Parses the compact form `"<64 hex>,<quality>,<timestamp>"`, as python-threatexchange's
    /// `VpdqCompactFeature.from_str` does (any float spelling of the timestamp).
    pub fn from_compact(text: &str) -> Result<VpdqFeature, VpdqParseError> {
        let fields: Vec<&str> = text.split(',').collect();
        let [hash, quality, timestamp] = fields.as_slice() else {
            return Err(VpdqParseError::Fields(fields.len()));
        };
        let hash = PdqHash::from_hex(hash.trim())?;
        let quality = quality
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|q| *q <= 100)
            .ok_or(VpdqParseError::Quality)?;
        let timestamp = timestamp
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or(VpdqParseError::Timestamp)?;
        Ok(VpdqFeature {
            hash,
            quality,
            timestamp,
        })
    }

    /// Parses a JSON list of compact features (an HMA signal's `vpdq` value).
    pub fn list_from_json(json: &str) -> Result<Vec<VpdqFeature>, VpdqParseError> {
        let items: Vec<String> =
            serde_json::from_str(json).map_err(|e| VpdqParseError::Json(e.to_string()))?;
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                VpdqFeature::from_compact(item).map_err(|error| VpdqParseError::At {
                    index,
                    error: Box::new(error),
                })
            })
            .collect()
    }

    /// The compact features as a JSON list, as python-threatexchange writes them.
    pub fn list_to_json(features: &[VpdqFeature]) -> String {
        let items: Vec<String> = features.iter().map(ToString::to_string).collect();
        serde_json::to_string(&items).unwrap_or_else(|_| "[]".into())
    }
}

impl fmt::Display for VpdqFeature {
    /// The compact form, timestamp with 3 decimals (python-threatexchange reads any float).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{:.3}", self.hash, self.quality, self.timestamp)
    }
}

/// Every how many decoded frames the reference hashes one: `floor(seconds_per_hash ×
/// frame_rate)` computed in double precision, at least 1 (so `seconds_per_hash = 0` hashes
/// every frame). Frames `0, n, 2n, …` of the decoder's output are hashed.
pub fn frame_interval(seconds_per_hash: f64, frame_rate: f64) -> u64 {
    let product = seconds_per_hash * frame_rate;
    // The reference truncates toward zero into an int; a product beyond i32 there is
    // undefined, here it saturates, which hashes frame 0 only, as any huge interval would.
    if product.is_finite() && product >= 1.0 {
        product as u64
    } else {
        1
    }
}

/// The timestamp the reference gives frame `frame` (counted from 0): the frame number over
/// the frame rate, both single precision, as its `VideoMetadata` holds the rate as a float.
pub fn frame_timestamp(frame: u64, frame_rate: f64) -> f64 {
    f64::from(frame as f32 / frame_rate as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "d3d8981ba52c59e79fb49295bed80905036b1dbe57b292c8ea4fb525f52c420e";

    #[test]
    fn compact_form_round_trips_and_rejects_what_python_threatexchange_rejects() {
        let feature = VpdqFeature::from_compact(&format!("{HEX},100,0.033")).unwrap();
        assert_eq!(feature.quality, 100);
        assert_eq!(feature.to_string(), format!("{HEX},100,0.033"));
        // python-threatexchange itself writes `{:.3}` (three significant digits).
        let feature = VpdqFeature::from_compact(&format!("{HEX},49,1.23e+02")).unwrap();
        assert_eq!(feature.timestamp, 123.0);
        for bad in [
            format!("{HEX},100"),
            format!("{HEX},101,0.0"),
            format!("{HEX},-1,0.0"),
            format!("{HEX},50,-0.5"),
            format!("{HEX},50,nan"),
            format!("{},50,0.0", &HEX[1..]),
            format!("{HEX},50,0.0,1"),
        ] {
            assert!(VpdqFeature::from_compact(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_json_list_names_the_bad_feature() {
        let json = format!("[\"{HEX},100,0.000\",\"{HEX},100,x\"]");
        let err = VpdqFeature::list_from_json(&json).unwrap_err();
        assert!(matches!(err, VpdqParseError::At { index: 1, .. }), "{err}");
        let good = format!("[\"{HEX},100,0.000\",\"{HEX},90,1.000\"]");
        let features = VpdqFeature::list_from_json(&good).unwrap();
        assert_eq!(VpdqFeature::list_to_json(&features), good);
        assert!(VpdqFeature::list_from_json("{}").is_err());
    }

    #[test]
    fn sampling_and_timestamps_follow_the_reference() {
        // (seconds per hash, frame rate, interval)
        let table = [
            (1.0, 30.0, 30),
            (1.0, 29.97002997002997, 29),
            (0.0, 30.0, 1),
            (0.5, 1.0, 1),
            (2.0, 12.5, 25),
            (1.0, 0.0, 1),
            (1e300, 30.0, u64::MAX),
        ];
        for (seconds, rate, want) in table {
            assert_eq!(frame_interval(seconds, rate), want, "{seconds} × {rate}");
        }
        // 1 / 30 in single precision, as the sample hashes print it (0.033).
        assert_eq!(frame_timestamp(1, 30.0), f64::from(1.0f32 / 30.0f32));
        assert_eq!(format!("{:.3}", frame_timestamp(7, 30.0)), "0.233");
    }
}
