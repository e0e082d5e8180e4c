//! Checks shared by the fuzz targets in `fuzz_targets/`.

use vigil_core::Span;
use vigil_text::KeywordMatcher;

/// The byte offset of each character of `text`, then `text.len()`: character span
/// `[s, e)` is bytes `bounds[s]..bounds[e]`.
pub fn char_bounds(text: &str) -> Vec<usize> {
    text.char_indices()
        .map(|(b, _)| b)
        .chain([text.len()])
        .collect()
}

/// Asserts that `span` is a non-empty range of characters of `text` (whose [`char_bounds`]
/// are `bounds`) that maps to a byte range on its character boundaries.
pub fn check_span(text: &str, bounds: &[usize], span: Span, what: &str) {
    let chars = bounds.len() - 1;
    assert!(
        span.start < span.end && span.end <= chars,
        "{what}: span {span:?} outside the text's {chars} characters"
    );
    assert!(
        text.get(bounds[span.start]..bounds[span.end]).is_some(),
        "{what}: span {span:?} is not on character boundaries"
    );
}

/// Runs `matcher` over `text` and checks every hit: at least one span, each inside the text,
/// in order without repeats, as `TextHit::spans` documents.
pub fn check_matches(matcher: &KeywordMatcher, text: &str) {
    let bounds = char_bounds(text);
    for hit in matcher.find(text) {
        assert!(
            !hit.spans.is_empty(),
            "rule {} hit without a span",
            hit.rule_id
        );
        for span in &hit.spans {
            check_span(text, &bounds, *span, hit.rule_id);
        }
        assert!(
            hit.spans.windows(2).all(|w| w[0] < w[1]),
            "rule {}: spans out of order or repeated: {:?}",
            hit.rule_id,
            hit.spans
        );
    }
}
