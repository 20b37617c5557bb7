//! AMF0 decoding with an explicit stack, so nesting depth is a checked limit rather
//! than a property of the call stack.

use std::mem;

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_f64, be_i16, be_u8, be_u16, be_u32};

use super::marker;
use super::{Amf0Error, Amf0Value};
use crate::limits::Limits;

/// Decodes every value in `input`, in order, until the input is exhausted.
///
/// Empty input yields no values. Limits are applied to this call as a whole; see the
/// [module docs](super) for which and for the leniencies accepted.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Vec<Amf0Value>, Amf0Error> {
    let mut decoder = Decoder {
        rest: input,
        limits,
        values: 0,
    };
    let mut out = Vec::new();
    while !decoder.rest.is_empty() {
        out.push(decoder.value()?);
    }
    Ok(out)
}

struct Decoder<'a, 'l> {
    rest: &'a [u8],
    limits: &'l Limits,
    /// Values started so far in this call, checked against `amf0_max_values`.
    values: usize,
}

/// A container whose members are still being read.
enum Open {
    Map {
        /// ECMA arrays, unlike objects, may lack the end marker at end of input.
        ecma: bool,
        props: Vec<(String, Amf0Value)>,
        /// Key of the property whose value is being read.
        key: String,
    },
    Strict {
        items: Vec<Amf0Value>,
        /// Elements announced but not yet started.
        remaining: u32,
    },
}

impl Open {
    fn accept(&mut self, value: Amf0Value) {
        match self {
            Self::Map { props, key, .. } => props.push((mem::take(key), value)),
            Self::Strict { items, .. } => items.push(value),
        }
    }

    fn finish(self) -> Amf0Value {
        match self {
            Self::Map {
                ecma: false, props, ..
            } => Amf0Value::Object(props),
            Self::Map {
                ecma: true, props, ..
            } => Amf0Value::EcmaArray(props),
            Self::Strict { items, .. } => Amf0Value::StrictArray(items),
        }
    }
}

/// What reading a marker produced.
enum Start {
    Scalar(Amf0Value),
    Container(Open),
}

impl<'a> Decoder<'a, '_> {
    /// Reads one complete top-level value.
    fn value(&mut self) -> Result<Amf0Value, Amf0Error> {
        let mut current = match self.start(0)? {
            Start::Scalar(value) => return Ok(value),
            Start::Container(open) => open,
        };
        // Containers enclosing `current`, outermost first. Its length plus one is the
        // nesting depth, which `start` checks before pushing another level.
        let mut parents: Vec<Open> = Vec::new();
        loop {
            let has_next = match &mut current {
                Open::Map { ecma, key, .. } => match self.key_or_end(*ecma, parents.is_empty())? {
                    Some(k) => {
                        *key = k;
                        true
                    }
                    None => false,
                },
                Open::Strict { remaining, .. } => match remaining.checked_sub(1) {
                    Some(left) => {
                        *remaining = left;
                        true
                    }
                    None => false,
                },
            };
            let value = if has_next {
                match self.start(parents.len() + 1)? {
                    Start::Scalar(value) => value,
                    Start::Container(child) => {
                        parents.push(mem::replace(&mut current, child));
                        continue;
                    }
                }
            } else {
                match parents.pop() {
                    None => return Ok(current.finish()),
                    Some(parent) => mem::replace(&mut current, parent).finish(),
                }
            };
            current.accept(value);
        }
    }

    /// Reads a marker and, for scalars, the whole value; for containers, the header.
    /// `depth` is the number of containers already open around this value.
    fn start(&mut self, depth: usize) -> Result<Start, Amf0Error> {
        self.values += 1;
        if self.values > self.limits.amf0_max_values {
            return Err(Amf0Error::TooManyValues {
                max: self.limits.amf0_max_values,
            });
        }
        let scalar = match self.read(be_u8)? {
            marker::NUMBER => Amf0Value::Number(self.read(be_f64)?),
            marker::BOOLEAN => Amf0Value::Boolean(self.read(be_u8)? != 0),
            marker::STRING => Amf0Value::String(self.utf8_u16()?),
            marker::NULL => Amf0Value::Null,
            marker::UNDEFINED => Amf0Value::Undefined,
            marker::DATE => Amf0Value::Date {
                millis: self.read(be_f64)?,
                timezone: self.read(be_i16)?,
            },
            marker::LONG_STRING => {
                let len = self.read(be_u32)?;
                Amf0Value::LongString(self.utf8(len)?)
            }
            marker::OBJECT => {
                self.check_depth(depth)?;
                return Ok(Start::Container(Open::Map {
                    ecma: false,
                    props: Vec::new(),
                    key: String::new(),
                }));
            }
            marker::ECMA_ARRAY => {
                self.check_depth(depth)?;
                // The count is a hint that encoders often get wrong (or leave at zero);
                // the end marker is what terminates the array.
                let _hint = self.read(be_u32)?;
                return Ok(Start::Container(Open::Map {
                    ecma: true,
                    props: Vec::new(),
                    key: String::new(),
                }));
            }
            marker::STRICT_ARRAY => {
                self.check_depth(depth)?;
                let count = self.read(be_u32)?;
                self.check_announced(count)?;
                return Ok(Start::Container(Open::Strict {
                    items: Vec::new(),
                    remaining: count,
                }));
            }
            marker::OBJECT_END => return Err(Amf0Error::UnexpectedObjectEnd),
            m @ (marker::MOVIECLIP
            | marker::REFERENCE
            | marker::UNSUPPORTED
            | marker::RECORDSET
            | marker::XML_DOCUMENT
            | marker::TYPED_OBJECT
            | marker::AVMPLUS_OBJECT) => return Err(Amf0Error::UnsupportedMarker(m)),
            m => return Err(Amf0Error::UnknownMarker(m)),
        };
        Ok(Start::Scalar(scalar))
    }

    fn check_depth(&self, depth: usize) -> Result<(), Amf0Error> {
        if depth >= self.limits.amf0_max_depth {
            return Err(Amf0Error::TooDeep {
                max: self.limits.amf0_max_depth,
            });
        }
        Ok(())
    }

    /// Fails fast on a strict array that cannot be satisfied, so a bogus count costs
    /// nothing: each element is at least a marker byte and one counted value.
    fn check_announced(&self, count: u32) -> Result<(), Amf0Error> {
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let budget = self.limits.amf0_max_values.saturating_sub(self.values);
        if count > budget {
            return Err(Amf0Error::TooManyValues {
                max: self.limits.amf0_max_values,
            });
        }
        if count > self.rest.len() {
            return Err(Amf0Error::Truncated);
        }
        Ok(())
    }

    /// Reads the next property key, or `None` at the end of the object.
    fn key_or_end(&mut self, ecma: bool, outermost: bool) -> Result<Option<String>, Amf0Error> {
        if self.rest.is_empty() {
            // Some FLV muxers omit the end marker of the onMetaData ECMA array. Only
            // the outermost one may end this way; anything enclosing it would be
            // left unterminated.
            if ecma && outermost {
                return Ok(None);
            }
            return Err(Amf0Error::MissingObjectEnd);
        }
        let key = self.utf8_u16()?;
        if key.is_empty() {
            if let Some((&marker::OBJECT_END, rest)) = self.rest.split_first() {
                self.rest = rest;
                return Ok(None);
            }
        }
        Ok(Some(key))
    }

    fn utf8_u16(&mut self) -> Result<String, Amf0Error> {
        let len = self.read(be_u16)?;
        self.utf8(u32::from(len))
    }

    /// Reads `len` bytes as UTF-8. The length is checked against the input before any
    /// allocation, so a huge announced length costs nothing.
    fn utf8(&mut self, len: u32) -> Result<String, Amf0Error> {
        let bytes = self.read(take(len))?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Amf0Error::InvalidUtf8)
    }

    /// Runs one primitive parser on the remaining input. The primitives used here
    /// (fixed-width numbers and `take`) can only fail when the input is too short, so
    /// every nom error is [`Amf0Error::Truncated`].
    fn read<T>(
        &mut self,
        parser: impl FnOnce(&'a [u8]) -> IResult<&'a [u8], T>,
    ) -> Result<T, Amf0Error> {
        let (rest, value) = parser(self.rest).map_err(|_| Amf0Error::Truncated)?;
        self.rest = rest;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf0::encode;
    use crate::amf0::test_vectors::{FFMPEG_CONNECT, ffmpeg_connect, ffmpeg_on_metadata};

    fn dec(input: &[u8]) -> Result<Vec<Amf0Value>, Amf0Error> {
        decode(input, &Limits::default())
    }

    fn enc(values: &[Amf0Value]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(values, &mut out);
        out
    }

    /// One of every variant, including the awkward floats and nesting of each kind.
    fn every_variant() -> Vec<Amf0Value> {
        vec![
            Amf0Value::Number(0.0),
            Amf0Value::Number(-0.0),
            Amf0Value::Number(f64::INFINITY),
            Amf0Value::Number(f64::MIN_POSITIVE),
            Amf0Value::Boolean(false),
            Amf0Value::Boolean(true),
            Amf0Value::string(""),
            Amf0Value::string("héllo ✓"),
            Amf0Value::object([
                ("a", Amf0Value::Null),
                ("", Amf0Value::Undefined),
                ("a", Amf0Value::Number(2.0)),
            ]),
            Amf0Value::object::<String>([]),
            Amf0Value::Null,
            Amf0Value::Undefined,
            Amf0Value::EcmaArray(vec![]),
            Amf0Value::EcmaArray(vec![(
                "k".into(),
                Amf0Value::StrictArray(vec![Amf0Value::EcmaArray(vec![])]),
            )]),
            Amf0Value::StrictArray(vec![]),
            Amf0Value::StrictArray(vec![Amf0Value::Null, Amf0Value::string("x")]),
            Amf0Value::Date {
                millis: 1_700_000_000_000.0,
                timezone: -120,
            },
            Amf0Value::LongString(String::new()),
            Amf0Value::LongString("short but long-form".into()),
            Amf0Value::string("z".repeat(70_000)),
        ]
    }

    #[test]
    fn every_variant_round_trips() {
        let values = every_variant();
        assert_eq!(dec(&enc(&values)), Ok(values.clone()));
        for value in values {
            assert_eq!(dec(&enc(std::slice::from_ref(&value))), Ok(vec![value]));
        }
    }

    #[test]
    fn nan_round_trips_bit_for_bit() {
        let bits = 0x7ff8_dead_beef_0001_u64;
        let values = [
            Amf0Value::Number(f64::from_bits(bits)),
            Amf0Value::Date {
                millis: f64::from_bits(bits),
                timezone: 1,
            },
        ];
        let bytes = enc(&values);
        let decoded = dec(&bytes).unwrap();
        assert!(matches!(decoded[0], Amf0Value::Number(n) if n.to_bits() == bits));
        assert!(matches!(decoded[1], Amf0Value::Date { millis, .. } if millis.to_bits() == bits));
        assert_eq!(enc(&decoded), bytes);
    }

    #[test]
    fn ffmpeg_connect_decodes_and_re_encodes_byte_exact() {
        let values = dec(FFMPEG_CONNECT).unwrap();
        assert_eq!(values, ffmpeg_connect());
        assert_eq!(values[0].as_str(), Some("connect"));
        assert_eq!(values[1].as_number(), Some(1.0));
        assert_eq!(
            values[2].property("tcUrl").and_then(Amf0Value::as_str),
            Some("rtmp://127.0.0.1:1935/live")
        );
        assert_eq!(enc(&values), FFMPEG_CONNECT);
    }

    #[test]
    fn every_prefix_of_connect_fails_unless_at_a_value_boundary() {
        let values = ffmpeg_connect();
        // Lengths at which the first k top-level values are complete.
        let boundaries: Vec<usize> = (0..values.len()).map(|k| enc(&values[..k]).len()).collect();
        for len in 0..FFMPEG_CONNECT.len() {
            let result = dec(&FFMPEG_CONNECT[..len]);
            match boundaries.iter().position(|&b| b == len) {
                Some(k) => assert_eq!(result, Ok(values[..k].to_vec()), "prefix {len}"),
                None => assert!(result.is_err(), "prefix {len} decoded: {result:?}"),
            }
        }
    }

    #[test]
    fn every_prefix_of_a_nested_value_fails() {
        let value = Amf0Value::object([
            (
                "list",
                Amf0Value::StrictArray(vec![Amf0Value::Number(1.0), Amf0Value::Null]),
            ),
            (
                "when",
                Amf0Value::Date {
                    millis: 5.0,
                    timezone: 0,
                },
            ),
            (
                "obj",
                Amf0Value::object([("s", Amf0Value::LongString("abc".into()))]),
            ),
            (
                "map",
                Amf0Value::EcmaArray(vec![("b".into(), Amf0Value::Boolean(true))]),
            ),
        ]);
        let bytes = enc(&[value]);
        for len in 1..bytes.len() {
            assert!(dec(&bytes[..len]).is_err(), "prefix {len}");
        }
    }

    #[test]
    fn truncation_errors_are_precise() {
        assert_eq!(dec(&[0x00, 0x3f]), Err(Amf0Error::Truncated));
        assert_eq!(dec(&[0x02, 0x00, 0x05, b'a']), Err(Amf0Error::Truncated));
        assert_eq!(
            dec(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']),
            Err(Amf0Error::Truncated)
        );
        // Ends between properties of an object.
        assert_eq!(
            dec(&[0x03, 0x00, 0x01, b'a', 0x05]),
            Err(Amf0Error::MissingObjectEnd)
        );
        // Ends inside a key.
        assert_eq!(dec(&[0x03, 0x00, 0x02, b'a']), Err(Amf0Error::Truncated));
        // Ends after the empty key, before the end marker.
        assert_eq!(dec(&[0x03, 0x00, 0x00]), Err(Amf0Error::Truncated));
    }

    #[test]
    fn outermost_ecma_array_may_omit_object_end() {
        let mut bytes = enc(&ffmpeg_on_metadata());
        bytes.truncate(bytes.len() - 3);
        assert_eq!(dec(&bytes), Ok(ffmpeg_on_metadata()));
        // An empty one, with a wrong count hint.
        assert_eq!(
            dec(&[0x08, 0x00, 0x00, 0x00, 0x07]),
            Ok(vec![Amf0Value::EcmaArray(vec![])])
        );
    }

    #[test]
    fn nested_ecma_array_must_be_closed() {
        // Object { m: EcmaArray { } } with neither end marker.
        let bytes = [0x03, 0x00, 0x01, b'm', 0x08, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(dec(&bytes), Err(Amf0Error::MissingObjectEnd));
        // An ECMA array nested in a strict array likewise.
        let bytes = [0x0A, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(dec(&bytes), Err(Amf0Error::MissingObjectEnd));
    }

    #[test]
    fn ecma_count_hint_is_ignored() {
        let mut bytes = vec![0x08, 0xFF, 0xFF, 0xFF, 0xFF];
        bytes.extend_from_slice(&[0x00, 0x01, b'k', 0x05, 0x00, 0x00, 0x09]);
        assert_eq!(
            dec(&bytes),
            Ok(vec![Amf0Value::EcmaArray(vec![(
                "k".into(),
                Amf0Value::Null
            )])])
        );
    }

    #[test]
    fn nonzero_boolean_is_true() {
        assert_eq!(dec(&[0x01, 0x7F]), Ok(vec![Amf0Value::Boolean(true)]));
    }

    fn nested(open: &[u8], depth: usize) -> Vec<u8> {
        open.repeat(depth)
    }

    #[test]
    fn nesting_10_000_deep_is_too_deep() {
        let max = Limits::default().amf0_max_depth;
        let shapes: [&[u8]; 3] = [
            &[0x0A, 0x00, 0x00, 0x00, 0x01], // strict array of one
            &[0x03, 0x00, 0x01, b'k'],       // object, key "k"
            &[0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, b'k'], // ECMA array, key "k"
        ];
        for open in shapes {
            let bytes = nested(open, 10_000);
            assert_eq!(dec(&bytes), Err(Amf0Error::TooDeep { max }));
        }
    }

    #[test]
    fn depth_limit_is_exact() {
        let limits = Limits {
            amf0_max_depth: 3,
            ..Limits::default()
        };
        let open = [0x0A, 0x00, 0x00, 0x00, 0x01];
        let mut ok = nested(&open, 2);
        ok.extend_from_slice(&[0x0A, 0x00, 0x00, 0x00, 0x00]);
        assert!(decode(&ok, &limits).is_ok());
        let mut deep = nested(&open, 3);
        deep.extend_from_slice(&[0x0A, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(decode(&deep, &limits), Err(Amf0Error::TooDeep { max: 3 }));
        let no_containers = Limits {
            amf0_max_depth: 0,
            ..Limits::default()
        };
        assert_eq!(
            decode(&[0x03, 0x00, 0x00, 0x09], &no_containers),
            Err(Amf0Error::TooDeep { max: 0 })
        );
        assert_eq!(decode(&[0x05], &no_containers), Ok(vec![Amf0Value::Null]));
    }

    #[test]
    fn deep_nesting_under_a_raised_limit_decodes_without_recursion() {
        let depth = 1_000;
        let limits = Limits {
            amf0_max_depth: depth,
            ..Limits::default()
        };
        let mut value = Amf0Value::Null;
        for _ in 0..depth {
            value = Amf0Value::object([("k", value)]);
        }
        let bytes = enc(std::slice::from_ref(&value));
        assert_eq!(decode(&bytes, &limits), Ok(vec![value]));
    }

    #[test]
    fn huge_strict_array_count_fails_without_allocating() {
        let bytes = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x05];
        let max = Limits::default().amf0_max_values;
        assert_eq!(dec(&bytes), Err(Amf0Error::TooManyValues { max }));
        // With the value limit out of the way, the missing input is what fails.
        let unlimited = Limits {
            amf0_max_values: usize::MAX,
            ..Limits::default()
        };
        assert_eq!(decode(&bytes, &unlimited), Err(Amf0Error::Truncated));
    }

    #[test]
    fn value_limit_counts_every_value_in_the_call() {
        let limits = Limits {
            amf0_max_values: 4,
            ..Limits::default()
        };
        // Three top-level values plus one property value: exactly four.
        let bytes = [0x05, 0x06, 0x03, 0x00, 0x01, b'k', 0x05, 0x00, 0x00, 0x09];
        assert!(decode(&bytes, &limits).is_ok());
        let mut more = bytes.to_vec();
        more.push(0x05);
        assert_eq!(
            decode(&more, &limits),
            Err(Amf0Error::TooManyValues { max: 4 })
        );
        // Strict array elements count too: the array itself plus four elements.
        let array = [0x0A, 0x00, 0x00, 0x00, 0x04, 0x05, 0x05, 0x05, 0x05];
        assert_eq!(
            decode(&array, &limits),
            Err(Amf0Error::TooManyValues { max: 4 })
        );
        let null_flood = vec![0x05; Limits::default().amf0_max_values + 1];
        assert_eq!(
            dec(&null_flood),
            Err(Amf0Error::TooManyValues {
                max: Limits::default().amf0_max_values
            })
        );
        assert!(dec(&null_flood[1..]).is_ok());
    }

    #[test]
    fn invalid_utf8_is_rejected_everywhere() {
        assert_eq!(dec(&[0x02, 0x00, 0x01, 0xFF]), Err(Amf0Error::InvalidUtf8));
        assert_eq!(
            dec(&[0x0C, 0x00, 0x00, 0x00, 0x02, 0xC3, 0x28]),
            Err(Amf0Error::InvalidUtf8)
        );
        assert_eq!(
            dec(&[0x03, 0x00, 0x01, 0x80, 0x05, 0x00, 0x00, 0x09]),
            Err(Amf0Error::InvalidUtf8)
        );
    }

    #[test]
    fn markers_outside_the_supported_set_are_named() {
        for m in [0x04, 0x07, 0x0D, 0x0E, 0x0F, 0x10, 0x11] {
            assert_eq!(dec(&[m, 0, 0, 0, 0]), Err(Amf0Error::UnsupportedMarker(m)));
        }
        for m in [0x12, 0x80, 0xFF] {
            assert_eq!(dec(&[m]), Err(Amf0Error::UnknownMarker(m)));
        }
        assert_eq!(dec(&[0x09]), Err(Amf0Error::UnexpectedObjectEnd));
        assert_eq!(
            dec(&[0x0A, 0x00, 0x00, 0x00, 0x01, 0x09]),
            Err(Amf0Error::UnexpectedObjectEnd)
        );
    }

    #[test]
    fn empty_key_property_is_accepted() {
        let bytes = [0x03, 0x00, 0x00, 0x05, 0x00, 0x00, 0x09];
        assert_eq!(
            dec(&bytes),
            Ok(vec![Amf0Value::Object(vec![(
                String::new(),
                Amf0Value::Null
            )])])
        );
    }

    #[test]
    fn empty_input_is_no_values() {
        assert_eq!(dec(&[]), Ok(vec![]));
    }
}
