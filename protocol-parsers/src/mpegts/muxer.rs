//! The muxer: tracks in, PAT/PMT and one PES of whole packets per frame out.

use bytes::{BufMut, Bytes, BytesMut};

use super::TsError;
use super::adts::{self, Adts};
use super::annexb::{AccessUnit, NalSyntax, VideoParams};
use super::clock::to_90khz;
use super::packet::{FirstPacket, PACKET_LEN, Packetizer, packet_count};
use super::pes::{PesHeader, STREAM_ID_AUDIO, STREAM_ID_VIDEO};
use super::psi::{PmtStream, StreamType, pat_packet, pmt_packet};
use crate::media::{AudioCodec, CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec};

pub const VIDEO_PID: u16 = 0x100;
pub const AUDIO_PID: u16 = 0x101;
pub const PMT_PID: u16 = 0x1000;
pub const PROGRAM_NUMBER: u16 = 1;

/// Continuity counter byte of a packet: adaptation_field_control '01' (payload only)
/// in the high nibble.
const CONTINUITY_AT: usize = 3;

/// Writes one program of up to one video and one audio track as MPEG-TS.
///
/// Call [`tables`](Self::tables) at the start of every segment (before its first
/// keyframe), then [`frame`](Self::frame) for each frame in decode order across tracks.
/// The PCR rides on the video PID in the first packet of every video PES (on the
/// audio PID when there is no video), equal to that frame's DTS. PTS and DTS are the
/// frames' own times, unshifted (`ffmpeg -c copy -f mpegts` moves both 1.4 s later
/// to leave the PCR a margin), so TS segments stay on the same timeline as the CMAF
/// ones. The cost is a zero PCR-to-DTS margin, which matters to a decoder that paces
/// itself by the PCR alone; HLS players buffer whole segments first.
/// Frames are routed by track id, video first.
#[derive(Debug)]
pub struct TsMuxer {
    video: Option<VideoStream>,
    audio: Option<AudioStream>,
    /// The PAT and PMT packets with continuity counter 0.
    pat: Bytes,
    pmt: Bytes,
    pat_continuity: u8,
    pmt_continuity: u8,
}

#[derive(Debug)]
struct VideoStream {
    track: TrackId,
    timescale: u32,
    params: VideoParams,
    continuity: u8,
}

#[derive(Debug)]
struct AudioStream {
    track: TrackId,
    timescale: u32,
    adts: Adts,
    continuity: u8,
    /// No video: the PCR rides on audio.
    carries_pcr: bool,
}

impl TsMuxer {
    /// One video track (H.264 or HEVC, with its AVCC/HVCC record) and/or one audio
    /// track (AAC, with its AudioSpecificConfig).
    pub fn new(tracks: &[&Track]) -> Result<Self, TsError> {
        let mut video = None;
        let mut audio = None;
        for track in tracks {
            if track.timescale == 0 {
                return Err(TsError::ZeroTimescale(track.id));
            }
            match &track.config {
                CodecConfig::Video { codec, record, .. } => {
                    let params = match codec {
                        VideoCodec::H264 => VideoParams::from_avcc(record)?,
                        VideoCodec::H265 => VideoParams::from_hvcc(record)?,
                        VideoCodec::Av1 => return Err(TsError::UnsupportedCodec("AV1")),
                        _ => return Err(TsError::UnsupportedCodec("VP9")),
                    };
                    if video.is_some() {
                        return Err(TsError::DuplicateTrack("video"));
                    }
                    video = Some(VideoStream {
                        track: track.id,
                        timescale: track.timescale,
                        params,
                        continuity: 0,
                    });
                }
                CodecConfig::Audio {
                    codec, specific, ..
                } => {
                    let adts = match codec {
                        AudioCodec::Aac => Adts::from_asc(specific)?,
                        AudioCodec::Opus => return Err(TsError::UnsupportedCodec("Opus")),
                        _ => return Err(TsError::UnsupportedCodec("MP3")),
                    };
                    if audio.is_some() {
                        return Err(TsError::DuplicateTrack("audio"));
                    }
                    audio = Some(AudioStream {
                        track: track.id,
                        timescale: track.timescale,
                        adts,
                        continuity: 0,
                        carries_pcr: false,
                    });
                }
            }
        }

        let mut streams = Vec::with_capacity(2);
        if let Some(video) = &video {
            let stream_type = match video.params.syntax {
                NalSyntax::H264 => StreamType::H264,
                NalSyntax::H265 => StreamType::H265,
            };
            streams.push(PmtStream {
                stream_type,
                pid: VIDEO_PID,
            });
        }
        if let Some(audio) = &mut audio {
            audio.carries_pcr = video.is_none();
            streams.push(PmtStream {
                stream_type: StreamType::AAC_ADTS,
                pid: AUDIO_PID,
            });
        }
        let pcr_pid = match (&video, &audio) {
            (Some(_), _) => VIDEO_PID,
            (None, Some(_)) => AUDIO_PID,
            (None, None) => return Err(TsError::NoTracks),
        };
        Ok(Self {
            video,
            audio,
            pat: pat_packet(PROGRAM_NUMBER, PMT_PID).freeze(),
            pmt: pmt_packet(PROGRAM_NUMBER, PMT_PID, pcr_pid, &streams).freeze(),
            pat_continuity: 0,
            pmt_continuity: 0,
        })
    }

    /// The PAT and the PMT, two packets (376 bytes).
    pub fn tables(&mut self) -> Bytes {
        let mut out = BytesMut::with_capacity(2 * PACKET_LEN);
        for (table, continuity) in [
            (&self.pat, &mut self.pat_continuity),
            (&self.pmt, &mut self.pmt_continuity),
        ] {
            let start = out.len();
            out.put_slice(table);
            if let Some(byte) = out.get_mut(start + CONTINUITY_AT) {
                *byte = (*byte & 0xF0) | *continuity;
            }
            *continuity = (*continuity + 1) & 0x0F;
        }
        out.freeze()
    }

    /// One frame as one PES in whole packets. Errors leave the muxer as it was.
    pub fn frame(&mut self, frame: &Frame) -> Result<Bytes, TsError> {
        if frame.data.is_empty() {
            return Err(TsError::EmptyFrame);
        }
        // Frame::pts can overflow on hostile timestamps; here they saturate instead.
        let pts = frame.dts.saturating_add(i64::from(frame.cts));
        let discontinuity = frame.flags.contains(FrameFlags::DISCONTINUITY);
        if let Some(video) = self.video.as_mut().filter(|v| v.track == frame.track) {
            let keyframe = frame.is_keyframe();
            let au = AccessUnit::new(&video.params, &frame.data, keyframe)?;
            let dts = to_90khz(frame.dts, video.timescale);
            let header = PesHeader {
                stream_id: STREAM_ID_VIDEO,
                pts: to_90khz(pts, video.timescale),
                dts: Some(dts),
                payload_len: None,
            };
            let first = FirstPacket {
                pcr: Some(dts),
                random_access: keyframe,
                discontinuity,
            };
            let pes_len = header.len() + au.len();
            let mut out = BytesMut::with_capacity(packet_count(pes_len, first) * PACKET_LEN);
            let mut packets =
                Packetizer::new(&mut out, VIDEO_PID, &mut video.continuity, pes_len, first);
            packets.put(header.encode().as_slice());
            au.write(|piece| packets.put(piece));
            packets.finish();
            return Ok(out.freeze());
        }
        if let Some(audio) = self.audio.as_mut().filter(|a| a.track == frame.track) {
            let adts = audio.adts.header(frame.data.len())?;
            let pts = to_90khz(pts, audio.timescale);
            let header = PesHeader {
                stream_id: STREAM_ID_AUDIO,
                pts,
                dts: None,
                payload_len: Some(adts::HEADER_LEN + frame.data.len()),
            };
            let first = if audio.carries_pcr {
                FirstPacket {
                    pcr: Some(pts),
                    random_access: true,
                    discontinuity,
                }
            } else {
                FirstPacket::default()
            };
            let pes_len = header.len() + adts.len() + frame.data.len();
            let mut out = BytesMut::with_capacity(packet_count(pes_len, first) * PACKET_LEN);
            let mut packets =
                Packetizer::new(&mut out, AUDIO_PID, &mut audio.continuity, pes_len, first);
            packets.put(header.encode().as_slice());
            packets.put(&adts);
            packets.put(&frame.data);
            packets.finish();
            return Ok(out.freeze());
        }
        Err(TsError::UnknownTrack(frame.track))
    }
}

#[cfg(test)]
mod tests {
    use super::super::clock::tests::{read_pcr, read_timestamp};
    use super::super::crc::crc32_mpeg2;
    use super::*;

    /// One parsed TS packet.
    #[derive(Debug)]
    struct Packet<'a> {
        pid: u16,
        start: bool,
        continuity: u8,
        /// Adaptation field flags, when there are any.
        flags: Option<u8>,
        pcr: Option<u64>,
        payload: &'a [u8],
    }

    fn parse(out: &[u8]) -> Vec<Packet<'_>> {
        assert_eq!(out.len() % PACKET_LEN, 0, "whole packets");
        out.chunks(PACKET_LEN)
            .map(|p| {
                assert_eq!(p[0], 0x47);
                let (mut flags, mut pcr, mut at) = (None, None, 4);
                if p[3] & 0x20 != 0 {
                    let len = usize::from(p[4]);
                    if len > 0 {
                        flags = Some(p[5]);
                        if p[5] & 0x10 != 0 {
                            pcr = Some(read_pcr(&p[6..12]).0);
                        }
                        // Whatever follows the signalled fields is stuffing.
                        let fields = 2 + if pcr.is_some() { 6 } else { 0 };
                        assert!(p[4 + fields..5 + len].iter().all(|&b| b == 0xFF));
                    }
                    at = 5 + len;
                }
                assert_ne!(p[3] & 0x10, 0, "every packet has payload");
                Packet {
                    pid: u16::from_be_bytes([p[1], p[2]]) & 0x1FFF,
                    start: p[1] & 0x40 != 0,
                    continuity: p[3] & 0x0F,
                    flags,
                    pcr,
                    payload: &p[at..],
                }
            })
            .collect()
    }

    fn pes_of(out: &[u8]) -> Vec<u8> {
        parse(out).iter().flat_map(|p| p.payload.to_vec()).collect()
    }

    const AVCC: [u8; 48] = [
        0x01, 0x64, 0x00, 0x28, 0xff, 0xe1, 0x00, 0x1b, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40,
        0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00,
        0xf0, 0x3c, 0x60, 0xc6, 0x58, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
        0xf8, 0xf8, 0x00,
    ];

    fn video_track() -> Track {
        Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: CodecConfig::Video {
                codec: VideoCodec::H264,
                record: Bytes::from_static(&AVCC),
                width: 1920,
                height: 1080,
            },
        }
    }

    fn audio_track() -> Track {
        Track {
            id: TrackId::AUDIO,
            timescale: 1000,
            config: CodecConfig::Audio {
                codec: AudioCodec::Aac,
                specific: Bytes::from_static(&[0x11, 0x90]),
                sample_rate: 48_000,
                channels: 2,
            },
        }
    }

    fn frame(track: TrackId, dts: i64, cts: i32, key: bool, data: Vec<u8>) -> Frame {
        Frame {
            track,
            dts,
            cts,
            flags: if key {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::from(data),
        }
    }

    /// An AVCC frame of one NAL unit of `len` bytes.
    fn slice(nal_type: u8, len: usize) -> Vec<u8> {
        let mut data = (len as u32).to_be_bytes().to_vec();
        data.push(nal_type);
        data.extend((1..len).map(|i| i as u8));
        data
    }

    #[test]
    fn tables_are_two_packets_with_advancing_counters() {
        let (video, audio) = (video_track(), audio_track());
        let mut muxer = TsMuxer::new(&[&video, &audio]).unwrap();
        for round in 0..18u8 {
            let tables = muxer.tables();
            assert_eq!(tables.len(), 376);
            let packets = parse(&tables);
            assert_eq!((packets[0].pid, packets[1].pid), (0, PMT_PID));
            assert!(packets[0].start && packets[1].start);
            assert_eq!(packets[0].continuity, round % 16);
            assert_eq!(packets[1].continuity, round % 16);
        }
        let tables = muxer.tables();
        let pmt = &tables[188..];
        let section_length = usize::from(u16::from_be_bytes([pmt[6], pmt[7]]) & 0x0FFF);
        assert_eq!(crc32_mpeg2(&pmt[5..8 + section_length]), 0);
        // PCR PID, then H.264 on 0x100 and ADTS AAC on 0x101.
        assert_eq!(&pmt[13..15], &[0xE1, 0x00]);
        assert_eq!(
            &pmt[17..27],
            &[0x1B, 0xE1, 0x00, 0xF0, 0x00, 0x0F, 0xE1, 0x01, 0xF0, 0x00]
        );
    }

    #[test]
    fn keyframe_pes_carries_pcr_timestamps_and_parameter_sets() {
        let (video, audio) = (video_track(), audio_track());
        let mut muxer = TsMuxer::new(&[&video, &audio]).unwrap();
        // 1000 ms dts, 66 ms composition offset, a 5000-byte IDR slice.
        let out = muxer
            .frame(&frame(TrackId::VIDEO, 1000, 66, true, slice(0x65, 5000)))
            .unwrap();
        let packets = parse(&out);
        let payload: usize = 19 + 6 + 4 + 27 + 4 + 6 + 4 + 5000;
        assert_eq!(packets.len(), 1 + (payload - 176).div_ceil(184));
        assert!(packets.iter().all(|p| p.pid == VIDEO_PID));
        let counters: Vec<u8> = packets.iter().map(|p| p.continuity).collect();
        assert_eq!(
            counters,
            (0..packets.len() as u8).map(|c| c % 16).collect::<Vec<_>>()
        );
        assert!(packets[0].start && packets[1..].iter().all(|p| !p.start));
        assert_eq!(packets[0].flags, Some(0x50), "random access + PCR");
        assert_eq!(packets[0].pcr, Some(90_000));
        assert!(packets[1..].iter().all(|p| p.pcr.is_none()));
        let pes = pes_of(&out);
        assert_eq!(pes.len(), payload);
        assert_eq!(&pes[..9], &[0, 0, 1, 0xE0, 0, 0, 0x84, 0xC0, 10]);
        assert_eq!(read_timestamp(&pes[9..14]), (3, 1066 * 90));
        assert_eq!(read_timestamp(&pes[14..19]), (1, 1000 * 90));
        assert_eq!(&pes[19..25], &[0, 0, 0, 1, 0x09, 0xF0]);
        assert_eq!(&pes[25..30], &[0, 0, 0, 1, 0x67]);
        assert_eq!(
            &pes[pes.len() - 5000 - 4..pes.len() - 4999],
            &[0, 0, 0, 1, 0x65]
        );

        // The next frame continues the counter; without B-frame delay, PTS only.
        let out = muxer
            .frame(&frame(TrackId::VIDEO, 1033, 0, false, slice(0x41, 100)))
            .unwrap();
        let packets = parse(&out);
        assert_eq!(packets.len(), 1);
        let after = (payload - 176).div_ceil(184) + 1;
        assert_eq!(usize::from(packets[0].continuity), after % 16);
        assert_eq!(packets[0].flags, Some(0x10), "PCR, no random access");
        let pes = pes_of(&out);
        assert_eq!(&pes[6..9], &[0x84, 0x80, 5]);
        assert_eq!(read_timestamp(&pes[9..14]), (2, 1033 * 90));
        assert_eq!(pes.len(), 14 + 6 + 4 + 100);
    }

    #[test]
    fn audio_pes_is_adts_with_pts_and_no_pcr_beside_video() {
        let (video, audio) = (video_track(), audio_track());
        let mut muxer = TsMuxer::new(&[&video, &audio]).unwrap();
        let raw: Vec<u8> = (0..371).map(|i| i as u8).collect();
        let mut counters = Vec::new();
        for n in 0..20 {
            let out = muxer
                .frame(&frame(TrackId::AUDIO, n * 21, 0, true, raw.clone()))
                .unwrap();
            let packets = parse(&out);
            assert_eq!(packets.len(), 3, "14 + 7 + 371 bytes");
            assert!(
                packets
                    .iter()
                    .all(|p| p.pid == AUDIO_PID && p.pcr.is_none())
            );
            assert_eq!(packets[0].flags, None, "no adaptation field in the first");
            counters.extend(packets.iter().map(|p| p.continuity));
            let pes = pes_of(&out);
            assert_eq!(&pes[..9], &[0, 0, 1, 0xC0, 0x01, 0x82, 0x84, 0x80, 5]);
            assert_eq!(read_timestamp(&pes[9..14]), (2, n as u64 * 21 * 90));
            assert_eq!(&pes[14..21], &[0xFF, 0xF1, 0x4C, 0x80, 0x2F, 0x5F, 0xFC]);
            assert_eq!(&pes[21..], &raw[..]);
        }
        let expected: Vec<u8> = (0..60).map(|c| c % 16).collect();
        assert_eq!(counters, expected, "4-bit counter per PID, wrapping");
    }

    #[test]
    fn audio_only_carries_the_pcr() {
        let audio = audio_track();
        let mut muxer = TsMuxer::new(&[&audio]).unwrap();
        let tables = muxer.tables();
        assert_eq!(
            &tables[188 + 13..188 + 15],
            &[0xE1, 0x01],
            "PCR PID is audio"
        );
        let out = muxer
            .frame(&frame(TrackId::AUDIO, 500, 0, true, vec![0x21; 10]))
            .unwrap();
        let packets = parse(&out);
        assert_eq!(packets[0].pcr, Some(45_000));
        assert_eq!(packets[0].flags, Some(0x50));
        assert_eq!(pes_of(&out).len(), 14 + 7 + 10);
    }

    #[test]
    fn discontinuity_is_flagged_on_the_pcr_pid() {
        let video = video_track();
        let mut muxer = TsMuxer::new(&[&video]).unwrap();
        let mut f = frame(TrackId::VIDEO, 0, 0, true, slice(0x65, 10));
        f.flags = f.flags.with(FrameFlags::DISCONTINUITY);
        let out = muxer.frame(&f).unwrap();
        assert_eq!(parse(&out)[0].flags, Some(0xD0));
    }

    #[test]
    fn timestamps_convert_from_the_track_timescale_and_wrap() {
        let mut audio = audio_track();
        audio.timescale = 48_000;
        let mut muxer = TsMuxer::new(&[&audio]).unwrap();
        let out = muxer
            .frame(&frame(TrackId::AUDIO, 48_000 * 3, 0, true, vec![1; 4]))
            .unwrap();
        assert_eq!(read_timestamp(&pes_of(&out)[9..14]).1, 270_000);
        let wrapped = (1i64 << 33) / 90 + 10; // ms past the 33-bit wrap, at 1 kHz
        let video = video_track();
        let mut muxer = TsMuxer::new(&[&video]).unwrap();
        let out = muxer
            .frame(&frame(TrackId::VIDEO, wrapped, 0, false, slice(0x41, 3)))
            .unwrap();
        let expect = (wrapped as u64 * 90) % (1 << 33);
        assert_eq!(read_timestamp(&pes_of(&out)[9..14]).1, expect);
        assert_eq!(parse(&out)[0].pcr, Some(expect));
    }

    #[test]
    fn bad_tracks_are_rejected() {
        let (video, audio) = (video_track(), audio_track());
        assert_eq!(TsMuxer::new(&[]).err(), Some(TsError::NoTracks));
        assert_eq!(
            TsMuxer::new(&[&video, &video]).err(),
            Some(TsError::DuplicateTrack("video"))
        );
        let opus = Track {
            config: CodecConfig::Audio {
                codec: AudioCodec::Opus,
                specific: Bytes::new(),
                sample_rate: 48_000,
                channels: 2,
            },
            ..audio.clone()
        };
        assert_eq!(
            TsMuxer::new(&[&video, &opus]).err(),
            Some(TsError::UnsupportedCodec("Opus"))
        );
        let av1 = Track {
            config: CodecConfig::Video {
                codec: VideoCodec::Av1,
                record: Bytes::new(),
                width: 0,
                height: 0,
            },
            ..video.clone()
        };
        assert_eq!(
            TsMuxer::new(&[&av1]).err(),
            Some(TsError::UnsupportedCodec("AV1"))
        );
        let zero = Track {
            timescale: 0,
            ..audio.clone()
        };
        assert_eq!(
            TsMuxer::new(&[&zero]).err(),
            Some(TsError::ZeroTimescale(TrackId::AUDIO))
        );
        let broken = Track {
            config: CodecConfig::Video {
                codec: VideoCodec::H264,
                record: Bytes::from_static(&[1, 2]),
                width: 0,
                height: 0,
            },
            ..video
        };
        assert!(matches!(
            TsMuxer::new(&[&broken]),
            Err(TsError::AvcConfig(_))
        ));
    }

    #[test]
    fn empty_and_garbage_frames_never_panic() {
        let (video, audio) = (video_track(), audio_track());
        let mut muxer = TsMuxer::new(&[&video, &audio]).unwrap();
        for track in [TrackId::VIDEO, TrackId::AUDIO] {
            assert_eq!(
                muxer.frame(&frame(track, 0, 0, true, Vec::new())),
                Err(TsError::EmptyFrame)
            );
        }
        assert_eq!(
            muxer.frame(&frame(TrackId(7), 0, 0, true, vec![1])),
            Err(TsError::UnknownTrack(TrackId(7)))
        );
        assert!(matches!(
            muxer.frame(&frame(TrackId::AUDIO, 0, 0, true, vec![0; 9000])),
            Err(TsError::FrameTooLarge { .. })
        ));
        // A cheap deterministic byte generator (xorshift): garbage of every length and
        // timestamp extremes, for both tracks.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let extremes = [i64::MIN, -1, 0, 1, i64::MAX];
        for n in 0..2000usize {
            let len = n % 700;
            let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if n % 3 == 0 && len >= 4 {
                // A plausible length prefix, so some garbage gets past the NAL check.
                let body = (len - 4) as u32;
                data[..4].copy_from_slice(&body.to_be_bytes());
            }
            let dts = extremes[n % extremes.len()];
            let cts = [i32::MIN, 0, i32::MAX][n % 3];
            for track in [TrackId::VIDEO, TrackId::AUDIO] {
                let mut f = frame(track, dts, cts, n % 2 == 0, data.clone());
                if next() % 5 == 0 {
                    f.flags = f.flags.with(FrameFlags::DISCONTINUITY);
                }
                if let Ok(out) = muxer.frame(&f) {
                    assert!(!out.is_empty());
                    parse(&out);
                }
            }
        }
    }
}
