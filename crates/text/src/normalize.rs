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
        let mut out = Normalized {
            text: String::with_capacity(original.len()),
            origin: Vec::with_capacity(original.len()),
        };
        let mut in_space = false;
        let mut index = 0u32;
        let mut rest = original;
        // Byte-at-a-time over ASCII runs (most messages), char-at-a-time otherwise.
        while !rest.is_empty() {
            let ascii = rest.bytes().take_while(u8::is_ascii).count();
            for &b in &rest.as_bytes()[..ascii] {
                // char::is_whitespace for ASCII: space, \t, \n, \x0b, \x0c, \r.
                let space = matches!(b, b' ' | b'\t'..=b'\r');
                out.push_char(
                    space,
                    &mut in_space,
                    char::from(b.to_ascii_lowercase()),
                    index,
                );
                index += 1;
            }
            rest = &rest[ascii..];
            let Some(c) = rest.chars().next() else { break };
            rest = &rest[c.len_utf8()..];
            if c.is_whitespace() {
                out.push_char(true, &mut in_space, ' ', index);
            }
            for lower in c.to_lowercase().filter(|_| !c.is_whitespace()) {
                out.push_char(false, &mut in_space, lower, index);
            }
            index += 1;
        }
        out
    }

    /// Appends `c` (from original character `index`), folding runs of white space into one.
    fn push_char(&mut self, space: bool, in_space: &mut bool, c: char, index: u32) {
        if space && *in_space {
            return;
        }
        *in_space = space;
        self.text.push(if space { ' ' } else { c });
        self.origin.extend(std::iter::repeat_n(index, c.len_utf8()));
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
            // Non-ASCII white space (ideographic space, no-break space) folds too.
            ("a\u{3000}\u{a0} B", "a b", "b", (4, 5)),
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
