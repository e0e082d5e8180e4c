use std::fmt;

/// The attachment media types vigil knows. Every known type is exact-hashed; the image types
/// are also what perceptual hashing decodes, the video types what the video workers decode. Anything else is reported as
/// [`ReasonCode::UnsupportedMediaType`](crate::ReasonCode::UnsupportedMediaType) (its bytes are
/// still exact-hashed, since a listed file must match whatever its label says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `image/jpeg` (also accepted: `image/jpg`, `image/pjpeg`).
    Jpeg,
    /// `image/png`.
    Png,
    /// `image/gif`.
    Gif,
    /// `image/webp`.
    Webp,
    /// `image/bmp` (also `image/x-ms-bmp`).
    Bmp,
    /// `image/tiff`.
    Tiff,
    /// `video/mp4`.
    Mp4,
    /// `video/quicktime`.
    Quicktime,
    /// `video/webm`.
    Webm,
    /// `video/x-matroska` (also `video/matroska`).
    Matroska,
    /// `video/3gpp` (also `video/3gpp2`).
    ThreeGpp,
}

impl MediaType {
    /// Parses a media type, ignoring case and parameters (`image/PNG; charset=x` is PNG).
    /// Returns `None` for types vigil does not know.
    pub fn parse(value: &str) -> Option<MediaType> {
        let essence = value.split(';').next().unwrap_or("").trim();
        let known = [
            ("image/jpeg", MediaType::Jpeg),
            ("image/jpg", MediaType::Jpeg),
            ("image/pjpeg", MediaType::Jpeg),
            ("image/png", MediaType::Png),
            ("image/gif", MediaType::Gif),
            ("image/webp", MediaType::Webp),
            ("image/bmp", MediaType::Bmp),
            ("image/x-ms-bmp", MediaType::Bmp),
            ("image/tiff", MediaType::Tiff),
            ("video/mp4", MediaType::Mp4),
            ("video/quicktime", MediaType::Quicktime),
            ("video/webm", MediaType::Webm),
            ("video/x-matroska", MediaType::Matroska),
            ("video/matroska", MediaType::Matroska),
            ("video/3gpp", MediaType::ThreeGpp),
            ("video/3gpp2", MediaType::ThreeGpp),
        ];
        known
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(essence))
            .map(|&(_, media)| media)
    }

    /// Whether the type is an image format (vigil decodes these for perceptual hashing).
    pub fn is_image(self) -> bool {
        !self.is_video()
    }

    /// Whether the type is a video container (decoded by the video workers, as are animated
    /// GIF, WebP and PNG).
    pub fn is_video(self) -> bool {
        matches!(
            self,
            MediaType::Mp4
                | MediaType::Quicktime
                | MediaType::Webm
                | MediaType::Matroska
                | MediaType::ThreeGpp
        )
    }

    /// The canonical name, e.g. `image/jpeg`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
            MediaType::Gif => "image/gif",
            MediaType::Webp => "image/webp",
            MediaType::Bmp => "image/bmp",
            MediaType::Tiff => "image/tiff",
            MediaType::Mp4 => "video/mp4",
            MediaType::Quicktime => "video/quicktime",
            MediaType::Webm => "video/webm",
            MediaType::Matroska => "video/x-matroska",
            MediaType::ThreeGpp => "video/3gpp",
        }
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aliases_case_and_parameters() {
        let table = [
            ("image/jpeg", Some(MediaType::Jpeg)),
            ("IMAGE/JPG", Some(MediaType::Jpeg)),
            ("image/png; foo=bar", Some(MediaType::Png)),
            (" video/mp4 ", Some(MediaType::Mp4)),
            ("image/x-ms-bmp", Some(MediaType::Bmp)),
            ("video/X-Matroska", Some(MediaType::Matroska)),
            ("video/3gpp2", Some(MediaType::ThreeGpp)),
            ("image/svg+xml", None),
            ("application/octet-stream", None),
            ("png", None),
            ("", None),
        ];
        for (input, expected) in table {
            assert_eq!(MediaType::parse(input), expected, "{input:?}");
        }
    }
}
