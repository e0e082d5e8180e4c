use std::io::{self, BufRead};

/// One framed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The line's bytes, without the line terminator (`\n` or `\r\n`).
    Line(Vec<u8>),
    /// The line was longer than the limit; it was skipped without being held in memory.
    TooLarge(u64),
}

/// Splits a reader into lines, holding at most `max_bytes` of any one line: a longer line is
/// read through and reported as [`Record::TooLarge`] with its length, so a 100 MB line costs
/// no more memory than the limit. Yields `(line_number, record)`, numbering from 1.
#[derive(Debug)]
pub struct BoundedLines<R> {
    reader: R,
    max_bytes: u64,
    line: u64,
}

impl<R: BufRead> BoundedLines<R> {
    /// Frames `reader` with a per-line limit of `max_bytes`.
    pub fn new(reader: R, max_bytes: u64) -> BoundedLines<R> {
        BoundedLines {
            reader,
            max_bytes,
            line: 0,
        }
    }
}

impl<R: BufRead> Iterator for BoundedLines<R> {
    type Item = io::Result<(u64, Record)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        let mut total: u64 = 0;
        let mut started = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if available.is_empty() {
                if !started {
                    return None;
                }
                break;
            }
            started = true;
            let (chunk_len, consumed, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (i, i + 1, true),
                None => (available.len(), available.len(), false),
            };
            total += chunk_len as u64;
            if total <= self.max_bytes {
                buf.extend_from_slice(&available[..chunk_len]);
            } else if !buf.is_empty() {
                buf = Vec::new();
            }
            self.reader.consume(consumed);
            if done {
                break;
            }
        }
        self.line += 1;
        if total > self.max_bytes {
            return Some(Ok((self.line, Record::TooLarge(total))));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Some(Ok((self.line, Record::Line(buf))))
    }
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    fn frame(input: &[u8], max: u64, capacity: usize) -> Vec<(u64, Record)> {
        BoundedLines::new(BufReader::with_capacity(capacity, input), max)
            .collect::<io::Result<_>>()
            .unwrap()
    }

    #[test]
    fn frames_lines_and_bounds_long_ones() {
        let line = |s: &str| Record::Line(s.as_bytes().to_vec());
        type Framed = Vec<(u64, Record)>;
        let table: [(&[u8], Framed); 6] = [
            (b"", vec![]),
            (
                b"a\nbb\r\n\nccc",
                vec![
                    (1, line("a")),
                    (2, line("bb")),
                    (3, line("")),
                    (4, line("ccc")),
                ],
            ),
            (b"a\n", vec![(1, line("a"))]),
            (
                b"12345678\nok\n",
                vec![(1, Record::TooLarge(8)), (2, line("ok"))],
            ),
            (b"1234567\n", vec![(1, line("1234567"))]),
            (b"\n\n", vec![(1, line("")), (2, line(""))]),
        ];
        for (input, expected) in table {
            // Tiny buffers force lines to span many fill_buf calls.
            for capacity in [1, 3, 64] {
                assert_eq!(
                    frame(input, 7, capacity),
                    expected,
                    "{input:?} capacity {capacity}"
                );
            }
        }
    }
}
