//! MPEG-TS reading: [`TsDemuxer`] turns a transport stream, in pieces of any size, into
//! the [`Track`]s and [`Frame`]s of its first program's H.264/HEVC video and ADTS AAC
//! audio.
//!
//! The path of a byte: the framer finds packets (resyncing on 0x47), the header says
//! which PID; PAT and PMT sections pick the streams; each stream's PES bodies are
//! copied once, video straight into AVCC form, audio into one buffer that its frames
//! are sliced from.

mod audio;
mod avcc_writer;
mod framer;
mod header;
mod parameter_sets;
mod pes;
mod program;
mod section;
mod stream;
mod tables;
mod timeline;
mod video;

use std::collections::VecDeque;

use self::audio::Audio;
use self::framer::Framer;
use self::header::NULL_PID;
use self::program::Program;
use self::stream::PesStream;
use self::tables::ProgramStreams;
use self::timeline::Timeline;
use self::video::Video;
use super::PACKET_LEN;
use super::psi::PAT_PID;
use crate::Limits;
use crate::media::{Frame, Track};

/// Every track's timescale: PTS and DTS count a 90 kHz clock.
const TIMESCALE: u32 = 90_000;

/// What the demuxer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemuxEvent {
    /// A track's configuration, before its first frame and again whenever it changes.
    Track(Track),
    Frame(Frame),
}

/// Counters of what the demuxer read and what it had to drop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemuxStats {
    /// Packets found by the framer.
    pub packets: u64,
    /// Times sync was found again after bytes had to be skipped.
    pub resyncs: u64,
    /// Bytes skipped looking for sync, and trailing partial packets.
    pub skipped_bytes: u64,
    /// Packets with transport_error_indicator set or an adaptation field longer than
    /// the packet.
    pub transport_errors: u64,
    /// Packets whose payload is scrambled; they are dropped.
    pub scrambled_packets: u64,
    /// Continuity counter gaps on the PIDs being read.
    pub continuity_errors: u64,
    /// PAT/PMT sections with a bad CRC, length or layout.
    pub psi_errors: u64,
    /// PES packets dropped as malformed, incomplete, too large, or without a time.
    pub dropped_pes: u64,
    /// PMT streams not carried: other stream types, second video or audio streams.
    pub unsupported_streams: u64,
    /// Frames handed out.
    pub frames: u64,
    /// Video access units before the parameter sets for a decoder configuration.
    pub frames_before_config: u64,
    /// Parameter sets that could not be read, or over what a record may hold.
    pub parameter_set_errors: u64,
    /// ADTS frames that could not be read (no sync, truncated, several raw blocks).
    pub dropped_frames: u64,
    /// Frames dropped because the event queue was full (events not polled).
    pub queue_overflows: u64,
}

/// A sans-IO MPEG-TS demuxer for one program.
///
/// `push` bytes as they arrive (SRT datagrams of 7 packets, or pieces of any size),
/// then drain [`poll_event`](Self::poll_event). Nothing in the input makes it fail or
/// panic: damage is skipped, resynced over and counted in [`stats`](Self::stats).
/// Timestamps are in 90 kHz ticks from the first one seen on any track, unwrapped
/// past the 33-bit wrap. A packet is read once the sync byte of the next one has
/// arrived (or at [`flush`](Self::flush)), so that how the input is cut never changes
/// the result; a video frame comes out when the next one starts (its PES length is
/// unbounded), an audio PES as soon as its announced length is in.
#[derive(Debug)]
pub struct TsDemuxer {
    framer: Framer,
    demux: Demux,
}

impl Default for TsDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl TsDemuxer {
    pub fn new() -> Self {
        Self::with_limits(&Limits::default())
    }

    /// Uses the `ts_*` limits of `limits`.
    pub fn with_limits(limits: &Limits) -> Self {
        Self {
            framer: Framer::default(),
            demux: Demux {
                program: Program::default(),
                video: None,
                audio: None,
                out: Output {
                    events: VecDeque::new(),
                    max_events: limits.ts_max_pending_events,
                    stats: DemuxStats::default(),
                    timeline: Timeline::default(),
                },
                max_video_pes: limits.ts_max_video_pes_len,
                max_audio_pes: limits.ts_max_audio_pes_len,
            },
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        let demux = &mut self.demux;
        self.framer.push(data, &mut |packet| demux.packet(packet));
    }

    pub fn poll_event(&mut self) -> Option<DemuxEvent> {
        self.demux.out.events.pop_front()
    }

    /// End of input: reads a last packet without waiting for the next sync byte and
    /// ends the PES of every stream (video PES have no announced length and would
    /// otherwise wait for the next one to start).
    pub fn flush(&mut self) {
        let demux = &mut self.demux;
        self.framer.flush(&mut |packet| demux.packet(packet));
        let Demux {
            video, audio, out, ..
        } = demux;
        if let Some(video) = video {
            video.end(out);
        }
        if let Some(audio) = audio {
            audio.end(out);
        }
    }

    pub fn stats(&self) -> DemuxStats {
        DemuxStats {
            resyncs: self.framer.resyncs,
            skipped_bytes: self.framer.skipped_bytes,
            ..self.demux.out.stats
        }
    }
}

/// Everything past the framer.
#[derive(Debug)]
struct Demux {
    program: Program,
    video: Option<PesStream<Video>>,
    audio: Option<PesStream<Audio>>,
    out: Output,
    max_video_pes: usize,
    max_audio_pes: usize,
}

impl Demux {
    fn packet(&mut self, bytes: &[u8; PACKET_LEN]) {
        let stats = &mut self.out.stats;
        stats.packets += 1;
        let Ok(packet) = header::parse(bytes) else {
            stats.transport_errors += 1;
            return;
        };
        if packet.transport_error {
            stats.transport_errors += 1;
            return;
        }
        if packet.pid == NULL_PID {
            return;
        }
        if packet.scrambled {
            stats.scrambled_packets += 1;
            return;
        }
        if packet.pid == PAT_PID {
            self.program.pat_packet(&packet, stats);
        } else if Some(packet.pid) == self.program.pmt_pid() {
            if let Some(streams) = self.program.pmt_packet(&packet, stats) {
                self.apply(streams);
            }
        } else if let Some(video) = self.video.as_mut().filter(|v| v.pid == packet.pid) {
            video.packet(&packet, &mut self.out);
        } else if let Some(audio) = self.audio.as_mut().filter(|a| a.pid == packet.pid) {
            audio.packet(&packet, &mut self.out);
        }
    }

    /// A new PMT: streams that stay (same PID, same codec) keep their state; the
    /// others end their pending PES and make way.
    fn apply(&mut self, streams: ProgramStreams) {
        self.out.stats.unsupported_streams += streams.unsupported;
        let same_video = match (&self.video, streams.video) {
            (Some(old), Some((pid, codec))) => old.pid == pid && old.es.codec == codec,
            (None, None) => true,
            _ => false,
        };
        if !same_video {
            if let Some(old) = self.video.as_mut() {
                old.end(&mut self.out);
            }
            self.video = streams
                .video
                .map(|(pid, codec)| PesStream::new(pid, Video::new(codec, self.max_video_pes)));
        }
        if self.audio.as_ref().map(|a| a.pid) != streams.audio {
            if let Some(old) = self.audio.as_mut() {
                old.end(&mut self.out);
            }
            self.audio = streams
                .audio
                .map(|pid| PesStream::new(pid, Audio::new(self.max_audio_pes)));
        }
    }
}

/// Where frames go, and what every stream shares: the counters and the timeline.
#[derive(Debug)]
struct Output {
    events: VecDeque<DemuxEvent>,
    max_events: usize,
    stats: DemuxStats,
    timeline: Timeline,
}

impl Output {
    /// Queues `frame`, preceded by `track` unless that already went out. With the queue
    /// full the frame is dropped and the track waits for the next frame.
    fn emit(&mut self, track: &Track, announced: &mut bool, frame: Frame) {
        let needed = if *announced { 1 } else { 2 };
        if self.events.len() + needed > self.max_events {
            self.stats.queue_overflows += 1;
            return;
        }
        if !*announced {
            self.events.push_back(DemuxEvent::Track(track.clone()));
            *announced = true;
        }
        self.events.push_back(DemuxEvent::Frame(frame));
        self.stats.frames += 1;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::media::{AudioCodec, CodecConfig, FrameFlags, TrackId};
    use crate::mpegts::psi::{PmtStream, StreamType, pmt_packet};
    use crate::mpegts::{AUDIO_PID, PMT_PID, SYNC_BYTE, TsMuxer, VIDEO_PID};

    fn audio_track() -> Track {
        Track {
            id: TrackId::AUDIO,
            timescale: TIMESCALE,
            config: CodecConfig::Audio {
                codec: AudioCodec::Aac,
                specific: Bytes::from_static(&[0x11, 0x90]),
                sample_rate: 48_000,
                channels: 2,
            },
        }
    }

    fn audio_frame(n: i64) -> Frame {
        Frame {
            track: TrackId::AUDIO,
            dts: n * 1920,
            cts: 0,
            flags: FrameFlags::KEYFRAME,
            data: Bytes::from(vec![n as u8 + 1; 100]),
        }
    }

    fn drain(demuxer: &mut TsDemuxer) -> Vec<DemuxEvent> {
        std::iter::from_fn(|| demuxer.poll_event()).collect()
    }

    #[test]
    fn audio_comes_out_as_soon_as_its_pes_is_complete() {
        let track = audio_track();
        let mut muxer = TsMuxer::new(&[&track]).unwrap();
        let mut demuxer = TsDemuxer::new();
        demuxer.push(&muxer.tables());
        demuxer.push(&muxer.frame(&audio_frame(0)).unwrap());
        // The framer holds a packet until the next sync byte confirms it.
        assert!(drain(&mut demuxer).is_empty());
        demuxer.push(&[SYNC_BYTE]);
        assert_eq!(
            drain(&mut demuxer),
            [DemuxEvent::Track(track), DemuxEvent::Frame(audio_frame(0))]
        );
    }

    #[test]
    fn a_full_queue_drops_frames_and_keeps_the_track_for_later() {
        let track = audio_track();
        let mut muxer = TsMuxer::new(&[&track]).unwrap();
        let limits = Limits {
            ts_max_pending_events: 3,
            ..Limits::default()
        };
        let mut demuxer = TsDemuxer::with_limits(&limits);
        demuxer.push(&muxer.tables());
        for n in 0..5 {
            demuxer.push(&muxer.frame(&audio_frame(n)).unwrap());
        }
        demuxer.flush();
        assert_eq!(demuxer.stats().queue_overflows, 3);
        assert_eq!(drain(&mut demuxer).len(), 3, "the track and two frames");
        demuxer.push(&muxer.frame(&audio_frame(5)).unwrap());
        demuxer.flush();
        assert_eq!(drain(&mut demuxer), [DemuxEvent::Frame(audio_frame(5))]);
    }

    #[test]
    fn pmt_changes_replace_streams_and_count_the_unsupported_once() {
        let pmt = |streams: &[(StreamType, u16)], continuity: u8| {
            let streams: Vec<PmtStream> = streams
                .iter()
                .map(|&(stream_type, pid)| PmtStream { stream_type, pid })
                .collect();
            let mut packet = pmt_packet(1, PMT_PID, VIDEO_PID, &streams);
            packet[3] |= continuity;
            packet
        };
        let track = audio_track();
        let mut muxer = TsMuxer::new(&[&track]).unwrap();
        let mut demuxer = TsDemuxer::new();
        let tables = muxer.tables();
        demuxer.push(&tables[..PACKET_LEN]); // the PAT alone
        let all = [
            (StreamType::H264, VIDEO_PID),
            (StreamType::AAC_ADTS, AUDIO_PID),
            (StreamType(0x06), 0x102),
            (StreamType::H265, 0x103),
        ];
        demuxer.push(&pmt(&all, 0));
        demuxer.push(&pmt(&all, 1));
        demuxer.flush();
        assert_eq!(demuxer.stats().unsupported_streams, 2);
        assert!(demuxer.demux.video.is_some() && demuxer.demux.audio.is_some());
        // HEVC on the video PID, no audio: the video stream is replaced.
        demuxer.push(&pmt(&[(StreamType::H265, VIDEO_PID)], 2));
        demuxer.flush();
        let video = demuxer.demux.video.as_ref().unwrap();
        assert_eq!(video.es.codec, crate::media::VideoCodec::H265);
        assert!(demuxer.demux.audio.is_none());
        assert_eq!(demuxer.stats().unsupported_streams, 2);
        assert_eq!(demuxer.stats().psi_errors, 0);
    }
}
