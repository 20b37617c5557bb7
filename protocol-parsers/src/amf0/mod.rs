//! AMF0, the value encoding of RTMP commands and FLV script data.
//!
//! [`decode`] reads every value in a buffer (an RTMP command body is a sequence of
//! top-level values: name, transaction id, command object, arguments) and
//! [`encode`] writes them back. Decoding is checked against
//! [`Limits`](crate::Limits):
//! - `amf0_max_depth` bounds how deeply objects, ECMA arrays and strict arrays nest.
//!   The decoder keeps its own stack rather than recursing, so even hostile nesting
//!   costs heap proportional to the limit, never call stack.
//! - `amf0_max_values` bounds the number of values per [`decode`] call, counting every
//!   top-level value, property value and array element. Counts read off the wire
//!   (strict array length, ECMA array hint) never size an allocation.
//!
//! Leniencies, each because real encoders need it:
//! - A top-level ECMA array may end at end of input without the object-end marker;
//!   some FLV muxers write `onMetaData` that way.
//! - A property with an empty key is accepted when the next byte is not the
//!   object-end marker (librtmp does the same), so every key round-trips.
//! - Any non-zero boolean byte is `true`.

mod decode;
mod encode;
mod error;
mod value;

pub use decode::decode;
pub use encode::encode;
pub use error::Amf0Error;
pub use value::Amf0Value;

/// Type markers from the AMF0 specification, section 2.1.
mod marker {
    pub(super) const NUMBER: u8 = 0x00;
    pub(super) const BOOLEAN: u8 = 0x01;
    pub(super) const STRING: u8 = 0x02;
    pub(super) const OBJECT: u8 = 0x03;
    pub(super) const MOVIECLIP: u8 = 0x04;
    pub(super) const NULL: u8 = 0x05;
    pub(super) const UNDEFINED: u8 = 0x06;
    pub(super) const REFERENCE: u8 = 0x07;
    pub(super) const ECMA_ARRAY: u8 = 0x08;
    pub(super) const OBJECT_END: u8 = 0x09;
    pub(super) const STRICT_ARRAY: u8 = 0x0A;
    pub(super) const DATE: u8 = 0x0B;
    pub(super) const LONG_STRING: u8 = 0x0C;
    pub(super) const UNSUPPORTED: u8 = 0x0D;
    pub(super) const RECORDSET: u8 = 0x0E;
    pub(super) const XML_DOCUMENT: u8 = 0x0F;
    pub(super) const TYPED_OBJECT: u8 = 0x10;
    pub(super) const AVMPLUS_OBJECT: u8 = 0x11;
}

/// Binary vectors shared by the unit tests and the fuzz seed generator.
#[cfg(test)]
pub(crate) mod test_vectors {
    use super::Amf0Value;

    /// The `connect` command body ffmpeg 5.1.9 (Lavf59.27.100) sends when publishing.
    /// Captured from the wire: a throwaway Python server on 127.0.0.1:1935 did the
    /// plain handshake, reassembled chunks and saved the first type-20 message, while
    /// `ffmpeg -f lavfi -i testsrc -t 1 -c:v flv -f flv rtmp://127.0.0.1:1935/live/stream`
    /// published to it.
    pub(crate) const FFMPEG_CONNECT: &[u8] = &[
        0x02, 0x00, 0x07, 0x63, 0x6f, 0x6e, 0x6e, 0x65, 0x63, 0x74, 0x00, 0x3f, 0xf0, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x03, 0x61, 0x70, 0x70, 0x02, 0x00, 0x04, 0x6c, 0x69,
        0x76, 0x65, 0x00, 0x04, 0x74, 0x79, 0x70, 0x65, 0x02, 0x00, 0x0a, 0x6e, 0x6f, 0x6e, 0x70,
        0x72, 0x69, 0x76, 0x61, 0x74, 0x65, 0x00, 0x08, 0x66, 0x6c, 0x61, 0x73, 0x68, 0x56, 0x65,
        0x72, 0x02, 0x00, 0x24, 0x46, 0x4d, 0x4c, 0x45, 0x2f, 0x33, 0x2e, 0x30, 0x20, 0x28, 0x63,
        0x6f, 0x6d, 0x70, 0x61, 0x74, 0x69, 0x62, 0x6c, 0x65, 0x3b, 0x20, 0x4c, 0x61, 0x76, 0x66,
        0x35, 0x39, 0x2e, 0x32, 0x37, 0x2e, 0x31, 0x30, 0x30, 0x29, 0x00, 0x05, 0x74, 0x63, 0x55,
        0x72, 0x6c, 0x02, 0x00, 0x1a, 0x72, 0x74, 0x6d, 0x70, 0x3a, 0x2f, 0x2f, 0x31, 0x32, 0x37,
        0x2e, 0x30, 0x2e, 0x30, 0x2e, 0x31, 0x3a, 0x31, 0x39, 0x33, 0x35, 0x2f, 0x6c, 0x69, 0x76,
        0x65, 0x00, 0x00, 0x09,
    ];

    /// What [`FFMPEG_CONNECT`] decodes to.
    pub(crate) fn ffmpeg_connect() -> Vec<Amf0Value> {
        vec![
            Amf0Value::string("connect"),
            Amf0Value::Number(1.0),
            Amf0Value::object([
                ("app", Amf0Value::string("live")),
                ("type", Amf0Value::string("nonprivate")),
                (
                    "flashVer",
                    Amf0Value::string("FMLE/3.0 (compatible; Lavf59.27.100)"),
                ),
                ("tcUrl", Amf0Value::string("rtmp://127.0.0.1:1935/live")),
            ]),
        ]
    }

    /// The `onMetaData` script data ffmpeg 5.1.9 writes for one second of 320x240
    /// Sorenson video and 44.1 kHz MP3 (`ffmpeg -f lavfi -i testsrc -f lavfi -i sine
    /// -t 1 -c:v flv -c:a mp3 -f flv`). Encoding these values reproduces the captured
    /// script tag body byte for byte (checked when the seeds were generated).
    pub(crate) fn ffmpeg_on_metadata() -> Vec<Amf0Value> {
        let n = Amf0Value::Number;
        vec![
            Amf0Value::string("onMetaData"),
            Amf0Value::EcmaArray(
                [
                    ("duration", n(1.025)),
                    ("width", n(320.0)),
                    ("height", n(240.0)),
                    ("videodatarate", n(195.3125)),
                    ("framerate", n(25.0)),
                    ("videocodecid", n(2.0)),
                    ("audiodatarate", n(0.0)),
                    ("audiosamplerate", n(44100.0)),
                    ("audiosamplesize", n(16.0)),
                    ("stereo", Amf0Value::Boolean(false)),
                    ("audiocodecid", n(2.0)),
                    ("encoder", Amf0Value::string("Lavf59.27.100")),
                    ("filesize", n(63819.0)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            ),
        ]
    }
}
