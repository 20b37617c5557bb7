//! The value syntax of M3U8 attribute lists (RFC 8216 4.2) and URI lines.
//!
//! Playlists must not contain control characters other than the line break, and a
//! quoted-string cannot contain a double quote. URIs and codec strings reach the
//! writer from configuration (stream names) and from the server, so they are
//! sanitised here instead of trusted: a stray line break would otherwise inject
//! playlist lines.

use std::fmt;

/// A quoted-string attribute value: `"..."`, with `"` and control characters
/// percent-encoded (the only values written this way are URIs and codec strings).
pub(super) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        write_encoded(f, self.0, |c| c == '"' || c.is_control())?;
        f.write_str("\"")
    }
}

/// A URI line. Besides control characters, a leading `#` is encoded, since the line
/// would otherwise be read as a comment or a tag.
pub(super) struct UriLine<'a>(pub &'a str);

impl fmt::Display for UriLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rest = match self.0.strip_prefix('#') {
            Some(rest) => {
                f.write_str("%23")?;
                rest
            }
            None => self.0,
        };
        write_encoded(f, rest, char::is_control)
    }
}

/// Writes `text`, percent-encoding the UTF-8 bytes of every character `encode` selects.
fn write_encoded(
    f: &mut fmt::Formatter<'_>,
    text: &str,
    encode: impl Fn(char) -> bool,
) -> fmt::Result {
    let mut run_start = 0;
    for (at, c) in text.char_indices() {
        if encode(c) {
            f.write_str(text.get(run_start..at).unwrap_or_default())?;
            let mut utf8 = [0u8; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                write!(f, "%{byte:02X}")?;
            }
            run_start = at + c.len_utf8();
        }
    }
    f.write_str(text.get(run_start..).unwrap_or_default())
}

/// A decimal-floating-point attribute value (durations in seconds): at most five
/// decimals, which keeps part durations of 1/30 s multiples exact to 10 µs.
pub(super) fn seconds(value: f64) -> String {
    crate::text::trimmed(value, 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_encodes_quotes_and_line_breaks() {
        assert_eq!(Quoted("seg-1.m4s").to_string(), "\"seg-1.m4s\"");
        assert_eq!(
            Quoted("a\"b\r\nc\u{85}é").to_string(),
            "\"a%22b%0D%0Ac%C2%85é\""
        );
    }

    #[test]
    fn uri_line_cannot_become_a_tag() {
        assert_eq!(UriLine("live/seg 1.ts").to_string(), "live/seg 1.ts");
        assert_eq!(UriLine("#EXT-X-ENDLIST").to_string(), "%23EXT-X-ENDLIST");
        assert_eq!(
            UriLine("a.ts\n#EXT-X-ENDLIST").to_string(),
            "a.ts%0A#EXT-X-ENDLIST"
        );
        // A quote is legal on a URI line.
        assert_eq!(UriLine("a\"b").to_string(), "a\"b");
    }

    #[test]
    fn seconds_are_trimmed() {
        assert_eq!(seconds(1.0), "1");
        assert_eq!(seconds(0.333_336), "0.33334");
        assert_eq!(seconds(-2.0), "0");
    }
}
