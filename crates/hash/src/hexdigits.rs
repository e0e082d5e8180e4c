//! Hex decoding for hash lists, where it is the bulk of parsing a 10-million-line file: one
//! table lookup per digit.

const INVALID: u8 = 0xff;

static DIGITS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decodes `hex` (either case) into `out`, which must be half its length; false if `hex`
/// has another length or a character that is not a hex digit.
pub(crate) fn decode(hex: &[u8], out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (high, low) = (DIGITS[usize::from(pair[0])], DIGITS[usize::from(pair[1])]);
        bad |= (high | low) & 0xf0;
        *byte = (high << 4) | (low & 0x0f);
    }
    bad == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_the_hex_crate_and_rejects_what_it_rejects() {
        let cases = [
            "00ff7A",
            "DEADbeef",
            "0g",
            "zz",
            "0",
            "",
            "1234567890abcdefABCDEF",
            "é1",
        ];
        for case in cases {
            let mut ours = vec![0u8; case.len() / 2];
            let ok = decode(case.as_bytes(), &mut ours);
            match hex::decode(case) {
                Ok(reference) => assert!(ok && ours == reference, "{case}"),
                Err(_) => assert!(!ok, "{case}"),
            }
        }
    }
}
