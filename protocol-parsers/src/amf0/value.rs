//! The decoded form of one AMF0 value.

/// One AMF0 value.
///
/// Objects and ECMA arrays keep their properties in wire order, duplicates included,
/// because RTMP peers are inconsistent about both and a round trip must not reorder.
///
/// `Clone`, `PartialEq`, `Debug` and `Drop` recurse through nested values; values
/// produced by [`decode`](super::decode()) are bounded by `Limits::amf0_max_depth`.
#[derive(Debug, Clone, PartialEq)]
pub enum Amf0Value {
    Number(f64),
    Boolean(bool),
    /// A string with a 16-bit length on the wire. One longer than 65535 bytes is
    /// written as a long string (see [`Amf0Value::encode`]).
    String(String),
    Object(Vec<(String, Amf0Value)>),
    Null,
    Undefined,
    /// An associative array. The count on the wire is only a hint and is not kept.
    EcmaArray(Vec<(String, Amf0Value)>),
    StrictArray(Vec<Amf0Value>),
    /// Milliseconds since the Unix epoch and a time zone offset the specification
    /// says to ignore; it is kept so that a round trip is byte-exact.
    Date {
        millis: f64,
        timezone: i16,
    },
    /// A string with a 32-bit length on the wire.
    LongString(String),
}

impl Amf0Value {
    /// The text of a `String` or `LongString`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) | Self::LongString(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The first property named `key` of an `Object` or `EcmaArray`.
    ///
    /// First match, because that is what Flash Media Server and nginx-rtmp act on
    /// when a peer repeats a key.
    pub fn property(&self, key: &str) -> Option<&Amf0Value> {
        match self {
            Self::Object(props) | Self::EcmaArray(props) => {
                props.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// A `String`, or a `LongString` when `s` does not fit a 16-bit length.
    pub fn string(s: impl Into<String>) -> Self {
        let s = s.into();
        if s.len() > usize::from(u16::MAX) {
            Self::LongString(s)
        } else {
            Self::String(s)
        }
    }

    /// An `Object` with `props` in iteration order.
    pub fn object<K: Into<String>>(props: impl IntoIterator<Item = (K, Amf0Value)>) -> Self {
        Self::Object(props.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Appends the wire form of this value to `out`.
    ///
    /// Always produces input that [`decode`](super::decode()) accepts, which means a few
    /// values are written in a form that decodes to something slightly different:
    /// - `String(s)` longer than 65535 bytes is written with the long-string marker
    ///   and decodes as `LongString(s)`.
    /// - A property key longer than 65535 bytes (keys have no long form) is cut to
    ///   the last character boundary at or below 65535 bytes.
    /// - A long string over 4 GiB is cut the same way at `u32::MAX` bytes, and a
    ///   strict array of more than `u32::MAX` elements keeps the first `u32::MAX`.
    ///
    /// Nesting is walked with an explicit stack, so deep values cannot overflow the
    /// call stack here.
    pub fn encode(&self, out: &mut Vec<u8>) {
        super::encode::encode_value(self, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_match_only_their_variant() {
        assert_eq!(Amf0Value::String("a".into()).as_str(), Some("a"));
        assert_eq!(Amf0Value::LongString("b".into()).as_str(), Some("b"));
        assert_eq!(Amf0Value::Number(1.0).as_str(), None);
        assert_eq!(Amf0Value::Number(2.5).as_number(), Some(2.5));
        assert_eq!(Amf0Value::Boolean(true).as_number(), None);
        assert_eq!(Amf0Value::Boolean(true).as_bool(), Some(true));
        assert_eq!(Amf0Value::Null.as_bool(), None);
    }

    #[test]
    fn property_returns_first_match_in_objects_and_ecma_arrays() {
        let props = vec![
            ("app".to_owned(), Amf0Value::string("live")),
            ("app".to_owned(), Amf0Value::string("other")),
        ];
        for v in [
            Amf0Value::Object(props.clone()),
            Amf0Value::EcmaArray(props),
        ] {
            assert_eq!(v.property("app"), Some(&Amf0Value::string("live")));
            assert_eq!(v.property("tcUrl"), None);
        }
        assert_eq!(Amf0Value::StrictArray(vec![]).property("app"), None);
    }

    #[test]
    fn string_picks_long_string_above_u16_max() {
        let short = "x".repeat(65535);
        let long = "x".repeat(65536);
        assert!(matches!(Amf0Value::string(short), Amf0Value::String(_)));
        assert!(matches!(Amf0Value::string(long), Amf0Value::LongString(_)));
    }

    #[test]
    fn object_keeps_order() {
        let v = Amf0Value::object([("b", Amf0Value::Null), ("a", Amf0Value::Undefined)]);
        assert_eq!(
            v,
            Amf0Value::Object(vec![
                ("b".to_owned(), Amf0Value::Null),
                ("a".to_owned(), Amf0Value::Undefined),
            ])
        );
    }
}
