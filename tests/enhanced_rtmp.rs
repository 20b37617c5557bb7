//! Enhanced RTMP passthrough: an HEVC stream published with FourCC `hvc1` headers
//! reaches a push destination with the same decoder configuration, payloads,
//! keyframe flags and composition offsets. (Debian 12's ffmpeg 5.1 predates
//! Enhanced RTMP, so both ends are driven by the crate's own sans-IO sessions over
//! real sockets, through a real Manifold process.)

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{ENGINES, Manifold};
use protocol_parsers::media::{CodecConfig, Frame, FrameFlags, Track, TrackId, VideoCodec};
use protocol_parsers::rtmp::media::MediaEvent;
use protocol_parsers::rtmp::{
    ClientConfig, ClientEvent, ClientSession, ServerEvent, ServerSession,
};
use protocol_parsers::{Limits, Session};

/// An HEVCDecoderConfigurationRecord as x265 writes it (its content is opaque to a
/// relay; the test only needs it carried byte for byte).
const HVCC: &[u8] = &[
    0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0xf0, 0x00, 0xfc,
    0xfd, 0xf8, 0xf8, 0x00, 0x00, 0x0f, 0x03, 0x20, 0x00, 0x01, 0x00, 0x04, 0x40, 0x01, 0x0c, 0x01,
];

fn flush<S: Session>(session: &mut S, socket: &mut TcpStream) {
    while let Some(transmit) = session.poll_transmit() {
        for piece in transmit.pieces {
            socket.write_all(&piece).expect("write");
        }
    }
}

fn frames() -> Vec<Frame> {
    (0..90u32)
        .map(|i| Frame {
            track: TrackId::VIDEO,
            dts: i64::from(i * 33),
            cts: if i % 3 == 1 { 66 } else { 0 },
            flags: if i % 30 == 0 {
                FrameFlags::KEYFRAME
            } else {
                FrameFlags::NONE
            },
            data: Bytes::from(format!("hevc access unit {i:04} ").repeat(20 + (i % 7) as usize)),
        })
        .collect()
}

/// Accepts one publish and reports the video track and frames it receives.
fn sink(listener: TcpListener, events: mpsc::Sender<MediaEvent>) {
    let (mut socket, _) = listener.accept().expect("accept the push");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut session = ServerSession::new(Instant::now(), [3; 1528], Limits::default());
    let mut buf = vec![0u8; 65536];
    loop {
        let n = match socket.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if session
            .handle_input(Instant::now(), Bytes::copy_from_slice(&buf[..n]))
            .is_err()
        {
            return;
        }
        while let Some(event) = session.poll_event() {
            match event {
                ServerEvent::PublishRequested { .. } => session.accept_publish(),
                ServerEvent::Media(media) => {
                    // The test has its frames (or gave up): stop reading.
                    let Ok(()) = events.send(media) else { return };
                }
                _ => {}
            }
        }
        flush(&mut session, &mut socket);
    }
}

#[test]
fn hevc_passes_through_with_enhanced_rtmp_headers() {
    for engine in ENGINES {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let sink_port = listener.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::channel();
        let sink_thread = std::thread::spawn(move || sink(listener, tx));
        let server = Manifold::start(
            engine,
            &format!(
                "[[stream]]\nname = \"main\"\nkey = \"K\"\n[[stream.push]]\nname = \"sink\"\nurl = \"rtmp://127.0.0.1:{sink_port}/live/out\"\n"
            ),
        );

        let mut socket = TcpStream::connect(("127.0.0.1", server.rtmp_port)).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let config = ClientConfig {
            app: "live".into(),
            tc_url: format!("rtmp://127.0.0.1:{}/live", server.rtmp_port),
            stream_key: "K".into(),
        };
        let mut session = ClientSession::new(Instant::now(), [4; 1528], config, Limits::default());
        flush(&mut session, &mut socket);
        let mut buf = vec![0u8; 65536];
        while !session.is_live() {
            let n = socket.read(&mut buf).expect("read from manifold");
            assert!(n > 0, "{engine}: manifold closed during publish setup");
            session
                .handle_input(Instant::now(), Bytes::copy_from_slice(&buf[..n]))
                .expect("rtmp");
            flush(&mut session, &mut socket);
            if let Some(ClientEvent::Rejected { reason }) = session.poll_event() {
                panic!("{engine}: publish refused: {reason}");
            }
        }
        let track = Track {
            id: TrackId::VIDEO,
            timescale: 1000,
            config: CodecConfig::Video {
                codec: VideoCodec::H265,
                record: Bytes::from_static(HVCC),
                width: 0,
                height: 0,
            },
        };
        session.send_track_config(&track, 0);
        flush(&mut session, &mut socket);
        // Frames sent before the push is live would reach it only from the last
        // keyframe (the GOP cache); wait so every frame is expected.
        server
            .log
            .wait_for_line(&["push live", "output=sink"], Duration::from_secs(10));
        let sent = frames();
        for frame in &sent {
            session.send_frame(&track, frame, frame.dts as u32, frame.cts);
        }
        flush(&mut session, &mut socket);

        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got_track = None;
        let mut got = Vec::new();
        while got.len() < sent.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(MediaEvent::Track(track)) => got_track = Some(track),
                Ok(MediaEvent::Frame(frame)) => got.push(frame),
                Ok(MediaEvent::Metadata(_)) => {}
                Err(_) => panic!(
                    "{engine}: {} of {} frames reached the destination",
                    got.len(),
                    sent.len()
                ),
            }
        }
        let got_track = got_track.expect("the destination got a sequence header");
        match &got_track.config {
            CodecConfig::Video { codec, record, .. } => {
                assert_eq!(*codec, VideoCodec::H265, "{engine}: codec");
                assert_eq!(&record[..], HVCC, "{engine}: hvcC carried byte for byte");
            }
            other => panic!("{engine}: expected a video track, got {other:?}"),
        }
        for (s, g) in sent.iter().zip(&got) {
            assert_eq!(g.data, s.data, "{engine}: payload of frame at {}", s.dts);
            assert_eq!(g.cts, s.cts, "{engine}: composition offset at {}", s.dts);
            assert_eq!(
                g.is_keyframe(),
                s.is_keyframe(),
                "{engine}: keyframe flag at {}",
                s.dts
            );
            assert_eq!(g.dts, s.dts, "{engine}: timestamp");
        }
        drop(socket);
        drop(server);
        let _ = sink_thread.join();
    }
}
