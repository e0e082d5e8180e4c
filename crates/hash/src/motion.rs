//! Recognising moving pictures from their first bytes: video containers, and the image
//! formats that can animate (GIF, PNG, WebP) when they do. Only a look at the structure:
//! the video workers decode; this decides which attachments go to them.

/// What kind of moving picture `bytes` hold, if any: `"iso-bmff"` (MP4, QuickTime, 3GP),
/// `"matroska"` (also WebM), `"animated-gif"`, `"animated-png"` or `"animated-webp"`.
/// A still GIF, PNG or WebP is not moving (the image detector hashes it).
pub fn sniff_video(bytes: &[u8]) -> Option<&'static str> {
    if matches!(bytes.get(4..8), Some(b"ftyp" | b"moov")) {
        Some("iso-bmff")
    } else if bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("matroska")
    } else if gif_has_two_images(bytes) {
        Some("animated-gif")
    } else if png_has_animation_control(bytes) {
        Some("animated-png")
    } else if webp_is_animated(bytes) {
        Some("animated-webp")
    } else {
        None
    }
}

/// Whether a GIF holds at least two image descriptors, walking its blocks (each step moves
/// forward, so a hostile file ends the walk at its end).
fn gif_has_two_images(b: &[u8]) -> bool {
    if !(b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")) {
        return false;
    }
    let walk = || -> Option<bool> {
        let mut i = 13 + color_table(*b.get(10)?);
        let mut images = 0;
        loop {
            match *b.get(i)? {
                0x2c => {
                    images += 1;
                    if images == 2 {
                        return Some(true);
                    }
                    i += 10 + color_table(*b.get(i + 9)?) + 1;
                    i = skip_sub_blocks(b, i)?;
                }
                0x21 => i = skip_sub_blocks(b, i + 2)?,
                _ => return Some(false),
            }
        }
    };
    walk().unwrap_or(false)
}

/// The size of the colour table a GIF packed-fields byte announces.
fn color_table(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 7) + 1)
    }
}

/// The position after a GIF sub-block chain starting at `i`.
fn skip_sub_blocks(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let n = usize::from(*b.get(i)?);
        i += 1;
        if n == 0 {
            return Some(i);
        }
        i += n;
    }
}

/// Whether a PNG has an `acTL` chunk before its image data (APNG).
fn png_has_animation_control(b: &[u8]) -> bool {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return false;
    }
    let mut i = 8;
    while let (Some(len), Some(kind)) = (b.get(i..i + 4), b.get(i + 4..i + 8)) {
        match kind {
            b"acTL" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => {}
        }
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        i = i.saturating_add(12).saturating_add(len);
    }
    false
}

/// Whether a WebP's extended header sets the animation flag.
fn webp_is_animated(b: &[u8]) -> bool {
    b.starts_with(b"RIFF")
        && b.get(8..16) == Some(b"WEBPVP8X")
        && b.get(20).is_some_and(|flags| flags & 0x02 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GIF with `images` 1×1 frames, each in a graphic control extension.
    fn gif(images: usize) -> Vec<u8> {
        let mut g = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
        for _ in 0..images {
            g.extend_from_slice(b"\x21\xf9\x04\x00\x0a\x00\x00\x00");
            g.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00");
        }
        g.push(0x3b);
        g
    }

    #[test]
    fn recognises_containers_and_animations_but_not_stills() {
        let mut apng = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        apng.extend_from_slice(&[0; 17]);
        let mut still_png = apng.clone();
        apng.extend_from_slice(b"\0\0\0\x08acTL\0\0\0\x02\0\0\0\0\0\0\0\0");
        still_png.extend_from_slice(b"\0\0\0\x00IDAT\0\0\0\0");
        let webp = |flags: u8| {
            let mut w = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
            w.push(flags);
            w.extend_from_slice(&[0; 9]);
            w
        };
        let table: [(&str, Vec<u8>, Option<&str>); 10] = [
            (
                "mp4",
                b"\0\0\0\x20ftypisom\0\0\x02\0".to_vec(),
                Some("iso-bmff"),
            ),
            ("old mov", b"\0\0\0\x08moov".to_vec(), Some("iso-bmff")),
            ("webm", vec![0x1a, 0x45, 0xdf, 0xa3, 0x9f], Some("matroska")),
            ("gif, two frames", gif(2), Some("animated-gif")),
            ("gif, one frame", gif(1), None),
            (
                "gif, cut inside its second frame",
                gif(2)[..40].to_vec(),
                None,
            ),
            ("apng", apng, Some("animated-png")),
            ("png", still_png, None),
            ("animated webp", webp(0x02), Some("animated-webp")),
            ("still extended webp", webp(0x10), None),
        ];
        for (name, bytes, expected) in table {
            assert_eq!(sniff_video(&bytes), expected, "{name}");
        }
    }

    #[test]
    fn hostile_structures_end_the_walk() {
        // Lengths pointing far past the end, and a GIF whose blocks never end.
        assert_eq!(sniff_video(b"\x89PNG\r\n\x1a\n\xff\xff\xff\xffzzzz"), None);
        let mut endless = gif(1);
        endless.pop();
        endless.extend(std::iter::repeat_n(0x21, 1000));
        assert_eq!(sniff_video(&endless), None);
        assert_eq!(sniff_video(b""), None);
    }
}
