//! Canonicalisation against the Safe Browsing specification's table ("URLs and hashing",
//! Update API v4: every example of its Canonicalization section, `source: spec`; the one
//! with raw bytes 0x01 0x80 in the host is given percent-escaped, as text cannot hold them)
//! and vigil's own cases (`source: vigil`: user info, ports, numeric hosts, international
//! and full-width names, IPv6, other schemes).
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use vigil_url::CanonicalUrl;

#[test]
fn every_example_of_the_specification_and_ours_canonicalises_as_written() {
    let table = include_str!("safe-browsing-canonicalisation.jsonl");
    let mut failures = Vec::new();
    let mut spec = 0;
    for line in table.lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let (input, expected) = (
            case["input"].as_str().unwrap(),
            case["canonical"].as_str().unwrap(),
        );
        spec += usize::from(case["source"] == "spec");
        match CanonicalUrl::parse(input) {
            Ok(url) if url.as_url() == expected => {}
            Ok(url) => failures.push(format!(
                "{input:?}: {:?}, expected {expected:?}",
                url.as_url()
            )),
            Err(err) => failures.push(format!("{input:?}: {err}, expected {expected:?}")),
        }
    }
    assert_eq!(spec, 33, "the specification's table has 33 examples");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
