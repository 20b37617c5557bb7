//! Between RTMP audio/video/data messages (FLV tag bodies) and the `Frame` model.

use bytes::Bytes;

use super::message::{MessageType, csid};
use super::scratch::ScratchBytes;
use crate::Limits;
use crate::aac::AudioSpecificConfig;
use crate::amf0::{self, Amf0Value};
use crate::flv::{self, AudioTag, FlvError, VideoTag};
use crate::h264::{AvcDecoderConfig, parse_sps};
use crate::media::{AudioCodec, CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec};

/// The `onMetaData` object (an AMF0 object or ECMA array), passed through as sent.
pub type Metadata = Amf0Value;

/// RTMP timestamps are milliseconds.
pub const RTMP_TIMESCALE: u32 = 1000;

/// What one media message of a publisher means for the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// A new or changed decoder configuration.
    Track(Track),
    Frame(Frame),
    Metadata(Metadata),
}

/// Turns a publisher's media messages into tracks and frames.
#[derive(Debug, Default)]
pub struct MediaDemuxer {
    video: Option<Track>,
    audio: Option<Track>,
}

impl MediaDemuxer {
    pub fn video(&mut self, timestamp: u32, body: &Bytes) -> Result<Option<MediaEvent>, FlvError> {
        Ok(match flv::parse_video(body)? {
            VideoTag::Config { codec, record } => {
                let (width, height) = video_dimensions(codec, &record);
                let track = Track {
                    id: TrackId::VIDEO,
                    timescale: RTMP_TIMESCALE,
                    config: CodecConfig::Video {
                        codec,
                        record,
                        width,
                        height,
                    },
                };
                if self.video.as_ref() == Some(&track) {
                    return Ok(None);
                }
                self.video = Some(track.clone());
                Some(MediaEvent::Track(track))
            }
            VideoTag::Frame {
                keyframe,
                cts,
                data,
                ..
            } => {
                if self.video.is_none() || data.is_empty() {
                    // Frames before the sequence header cannot be decoded by anyone.
                    return Ok(None);
                }
                let flags = if keyframe {
                    FrameFlags::KEYFRAME
                } else {
                    FrameFlags::NONE
                };
                Some(MediaEvent::Frame(Frame {
                    track: TrackId::VIDEO,
                    dts: i64::from(timestamp),
                    cts,
                    flags,
                    data,
                }))
            }
            VideoTag::EndOfSequence { .. } | VideoTag::Ignored => None,
        })
    }

    pub fn audio(&mut self, timestamp: u32, body: &Bytes) -> Result<Option<MediaEvent>, FlvError> {
        Ok(match flv::parse_audio(body)? {
            AudioTag::Config { codec, specific } => {
                let (sample_rate, channels) = match codec {
                    AudioCodec::Aac => AudioSpecificConfig::parse(&specific)
                        .map_or((0, 0), |asc| (asc.sample_rate, asc.channels)),
                    _ => (48_000, 2),
                };
                let track = Track {
                    id: TrackId::AUDIO,
                    timescale: RTMP_TIMESCALE,
                    config: CodecConfig::Audio {
                        codec,
                        specific,
                        sample_rate,
                        channels,
                    },
                };
                if self.audio.as_ref() == Some(&track) {
                    return Ok(None);
                }
                self.audio = Some(track.clone());
                Some(MediaEvent::Track(track))
            }
            AudioTag::Frame { codec, data } => {
                if self.audio.is_none() {
                    if codec != AudioCodec::Mp3 {
                        return Ok(None);
                    }
                    // MP3 carries no sequence header: its first frame defines the track.
                    let track = Track {
                        id: TrackId::AUDIO,
                        timescale: RTMP_TIMESCALE,
                        config: CodecConfig::Audio {
                            codec,
                            specific: Bytes::new(),
                            sample_rate: 44_100,
                            channels: 2,
                        },
                    };
                    self.audio = Some(track.clone());
                    return Ok(Some(MediaEvent::Track(track)));
                }
                Some(MediaEvent::Frame(Frame {
                    track: TrackId::AUDIO,
                    dts: i64::from(timestamp),
                    cts: 0,
                    flags: FrameFlags::KEYFRAME,
                    data,
                }))
            }
        })
    }

    /// `onMetaData`, bare or wrapped in `@setDataFrame`; other data messages are ignored.
    pub fn data(
        &mut self,
        body: &[u8],
        limits: &Limits,
    ) -> Result<Option<MediaEvent>, amf0::Amf0Error> {
        let values = amf0::decode(body, limits)?;
        let mut iter = values.into_iter().peekable();
        if iter.peek().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
            iter.next();
        }
        if iter.next().as_ref().and_then(Amf0Value::as_str) != Some("onMetaData") {
            return Ok(None);
        }
        Ok(iter.next().map(MediaEvent::Metadata))
    }
}

fn video_dimensions(codec: VideoCodec, record: &Bytes) -> (u32, u32) {
    if codec != VideoCodec::H264 {
        return (0, 0);
    }
    AvcDecoderConfig::parse(record)
        .ok()
        .and_then(|config| config.sps.first().and_then(|sps| parse_sps(sps).ok()))
        .map_or((0, 0), |info| (info.width, info.height))
}

/// Writes tracks and frames as media message bodies: a small header from a shared
/// scratch buffer, then the payload `Bytes` unchanged.
#[derive(Debug, Default)]
pub(crate) struct MediaMuxer {
    scratch: ScratchBytes,
}

impl MediaMuxer {
    pub fn track_config(&mut self, track: &Track) -> (u32, MessageType, Bytes, Bytes) {
        match &track.config {
            CodecConfig::Video { codec, record, .. } => {
                let header = self
                    .scratch
                    .copy(flv::video_config_header(*codec).as_bytes());
                (csid::VIDEO, MessageType::VIDEO, header, record.clone())
            }
            CodecConfig::Audio {
                codec,
                specific,
                sample_rate,
                channels,
            } => {
                let header = self
                    .scratch
                    .copy(flv::audio_config_header(*codec, *sample_rate, *channels).as_bytes());
                (csid::AUDIO, MessageType::AUDIO, header, specific.clone())
            }
        }
    }

    pub fn frame_header(
        &mut self,
        track: &Track,
        frame: &Frame,
        cts: i32,
    ) -> (u32, MessageType, Bytes) {
        match &track.config {
            CodecConfig::Video { codec, .. } => {
                let tag = flv::video_frame_header(*codec, frame.is_keyframe(), cts);
                (
                    csid::VIDEO,
                    MessageType::VIDEO,
                    self.scratch.copy(tag.as_bytes()),
                )
            }
            CodecConfig::Audio {
                codec,
                sample_rate,
                channels,
                ..
            } => {
                let tag = flv::audio_frame_header(*codec, *sample_rate, *channels);
                (
                    csid::AUDIO,
                    MessageType::AUDIO,
                    self.scratch.copy(tag.as_bytes()),
                )
            }
        }
    }

    pub fn metadata(&mut self, metadata: &Metadata, set_data_frame: bool) -> Bytes {
        let mut out = Vec::with_capacity(256);
        if set_data_frame {
            Amf0Value::string("@setDataFrame").encode(&mut out);
        }
        Amf0Value::string("onMetaData").encode(&mut out);
        metadata.encode(&mut out);
        Bytes::from(out)
    }
}
