//! AMF0 encoding. Infallible: every value has a wire form the decoder accepts (see
//! [`Amf0Value::encode`] for the few that are adjusted to get one).

use std::iter::Take;
use std::slice;

use super::Amf0Value;
use super::marker;

/// Appends the wire form of each value in `values` to `out`, in order.
pub fn encode(values: &[Amf0Value], out: &mut Vec<u8>) {
    for value in values {
        encode_value(value, out);
    }
}

/// Members of a container still to be written.
enum Pending<'v> {
    Props(slice::Iter<'v, (String, Amf0Value)>),
    Items(Take<slice::Iter<'v, Amf0Value>>),
}

/// The wire form of the object-end sequence: an empty key, then the end marker.
const OBJECT_END: [u8; 3] = [0x00, 0x00, marker::OBJECT_END];

/// Walks `root` with an explicit stack, since values built by callers are not bound
/// by `Limits::amf0_max_depth` and could be arbitrarily deep.
pub(super) fn encode_value(root: &Amf0Value, out: &mut Vec<u8>) {
    let mut stack: Vec<Pending<'_>> = Vec::new();
    stack.extend(write_head(root, out));
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Pending::Props(props) => props.next().map(|(key, value)| {
                write_utf8_u16(key, out);
                value
            }),
            Pending::Items(items) => items.next(),
        };
        match next {
            Some(value) => stack.extend(write_head(value, out)),
            None => {
                if let Some(Pending::Props(_)) = stack.pop() {
                    out.extend_from_slice(&OBJECT_END);
                }
            }
        }
    }
}

/// Writes a scalar completely, or a container's marker and header, returning its
/// members for the caller to write.
fn write_head<'v>(value: &'v Amf0Value, out: &mut Vec<u8>) -> Option<Pending<'v>> {
    match value {
        Amf0Value::Number(n) => {
            out.push(marker::NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Amf0Value::Boolean(b) => {
            out.push(marker::BOOLEAN);
            out.push(u8::from(*b));
        }
        Amf0Value::String(s) => {
            if s.len() > usize::from(u16::MAX) {
                // No 16-bit length fits; the long form carries the same text.
                write_long_string(s, out);
            } else {
                out.push(marker::STRING);
                write_utf8_u16(s, out);
            }
        }
        Amf0Value::LongString(s) => write_long_string(s, out),
        Amf0Value::Null => out.push(marker::NULL),
        Amf0Value::Undefined => out.push(marker::UNDEFINED),
        Amf0Value::Date { millis, timezone } => {
            out.push(marker::DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&timezone.to_be_bytes());
        }
        Amf0Value::Object(props) => {
            out.push(marker::OBJECT);
            return Some(Pending::Props(props.iter()));
        }
        Amf0Value::EcmaArray(props) => {
            out.push(marker::ECMA_ARRAY);
            // Only a hint to readers, so saturating is harmless.
            let hint = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&hint.to_be_bytes());
            return Some(Pending::Props(props.iter()));
        }
        Amf0Value::StrictArray(items) => {
            out.push(marker::STRICT_ARRAY);
            // The count must match the elements written, so both are capped together.
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            return Some(Pending::Items(
                items
                    .iter()
                    .take(usize::try_from(count).unwrap_or(usize::MAX)),
            ));
        }
    }
    None
}

fn write_utf8_u16(s: &str, out: &mut Vec<u8>) {
    let s = floor_char_boundary(s, usize::from(u16::MAX));
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_long_string(s: &str, out: &mut Vec<u8>) {
    let s = floor_char_boundary(s, usize::try_from(u32::MAX).unwrap_or(usize::MAX));
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.push(marker::LONG_STRING);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a character
/// boundary. (`str::floor_char_boundary` is newer than the crate's MSRV.)
fn floor_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    // A UTF-8 character is at most 4 bytes, so a boundary is at most 3 bytes back.
    (max.saturating_sub(3)..=max)
        .rev()
        .find_map(|end| s.get(..end))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(value: &Amf0Value) -> Vec<u8> {
        let mut out = Vec::new();
        value.encode(&mut out);
        out
    }

    #[test]
    fn scalars_have_their_wire_form() {
        assert_eq!(
            enc(&Amf0Value::Number(1.0)),
            [0x00, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(enc(&Amf0Value::Boolean(true)), [0x01, 0x01]);
        assert_eq!(
            enc(&Amf0Value::string("ab")),
            [0x02, 0x00, 0x02, b'a', b'b']
        );
        assert_eq!(enc(&Amf0Value::Null), [0x05]);
        assert_eq!(enc(&Amf0Value::Undefined), [0x06]);
        assert_eq!(
            enc(&Amf0Value::Date {
                millis: 0.0,
                timezone: -1
            }),
            [0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
        );
        assert_eq!(
            enc(&Amf0Value::LongString("a".into())),
            [0x0C, 0, 0, 0, 1, b'a']
        );
    }

    #[test]
    fn containers_have_their_wire_form() {
        assert_eq!(
            enc(&Amf0Value::object([("k", Amf0Value::Null)])),
            [0x03, 0x00, 0x01, b'k', 0x05, 0x00, 0x00, 0x09]
        );
        assert_eq!(
            enc(&Amf0Value::EcmaArray(vec![("k".into(), Amf0Value::Null)])),
            [0x08, 0, 0, 0, 1, 0x00, 0x01, b'k', 0x05, 0x00, 0x00, 0x09]
        );
        assert_eq!(
            enc(&Amf0Value::StrictArray(vec![
                Amf0Value::Null,
                Amf0Value::Undefined
            ])),
            [0x0A, 0, 0, 0, 2, 0x05, 0x06]
        );
    }

    #[test]
    fn oversized_string_variant_uses_long_string_marker() {
        let text = "y".repeat(65_536);
        let bytes = enc(&Amf0Value::String(text.clone()));
        assert_eq!(bytes[..5], [0x0C, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(bytes.len(), 5 + text.len());
        let max = enc(&Amf0Value::String("y".repeat(65_535)));
        assert_eq!(max[..3], [0x02, 0xFF, 0xFF]);
    }

    #[test]
    fn oversized_key_is_cut_at_a_char_boundary() {
        // 'é' is two bytes, so 65535 bytes would split the last one.
        let key = "é".repeat(40_000);
        let bytes = enc(&Amf0Value::object([(key, Amf0Value::Null)]));
        assert_eq!(bytes[1..3], 65_534_u16.to_be_bytes());
        let decoded = crate::amf0::decode(&bytes, &crate::Limits::default()).unwrap();
        let Amf0Value::Object(props) = &decoded[0] else {
            panic!("not an object: {decoded:?}");
        };
        assert_eq!(props[0].0, "é".repeat(32_767));
    }

    #[test]
    fn floor_char_boundary_backs_off_to_a_boundary() {
        assert_eq!(floor_char_boundary("abc", 5), "abc");
        assert_eq!(floor_char_boundary("abc", 2), "ab");
        assert_eq!(floor_char_boundary("a€", 3), "a");
        assert_eq!(floor_char_boundary("€", 0), "");
    }

    #[test]
    fn deep_values_encode_without_recursion() {
        // Built and dropped by hand: `Drop` itself recurses, so keep the test shallow
        // enough for that while far deeper than any decode limit.
        let mut value = Amf0Value::Null;
        for _ in 0..2_000 {
            value = Amf0Value::StrictArray(vec![value]);
        }
        let bytes = enc(&value);
        assert_eq!(bytes.len(), 2_000 * 5 + 1);
        assert_eq!(bytes[..5], [0x0A, 0, 0, 0, 1]);
        assert_eq!(bytes.last(), Some(&0x05));
    }
}
