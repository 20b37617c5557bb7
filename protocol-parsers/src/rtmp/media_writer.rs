//! Media messages of an established publish, encoded apart from the session that
//! set the connection up, so that the sender can write them itself: the relay
//! writes a frame to every caught-up destination from the publisher's thread, and
//! the destination's session only sees the control messages. Every message starts
//! with a full (type 0) chunk header, so a writer shares no state with the session
//! beyond the chunk size and the message stream id.

use bytes::Bytes;

use super::chunk::ChunkEncoder;
use super::media::{MediaMuxer, Metadata};
use super::message::{MessageType, csid};
use crate::media::{Frame, Track};

/// Chunks of any message, and the media message bodies (FLV tag headers before
/// shared payloads). Used by the sessions and by `MediaWriter`.
#[derive(Debug, Default)]
pub(crate) struct MessageWriter {
    encoder: ChunkEncoder,
    muxer: MediaMuxer,
}

impl MessageWriter {
    pub fn chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }

    pub fn set_chunk_size(&mut self, size: u32) {
        self.encoder.set_chunk_size(size);
    }

    pub fn message(
        &mut self,
        csid: u32,
        timestamp: u32,
        type_id: MessageType,
        msid: u32,
        payload: &[Bytes],
        out: &mut Vec<Bytes>,
    ) {
        self.encoder
            .write_message(csid, timestamp, type_id, msid, payload, out);
    }

    pub fn metadata(
        &mut self,
        msid: u32,
        metadata: &Metadata,
        set_data_frame: bool,
        out: &mut Vec<Bytes>,
    ) {
        let body = self.muxer.metadata(metadata, set_data_frame);
        self.message(csid::DATA, 0, MessageType::DATA_AMF0, msid, &[body], out);
    }

    pub fn track_config(&mut self, msid: u32, track: &Track, timestamp: u32, out: &mut Vec<Bytes>) {
        let (csid, type_id, header, record) = self.muxer.track_config(track);
        self.message(csid, timestamp, type_id, msid, &[header, record], out);
    }

    pub fn frame(
        &mut self,
        msid: u32,
        track: &Track,
        frame: &Frame,
        timestamp: u32,
        cts: i32,
        out: &mut Vec<Bytes>,
    ) {
        let (csid, type_id, header) = self.muxer.frame_header(track, frame, cts);
        let payload = [header, frame.data.clone()];
        self.message(csid, timestamp, type_id, msid, &payload, out);
    }
}

/// Everything besides the media that a `MediaWriter`'s bytes depend on: two writers
/// with equal settings encode the same frame into the same bytes (every message
/// starts with a full chunk header, so no other state carries between messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterSettings {
    pub chunk_size: u32,
    pub stream_id: u32,
    pub set_data_frame: bool,
}

/// The media of one live publish (`ClientSession::media_writer`): the same bytes
/// the session's own `send_*` methods would queue, appended to the caller's list.
#[derive(Debug)]
pub struct MediaWriter {
    messages: MessageWriter,
    stream_id: u32,
    /// A publisher announces metadata with `@setDataFrame`; a server playing to a
    /// viewer sends plain `onMetaData`.
    set_data_frame: bool,
}

impl MediaWriter {
    /// A writer for a connection already set up with these settings (the session's
    /// `media_writer` gives the one that matches it).
    pub fn new(chunk_size: u32, stream_id: u32, set_data_frame: bool) -> Self {
        let mut messages = MessageWriter::default();
        messages.set_chunk_size(chunk_size);
        Self {
            messages,
            stream_id,
            set_data_frame,
        }
    }

    pub fn settings(&self) -> WriterSettings {
        WriterSettings {
            chunk_size: self.messages.chunk_size(),
            stream_id: self.stream_id,
            set_data_frame: self.set_data_frame,
        }
    }

    pub fn metadata(&mut self, metadata: &Metadata, out: &mut Vec<Bytes>) {
        self.messages
            .metadata(self.stream_id, metadata, self.set_data_frame, out);
    }

    pub fn track_config(&mut self, track: &Track, timestamp: u32, out: &mut Vec<Bytes>) {
        self.messages
            .track_config(self.stream_id, track, timestamp, out);
    }

    pub fn frame(
        &mut self,
        track: &Track,
        frame: &Frame,
        timestamp: u32,
        cts: i32,
        out: &mut Vec<Bytes>,
    ) {
        self.messages
            .frame(self.stream_id, track, frame, timestamp, cts, out);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::media::{AudioCodec, CodecConfig, FrameFlags, TrackId};
    use crate::rtmp::media::MediaEvent;
    use crate::rtmp::{ClientConfig, ClientSession, ServerEvent, ServerSession};
    use crate::{Limits, Session};

    fn transmitted(session: &mut impl Session) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(transmit) = session.poll_transmit() {
            transmit
                .pieces
                .iter()
                .for_each(|p| out.extend_from_slice(p));
        }
        out
    }

    /// A client and a server session exchanging bytes until the publish is live.
    fn live_pair(now: Instant) -> (ClientSession, ServerSession) {
        let config = ClientConfig {
            app: "live".into(),
            tc_url: "rtmp://127.0.0.1/live".into(),
            stream_key: "key".into(),
        };
        let mut client = ClientSession::new(now, [1; 1528], config, Limits::default());
        let mut server = ServerSession::new(now, [2; 1528], Limits::default());
        for _ in 0..20 {
            let to_server = transmitted(&mut client);
            if !to_server.is_empty() {
                server
                    .handle_input(now, Bytes::from(to_server))
                    .expect("server input");
            }
            while let Some(event) = server.poll_event() {
                if matches!(event, ServerEvent::PublishRequested { .. }) {
                    server.accept_publish();
                }
            }
            let to_client = transmitted(&mut server);
            if !to_client.is_empty() {
                client
                    .handle_input(now, Bytes::from(to_client))
                    .expect("client input");
            }
            while client.poll_event().is_some() {}
            if client.is_live() {
                return (client, server);
            }
        }
        panic!("the publish never went live");
    }

    /// The direct path's bytes are exactly the session's, and a server decodes them.
    #[test]
    fn a_media_writer_encodes_what_the_session_would_send() {
        // A test's clock: the sessions only compare instants with each other.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let (mut client, mut server) = live_pair(now);
        let mut writer = client.media_writer().expect("live");
        let track = Track {
            id: TrackId::AUDIO,
            timescale: 1000,
            config: CodecConfig::Audio {
                codec: AudioCodec::Aac,
                specific: Bytes::from_static(&[0x12, 0x10]),
                sample_rate: 44_100,
                channels: 2,
            },
        };
        // Larger than a chunk, so continuation headers are compared too.
        let frame = Frame {
            track: TrackId::AUDIO,
            dts: 40,
            cts: 0,
            flags: FrameFlags::KEYFRAME,
            data: Bytes::from((0..10_000u32).map(|i| i as u8).collect::<Vec<_>>()),
        };
        client.send_track_config(&track, 0);
        client.send_frame(&track, &frame, 40, 0);
        let by_session = transmitted(&mut client);
        let mut pieces = Vec::new();
        writer.track_config(&track, 0, &mut pieces);
        writer.frame(&track, &frame, 40, 0, &mut pieces);
        let by_writer: Vec<u8> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
        assert_eq!(by_writer, by_session);

        server
            .handle_input(now, Bytes::from(by_writer))
            .expect("server decodes the writer's bytes");
        let frames: Vec<Frame> = std::iter::from_fn(|| server.poll_event())
            .filter_map(|event| match event {
                ServerEvent::Media(MediaEvent::Frame(frame)) => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].data, frame.data);
        assert_eq!(frames[0].dts, 40);
    }
}
