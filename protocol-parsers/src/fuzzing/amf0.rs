//! AMF0 round trip: whatever decodes must re-encode to bytes that decode and encode
//! to the same bytes.
//!
//! Bytes rather than values are compared because `NaN != NaN`, and because a few
//! inputs legitimately decode to a different value after one trip (a non-zero
//! boolean byte other than 1, an ECMA array whose count hint was wrong or whose end
//! marker was missing). After one encode the form is canonical.
//!
//! The seeds in `fuzz/corpus/amf0_roundtrip/` are written by the ignored test
//! `write_seed_corpus` below; see its comments for where each came from.

use crate::Limits;
use crate::amf0;

/// Fuzz entry point. Never panics except on a round-trip mismatch, which is a bug.
pub fn amf0_roundtrip(data: &[u8]) {
    let limits = Limits::default();
    let Ok(values) = amf0::decode(data, &limits) else {
        return;
    };
    let mut first = Vec::new();
    amf0::encode(&values, &mut first);
    let second = amf0::decode(&first, &limits).map(|again| {
        let mut bytes = Vec::new();
        amf0::encode(&again, &mut bytes);
        bytes
    });
    assert_eq!(
        second.as_ref(),
        Ok(&first),
        "re-encoding decoded AMF0 changed its bytes"
    );
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::amf0::Amf0Value;
    use crate::amf0::test_vectors::{FFMPEG_CONNECT, ffmpeg_on_metadata};

    fn encoded(values: &[Amf0Value]) -> Vec<u8> {
        let mut out = Vec::new();
        amf0::encode(values, &mut out);
        out
    }

    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let mut set_data_frame = vec![Amf0Value::string("@setDataFrame")];
        set_data_frame.extend(ffmpeg_on_metadata());
        let on_metadata = encoded(&ffmpeg_on_metadata());
        let n = Amf0Value::Number;
        let s = Amf0Value::string;
        vec![
            // Captured from ffmpeg 5.1.9 publishing; see `test_vectors::FFMPEG_CONNECT`.
            ("connect_ffmpeg_publish.bin", FFMPEG_CONNECT.to_vec()),
            // Cut inside the flashVer value of the same capture.
            (
                "connect_ffmpeg_truncated.bin",
                FFMPEG_CONNECT.iter().copied().take(80).collect(),
            ),
            // What ffmpeg's RTMP muxer sends as the data message: its FLV script tag
            // (see `test_vectors::ffmpeg_on_metadata`) behind "@setDataFrame".
            (
                "onmetadata_ffmpeg_setdataframe.bin",
                encoded(&set_data_frame),
            ),
            // The same script data without the final object-end sequence, as some
            // muxers write it.
            (
                "onmetadata_no_object_end.bin",
                on_metadata
                    .get(..on_metadata.len().saturating_sub(3))
                    .unwrap_or_default()
                    .to_vec(),
            ),
            // The commands that follow connect in an ffmpeg publish, and the server
            // reply nginx-rtmp sends to connect (values from its ngx_rtmp_cmd_module.c).
            (
                "publish_ffmpeg.bin",
                encoded(&[
                    s("publish"),
                    n(5.0),
                    Amf0Value::Null,
                    s("stream"),
                    s("live"),
                ]),
            ),
            (
                "connect_result_reply.bin",
                encoded(&[
                    s("_result"),
                    n(1.0),
                    Amf0Value::object([("fmsVer", s("FMS/3,0,1,123")), ("capabilities", n(31.0))]),
                    Amf0Value::object([
                        ("level", s("status")),
                        ("code", s("NetConnection.Connect.Success")),
                        ("description", s("Connection succeeded.")),
                        ("objectEncoding", n(0.0)),
                    ]),
                ]),
            ),
            // Synthetic: every remaining shape the decoder handles.
            (
                "strict_array_mixed.bin",
                encoded(&[Amf0Value::StrictArray(vec![
                    n(1.0),
                    s("two"),
                    Amf0Value::Boolean(true),
                    Amf0Value::Null,
                    Amf0Value::Undefined,
                    Amf0Value::StrictArray(vec![]),
                    Amf0Value::object::<String>([]),
                ])]),
            ),
            (
                "nested_objects.bin",
                encoded(&[Amf0Value::object([
                    ("", s("empty key")),
                    (
                        "a",
                        Amf0Value::object([(
                            "b",
                            Amf0Value::EcmaArray(vec![(
                                "c".to_owned(),
                                Amf0Value::StrictArray(vec![Amf0Value::object([(
                                    "d",
                                    n(f64::NAN),
                                )])]),
                            )]),
                        )]),
                    ),
                ])]),
            ),
            (
                "date.bin",
                encoded(&[
                    Amf0Value::Date {
                        millis: 1_700_000_000_000.0,
                        timezone: 0,
                    },
                    Amf0Value::Date {
                        millis: -1.0,
                        timezone: -60,
                    },
                ]),
            ),
            (
                "long_string_70000.bin",
                encoded(&[Amf0Value::string("é".repeat(35_000))]),
            ),
            (
                "long_string_short.bin",
                encoded(&[Amf0Value::LongString("fits a u16 but uses 0x0C".into())]),
            ),
        ]
    }

    #[test]
    fn seeds_round_trip() {
        for (name, bytes) in seeds() {
            amf0_roundtrip(&bytes);
            let decoded = amf0::decode(&bytes, &Limits::default());
            assert_eq!(
                decoded.is_ok(),
                name != "connect_ffmpeg_truncated.bin",
                "{name}"
            );
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for len in 0..2000 {
            let data: Vec<u8> = (0..len % 64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    // Bias towards valid markers so containers are exercised.
                    (state % 20) as u8
                })
                .collect();
            amf0_roundtrip(&data);
        }
    }

    /// Regenerates the seed corpus: `cargo test -p protocol-parsers -- --ignored
    /// write_seed_corpus`. `AMF0_SEED_DIR` overrides the destination.
    #[test]
    #[ignore = "writes into fuzz/corpus"]
    fn write_seed_corpus() {
        let dir = std::env::var_os("AMF0_SEED_DIR").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/amf0_roundtrip"),
            PathBuf::from,
        );
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
