//! The CMAF header: `ftyp` + `moov` with one `trak` per track and `mvex`.

use bytes::{BufMut, Bytes, BytesMut};

use super::Mp4Error;
use super::boxes::{begin, begin_full, end, put_matrix};
use crate::media::{AudioCodec, CodecConfig, Track, VideoCodec};

/// The movie's own timescale; tracks keep theirs.
const MOVIE_TIMESCALE: u32 = 1000;
/// ISO 639-2 "und", packed as three 5-bit letters.
const LANGUAGE_UND: u16 = 0x55C4;

/// Writes the initialisation segment for `tracks`, in their order.
pub fn init_segment(tracks: &[&Track]) -> Result<Bytes, Mp4Error> {
    let mut out = BytesMut::with_capacity(1024);
    let ftyp = begin(&mut out, b"ftyp");
    out.put_slice(b"iso6");
    out.put_u32(0);
    for brand in [b"iso6", b"cmfc", b"isom", b"mp41", b"dash"] {
        out.put_slice(brand);
    }
    end(&mut out, ftyp)?;

    let moov = begin(&mut out, b"moov");
    let mvhd = begin_full(&mut out, b"mvhd", 0, 0);
    out.put_u32(0); // creation time
    out.put_u32(0); // modification time
    out.put_u32(MOVIE_TIMESCALE);
    out.put_u32(0); // duration: unknown (fragmented)
    out.put_u32(0x0001_0000); // rate 1.0
    out.put_u16(0x0100); // volume 1.0
    out.put_bytes(0, 10);
    put_matrix(&mut out);
    out.put_bytes(0, 24);
    let next = tracks
        .iter()
        .map(|t| super::track_id(t.id))
        .max()
        .unwrap_or(0)
        + 1;
    out.put_u32(next);
    end(&mut out, mvhd)?;
    for track in tracks {
        trak(&mut out, track)?;
    }
    let mvex = begin(&mut out, b"mvex");
    for track in tracks {
        let trex = begin_full(&mut out, b"trex", 0, 0);
        out.put_u32(super::track_id(track.id));
        out.put_u32(1); // sample description index
        out.put_u32(0); // default duration
        out.put_u32(0); // default size
        out.put_u32(0); // default flags
        end(&mut out, trex)?;
    }
    end(&mut out, mvex)?;
    end(&mut out, moov)?;
    Ok(out.freeze())
}

fn trak(out: &mut BytesMut, track: &Track) -> Result<(), Mp4Error> {
    let (is_video, width, height) = match &track.config {
        CodecConfig::Video { width, height, .. } => (true, *width, *height),
        _ => (false, 0, 0),
    };
    let trak = begin(out, b"trak");
    let tkhd = begin_full(out, b"tkhd", 0, 0x3); // enabled, in movie
    out.put_u32(0);
    out.put_u32(0);
    out.put_u32(super::track_id(track.id));
    out.put_u32(0);
    out.put_u32(0); // duration
    out.put_bytes(0, 8);
    out.put_u16(0); // layer
    out.put_u16(0); // alternate group
    out.put_u16(if is_video { 0 } else { 0x0100 });
    out.put_u16(0);
    put_matrix(out);
    out.put_u32(width.min(0xFFFF) << 16);
    out.put_u32(height.min(0xFFFF) << 16);
    end(out, tkhd)?;

    let mdia = begin(out, b"mdia");
    let mdhd = begin_full(out, b"mdhd", 0, 0);
    out.put_u32(0);
    out.put_u32(0);
    out.put_u32(track.timescale);
    out.put_u32(0);
    out.put_u16(LANGUAGE_UND);
    out.put_u16(0);
    end(out, mdhd)?;
    let hdlr = begin_full(out, b"hdlr", 0, 0);
    out.put_u32(0);
    out.put_slice(if is_video { b"vide" } else { b"soun" });
    out.put_bytes(0, 12);
    out.put_slice(if is_video {
        b"VideoHandler\0".as_slice()
    } else {
        b"SoundHandler\0".as_slice()
    });
    end(out, hdlr)?;

    let minf = begin(out, b"minf");
    if is_video {
        let vmhd = begin_full(out, b"vmhd", 0, 1);
        out.put_bytes(0, 8);
        end(out, vmhd)?;
    } else {
        let smhd = begin_full(out, b"smhd", 0, 0);
        out.put_u32(0);
        end(out, smhd)?;
    }
    let dinf = begin(out, b"dinf");
    let dref = begin_full(out, b"dref", 0, 0);
    out.put_u32(1);
    let url = begin_full(out, b"url ", 0, 1); // media is in this file
    end(out, url)?;
    end(out, dref)?;
    end(out, dinf)?;

    let stbl = begin(out, b"stbl");
    let stsd = begin_full(out, b"stsd", 0, 0);
    out.put_u32(1);
    sample_entry(out, &track.config)?;
    end(out, stsd)?;
    for kind in [b"stts", b"stsc", b"stco"] {
        let empty = begin_full(out, kind, 0, 0);
        out.put_u32(0);
        end(out, empty)?;
    }
    let stsz = begin_full(out, b"stsz", 0, 0);
    out.put_u32(0);
    out.put_u32(0);
    end(out, stsz)?;
    end(out, stbl)?;
    end(out, minf)?;
    end(out, mdia)?;
    end(out, trak)
}

fn sample_entry(out: &mut BytesMut, config: &CodecConfig) -> Result<(), Mp4Error> {
    match config {
        CodecConfig::Video {
            codec,
            record,
            width,
            height,
        } => {
            let (entry, config_box): (&[u8; 4], &[u8; 4]) = match codec {
                VideoCodec::H264 => (b"avc1", b"avcC"),
                VideoCodec::H265 => (b"hvc1", b"hvcC"),
                VideoCodec::Av1 => (b"av01", b"av1C"),
                _ => return Err(Mp4Error::UnsupportedCodec("VP9")),
            };
            let open = begin(out, entry);
            out.put_bytes(0, 6);
            out.put_u16(1); // data reference index
            out.put_bytes(0, 16);
            out.put_u16(u16::try_from(*width).unwrap_or(u16::MAX));
            out.put_u16(u16::try_from(*height).unwrap_or(u16::MAX));
            out.put_u32(0x0048_0000); // 72 dpi
            out.put_u32(0x0048_0000);
            out.put_u32(0);
            out.put_u16(1); // frame count
            out.put_bytes(0, 32); // compressor name
            out.put_u16(0x0018); // depth
            out.put_i16(-1);
            let config = begin(out, config_box);
            out.put_slice(record);
            end(out, config)?;
            end(out, open)
        }
        CodecConfig::Audio {
            codec,
            specific,
            sample_rate,
            channels,
        } => {
            let entry: &[u8; 4] = match codec {
                AudioCodec::Aac => b"mp4a",
                AudioCodec::Opus => b"Opus",
                _ => return Err(Mp4Error::UnsupportedCodec("MP3")),
            };
            let open = begin(out, entry);
            out.put_bytes(0, 6);
            out.put_u16(1);
            out.put_bytes(0, 8);
            out.put_u16(u16::from(*channels));
            out.put_u16(16); // sample size
            out.put_u32(0);
            // 16.16 fixed point; rates above 65535 Hz do not fit and are written as 0.
            let rate = if *codec == AudioCodec::Opus {
                48_000
            } else {
                *sample_rate
            };
            out.put_u32(if rate > 0xFFFF { 0 } else { rate << 16 });
            match codec {
                AudioCodec::Opus => dops(out, specific, *channels)?,
                _ => esds(out, specific)?,
            }
            end(out, open)
        }
    }
}

/// An MPEG-4 descriptor header with a 4-byte length (always valid, any size).
fn descriptor(out: &mut BytesMut, tag: u8, len: usize) -> Result<(), Mp4Error> {
    let len = u32::try_from(len)
        .ok()
        .filter(|l| *l < 1 << 28)
        .ok_or(Mp4Error::TooLarge {
            what: "descriptor length",
            value: len as u64,
        })?;
    out.put_u8(tag);
    out.put_u8(0x80 | ((len >> 21) & 0x7F) as u8);
    out.put_u8(0x80 | ((len >> 14) & 0x7F) as u8);
    out.put_u8(0x80 | ((len >> 7) & 0x7F) as u8);
    out.put_u8((len & 0x7F) as u8);
    Ok(())
}

/// `esds` for AAC: ES_Descriptor > DecoderConfigDescriptor > DecoderSpecificInfo (the ASC).
fn esds(out: &mut BytesMut, asc: &Bytes) -> Result<(), Mp4Error> {
    let open = begin_full(out, b"esds", 0, 0);
    // Payload lengths; each descriptor header adds 5 bytes.
    let decoder_config = 13 + 5 + asc.len();
    descriptor(out, 0x03, 3 + (5 + decoder_config) + (5 + 1))?;
    out.put_u16(0); // ES_ID
    out.put_u8(0); // flags
    descriptor(out, 0x04, decoder_config)?;
    out.put_u8(0x40); // MPEG-4 Audio
    out.put_u8(0x15); // audio stream, upstream 0, reserved 1
    out.put_bytes(0, 3); // buffer size
    out.put_u32(0); // max bitrate
    out.put_u32(0); // average bitrate
    descriptor(out, 0x05, asc.len())?;
    out.put_slice(asc);
    descriptor(out, 0x06, 1)?;
    out.put_u8(0x02);
    end(out, open)
}

/// `dOps` from an OpusHead (RFC 7845); an empty head means plain mono/stereo.
fn dops(out: &mut BytesMut, head: &Bytes, channels: u8) -> Result<(), Mp4Error> {
    let open = begin(out, b"dOps");
    out.put_u8(0); // version
    if head.is_empty() {
        out.put_u8(channels.max(1));
        out.put_u16(312); // pre-skip commonly used by libopus at 48 kHz
        out.put_u32(48_000);
        out.put_i16(0);
        out.put_u8(0);
    } else {
        let field = |range: std::ops::Range<usize>| head.get(range).ok_or(Mp4Error::BadOpusHead);
        if field(0..8)? != b"OpusHead" {
            return Err(Mp4Error::BadOpusHead);
        }
        let byte = |i: usize| field(i..i + 1).map(|b| b.first().copied().unwrap_or(0));
        let array = |range: std::ops::Range<usize>| -> Result<[u8; 4], Mp4Error> {
            let mut value = [0u8; 4];
            let bytes = field(range)?;
            value
                .get_mut(..bytes.len())
                .ok_or(Mp4Error::BadOpusHead)?
                .copy_from_slice(bytes);
            Ok(value)
        };
        let le16 = |i: usize| array(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        out.put_u8(byte(9)?);
        out.put_u16(le16(10)?);
        out.put_u32(u32::from_le_bytes(array(12..16)?));
        out.put_u16(le16(16)?);
        let family = byte(18)?;
        out.put_u8(family);
        if family != 0 {
            // Stream count, coupled count, then one mapping byte per channel.
            let table = field(19..21 + usize::from(byte(9)?))?;
            out.put_slice(table);
        }
    }
    end(out, open)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::media::TrackId;

    fn find(haystack: &[u8], needle: &[u8; 4]) -> usize {
        haystack.windows(4).position(|w| w == needle).unwrap()
    }

    #[test]
    fn opus_head_becomes_dops_big_endian() {
        // RFC 7845 OpusHead: version 1, 2 channels, pre-skip 312, 44.1 kHz input,
        // gain -1 (0xFFFF), mapping family 0.
        let mut head = b"OpusHead".to_vec();
        head.extend_from_slice(&[1, 2, 0x38, 0x01, 0x44, 0xAC, 0, 0, 0xFF, 0xFF, 0]);
        let track = Track {
            id: TrackId::AUDIO,
            timescale: 48_000,
            config: CodecConfig::Audio {
                codec: AudioCodec::Opus,
                specific: Bytes::from(head),
                sample_rate: 48_000,
                channels: 2,
            },
        };
        let init = init_segment(&[&track]).unwrap();
        let dops = find(&init, b"dOps");
        assert_eq!(
            u32::from_be_bytes(init[dops - 4..dops].try_into().unwrap()),
            8 + 11
        );
        assert_eq!(
            &init[dops + 4..dops + 15],
            &[0, 2, 0x01, 0x38, 0, 0, 0xAC, 0x44, 0xFF, 0xFF, 0]
        );
        let bad = Track {
            config: CodecConfig::Audio {
                codec: AudioCodec::Opus,
                specific: Bytes::from_static(b"NotOpus"),
                sample_rate: 48_000,
                channels: 2,
            },
            ..track
        };
        assert_eq!(init_segment(&[&bad]), Err(Mp4Error::BadOpusHead));
    }

    #[test]
    fn box_sizes_add_up() {
        let track = Track {
            id: TrackId::AUDIO,
            timescale: 48_000,
            config: CodecConfig::Audio {
                codec: AudioCodec::Aac,
                specific: Bytes::from_static(&[0x11, 0x90]),
                sample_rate: 48_000,
                channels: 2,
            },
        };
        let init = init_segment(&[&track]).unwrap();
        let ftyp = u32::from_be_bytes(init[0..4].try_into().unwrap()) as usize;
        let moov = u32::from_be_bytes(init[ftyp..ftyp + 4].try_into().unwrap()) as usize;
        assert_eq!(ftyp + moov, init.len());
        let esds = find(&init, b"esds");
        // ASC inside the DecoderSpecificInfo (tag 5, 4-byte length 2).
        let dsi = find(&init[esds..], &[0x05, 0x80, 0x80, 0x80]) + esds;
        assert_eq!(&init[dsi + 4..dsi + 7], &[2, 0x11, 0x90]);
    }
}
