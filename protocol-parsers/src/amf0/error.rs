//! Why an AMF0 decode failed.

/// An AMF0 payload was malformed or exceeded a [`Limits`](crate::Limits) value.
///
/// Encoding cannot fail, so every variant describes peer input.
#[non_exhaustive]
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Amf0Error {
    /// The input ended in the middle of a value: a marker, a length, a payload or a
    /// property key, or a strict array announced more elements than followed.
    #[error("AMF0 input ended inside a value")]
    Truncated,
    /// A type marker outside the AMF0 specification (0x12 and above).
    #[error("unknown AMF0 type marker {0:#04x}")]
    UnknownMarker(u8),
    /// A marker the specification defines but RTMP peers have no business sending:
    /// movieclip (0x04), reference (0x07), unsupported (0x0D), recordset (0x0E),
    /// XML document (0x0F), typed object (0x10) and the AVM+ switch (0x11).
    #[error("unsupported AMF0 type marker {0:#04x}")]
    UnsupportedMarker(u8),
    /// An object-end marker (0x09) appeared where a value was expected.
    #[error("AMF0 object-end marker where a value was expected")]
    UnexpectedObjectEnd,
    /// Objects, ECMA arrays and strict arrays were nested deeper than
    /// `Limits::amf0_max_depth`.
    #[error("AMF0 values nested deeper than {max}")]
    TooDeep { max: usize },
    /// The payload held more values (counting every property and element) than
    /// `Limits::amf0_max_values`, or a strict array announced more than remained allowed.
    #[error("AMF0 payload holds more than {max} values")]
    TooManyValues { max: usize },
    /// A string or property key was not valid UTF-8.
    #[error("AMF0 string is not valid UTF-8")]
    InvalidUtf8,
    /// The input ended between two properties of an object or ECMA array that was
    /// never closed with the object-end marker.
    #[error("AMF0 input ended before an object or ECMA array was closed")]
    MissingObjectEnd,
}
