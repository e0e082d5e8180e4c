use vigil_core::Span;

/// A normalised text with, for each of its bytes, the index of the original character it came
/// from — so a match in the normalised text maps back to a [`Span`] of the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The normalised text the automata run over.
    pub text: String,
    origin: Vec<u32>,
}

impl Normalized {
    /// Normalises `original`: each character lower-cased (Unicode), each run of white space
    /// replaced by one space.
    pub fn new(original: &str) -> Normalized {
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len());
        let mut in_space = false;
        for (index, c) in original.chars().enumerate() {
            let index = index as u32;
            if c.is_whitespace() {
                if !in_space {
                    text.push(' ');
                    origin.push(index);
                }
                in_space = true;
                continue;
            }
            in_space = false;
            for lower in c.to_lowercase() {
                text.push(lower);
                origin.extend(std::iter::repeat_n(index, lower.len_utf8()));
            }
        }
        Normalized { text, origin }
    }

    /// The original character span of the normalised byte range `start..end` (non-empty,
    /// on character boundaries, as automata report them).
    pub fn span(&self, start: usize, end: usize) -> Span {
        Span {
            start: self.origin[start] as usize,
            end: self.origin[end - 1] as usize + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_back_to_original_characters() {
        let table = [
            // (original, normalised, a needle in the normalised text, its original span)
            ("Hello  World", "hello world", "world", (7, 12)),
            ("ÀB\t\n c", "àb c", "b c", (1, 6)),
            ("ünï ÇODE", "ünï çode", "çode", (4, 8)),
            // 'İ' lower-cases to two characters; both map to the one original.
            ("xİy", "xi\u{307}y", "i\u{307}y", (1, 3)),
            ("😀 Keep", "😀 keep", "keep", (2, 6)),
        ];
        for (original, normalised, needle, (start, end)) in table {
            let n = Normalized::new(original);
            assert_eq!(n.text, normalised, "{original:?}");
            let at = n.text.find(needle).unwrap();
            assert_eq!(
                n.span(at, at + needle.len()),
                Span { start, end },
                "{original:?}"
            );
            let chars: Vec<char> = original.chars().collect();
            let found: String = chars[start..end].iter().collect();
            assert_eq!(Normalized::new(&found).text, needle, "{original:?}");
        }
    }
}
