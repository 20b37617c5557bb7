//! SRT ingest and SRT read against libsrt peers: ffmpeg (libsrt caller) and
//! srt-live-transmit publish; srt-live-transmit reads; what comes out is checked
//! with ffprobe against the source clip. Callers that cannot be served are refused
//! with the rejection reason libsrt reports, and garbage or a handshake flood on the
//! SRT port leaves a live stream untouched.

mod common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ffprobe::{self, Packet, assert_monotonic, video};
use common::{ENGINES, Manifold, clip, publish, require, wait_exit, wait_for};

const STREAM: &str =
    "[ingest]\ngrace_period_seconds = 1\n[[stream]]\nname = \"main\"\nkey = \"K\"\n";
const PASSPHRASE: &str = "correcthorsebattery";
/// `main` again, with an SRT passphrase.
const ENCRYPTED: &str = "[ingest]\ngrace_period_seconds = 1\n[[stream]]\nname = \"main\"\nkey = \"K\"\npassphrase = \"correcthorsebattery\"\n";

/// Records RTMP play of `name` into `path` until the stream ends.
fn record_rtmp(server: &Manifold, name: &str, path: &Path) -> Child {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(server.rtmp_url(name))
        .args(["-c", "copy", "-f", "flv"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffmpeg recorder");
    server
        .log
        .wait_for_line(&["playing", name], Duration::from_secs(10));
    child
}

/// ffmpeg as a libsrt caller publishing the clip.
fn publish_srt_ffmpeg(media: &Path, url: &str) -> Child {
    publish_srt_ffmpeg_with(media, url, &[])
}

/// `publish_srt_ffmpeg` with extra input options (`-stream_loop -1`).
fn publish_srt_ffmpeg_with(media: &Path, url: &str, input_options: &[&str]) -> Child {
    common::publish_mpegts_with(media, &format!("{url}&pkt_size=1316"), input_options)
}

/// ffmpeg muxes the clip to MPEG-TS at real time into srt-live-transmit's stdin.
/// srt-live-transmit does not exit at the end of its input; `finish` stops it.
struct LiveTransmit {
    ffmpeg: Child,
    transmit: Child,
}

impl LiveTransmit {
    fn start(media: &Path, url: &str) -> Self {
        require("srt-live-transmit");
        let mut ffmpeg = common::publish_mpegts(media, "-");
        let pipe = ffmpeg.stdout.take().expect("ffmpeg stdout");
        let transmit = Command::new("srt-live-transmit")
            .args(["-q", "-a:no", "file://con", url])
            .stdin(Stdio::from(pipe))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start srt-live-transmit");
        Self { ffmpeg, transmit }
    }

    /// Waits for the input to end and for `frames` frames to reach the stream, then
    /// stops srt-live-transmit (SIGTERM: it says goodbye with an SRT shutdown).
    fn finish(mut self, server: &Manifold, frames: u64) {
        let status = wait_exit(
            &mut self.ffmpeg,
            "ffmpeg | srt-live-transmit",
            Duration::from_secs(30),
        );
        assert!(status.success(), "ffmpeg exited with {status}");
        wait_for("every frame to arrive", Duration::from_secs(10), || {
            (ingest_frames(server) >= frames).then_some(())
        });
        common::signal(self.transmit.id(), "TERM");
        wait_exit(
            &mut self.transmit,
            "srt-live-transmit",
            Duration::from_secs(10),
        );
    }
}

/// Frames the stream's publisher has delivered so far (admin API).
fn ingest_frames(server: &Manifold) -> u64 {
    let body = server.api("GET", "/api/v1/streams/main", None).json();
    body["ingest"]["frames"].as_u64().unwrap_or(0)
}

enum Publisher {
    Ffmpeg,
    LiveTransmit,
}

/// Publishes the clip over SRT (`query` adds URL parameters such as a passphrase) to
/// a server with `config`; RTMP play must see every frame and HLS must serve it.
fn srt_ingest_case(engine: &str, publisher: Publisher, what: &str, config: &str, query: &str) {
    let source = ffprobe::file_packets(clip());
    let server = Manifold::start(engine, config);
    let recording = server.dir.path().join("main.flv");
    let mut recorder = record_rtmp(&server, "main", &recording);
    let url = server.srt_url("publish:live/K", query);
    let mut running = match publisher {
        Publisher::Ffmpeg => (Some(publish_srt_ffmpeg(clip(), &url)), None),
        Publisher::LiveTransmit => (None, Some(LiveTransmit::start(clip(), &url))),
    };
    server
        .log
        .wait_for_line(&["publishing", "srt"], Duration::from_secs(10));
    // While live, HLS serves it too.
    let playlist = wait_for("an HLS segment", Duration::from_secs(15), || {
        let response = common::http::request(
            server.http_port,
            "GET",
            "/live/main/source/ts.m3u8",
            &[],
            None,
        );
        (response.status == 200 && response.body.contains("#EXTINF")).then_some(response.body)
    });
    assert!(
        playlist.contains("seg-t-"),
        "{what}: TS playlist:\n{playlist}"
    );
    let hls = ffprobe::streams(&server.http_url("/live/main/source/ts.m3u8"));
    assert_eq!(
        hls.video_codec.as_deref(),
        Some("h264"),
        "{what}: HLS video"
    );
    assert_eq!(hls.audio_codec.as_deref(), Some("aac"), "{what}: HLS audio");
    assert_eq!((hls.width, hls.height), (1920, 1080), "{what}: HLS size");

    if let Some(mut ffmpeg) = running.0.take() {
        let status = wait_exit(&mut ffmpeg, what, Duration::from_secs(30));
        assert!(status.success(), "{what} exited with {status}");
    }
    if let Some(transmit) = running.1.take() {
        // All but the last video frame and the last audio PES (ffmpeg puts several
        // AAC frames in one), which end with the input.
        transmit.finish(&server, source.len() as u64 - 10);
    }
    wait_exit(&mut recorder, "RTMP recorder", Duration::from_secs(20));
    ffprobe::assert_relayed(
        &format!("{what} ({engine}) via RTMP play"),
        &recording,
        &source,
    );
    server
        .log
        .wait_for_line(&["SRT connection ended"], Duration::from_secs(10));
}

#[test]
fn ffmpeg_publishes_over_srt_and_rtmp_play_and_hls_see_every_frame() {
    for engine in ENGINES {
        srt_ingest_case(engine, Publisher::Ffmpeg, "ffmpeg over SRT", STREAM, "");
    }
}

#[test]
fn srt_live_transmit_publishes_over_srt() {
    for engine in ENGINES {
        srt_ingest_case(
            engine,
            Publisher::LiveTransmit,
            "srt-live-transmit",
            STREAM,
            "",
        );
    }
}

#[test]
fn encrypted_publishing_with_aes_128_and_256() {
    let aes128 = format!("passphrase={PASSPHRASE}&pbkeylen=16");
    let aes256 = format!("passphrase={PASSPHRASE}&pbkeylen=32");
    srt_ingest_case(
        "io_uring",
        Publisher::Ffmpeg,
        "ffmpeg AES-128",
        ENCRYPTED,
        &aes128,
    );
    srt_ingest_case(
        "epoll",
        Publisher::Ffmpeg,
        "ffmpeg AES-256",
        ENCRYPTED,
        &aes256,
    );
    srt_ingest_case(
        "io_uring",
        Publisher::LiveTransmit,
        "srt-live-transmit AES-256",
        ENCRYPTED,
        &aes256,
    );
}

#[test]
fn a_wrong_or_missing_passphrase_is_rejected() {
    require("srt-live-transmit");
    let server = Manifold::start("io_uring", ENCRYPTED);
    for (query, reason) in [
        (
            "passphrase=wronghorsebattery&pbkeylen=16".to_owned(),
            "BadSecret",
        ),
        (String::new(), "Unsecure"),
    ] {
        let before = server.log.count("SRT caller rejected");
        refused_caller(&server.srt_url("publish:live/K", &query));
        wait_for(
            &format!("rejection ({reason})"),
            Duration::from_secs(5),
            || (server.log.count("SRT caller rejected") > before).then_some(()),
        );
        assert!(
            !server
                .log
                .lines_with(&["SRT caller rejected", reason])
                .is_empty(),
            "no {reason} rejection:\n{}",
            server.log.text()
        );
    }
    assert_eq!(server.log.count("publishing"), 0);
}

/// Video frames of a TS recording must be the source's, in order, from its first
/// frame: same count, same composition offsets, monotonic timestamps.
fn assert_ts_matches(what: &str, recording: &Path, source: &[Packet]) {
    let info = ffprobe::streams(&recording.display().to_string());
    assert_eq!(info.video_codec.as_deref(), Some("h264"), "{what}: video");
    assert_eq!(info.audio_codec.as_deref(), Some("aac"), "{what}: audio");
    assert_eq!((info.width, info.height), (1920, 1080), "{what}: size");
    let received = ffprobe::file_packets(recording);
    assert_monotonic(what, &received);
    let (src_v, got_v) = (video(source), video(&received));
    // The reader joins first and Manifold lingers at the end until it has had
    // everything: all frames arrive.
    assert!(
        got_v.len() == src_v.len(),
        "{what}: {} video frames of {}",
        got_v.len(),
        src_v.len()
    );
    assert!(
        got_v.first().is_some_and(|p| p.keyframe),
        "{what}: starts on a keyframe"
    );
    let skipped = src_v.len() - got_v.len();
    let src_cts: Vec<i64> = src_v[skipped..].iter().map(|p| p.pts - p.dts).collect();
    let got_cts: Vec<i64> = got_v
        .iter()
        .map(|p| (p.pts - p.dts) * 1000 / 90_000)
        .collect();
    assert_eq!(got_cts, src_cts, "{what}: composition offsets (ms)");
    let src_keys: Vec<bool> = src_v[skipped..].iter().map(|p| p.keyframe).collect();
    let got_keys: Vec<bool> = got_v.iter().map(|p| p.keyframe).collect();
    assert_eq!(got_keys, src_keys, "{what}: keyframe positions");
}

/// srt-live-transmit reads `main` (URL parameters `query`) into `recording` (it
/// writes files only as stdout, `file://con`); returns once Manifold has it. It
/// exits when Manifold ends the connection (`-a:no`: no reconnecting), flushing its
/// output (killed, it would lose what it still buffers).
fn start_reader(server: &Manifold, query: &str, recording: &Path) -> Child {
    let reader = Command::new("srt-live-transmit")
        .args(["-q", "-a:no"])
        .arg(server.srt_url("read:live/main", query))
        .arg("file://con")
        .stdout(std::fs::File::create(recording).expect("create recording"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start srt-live-transmit");
    server
        .log
        .wait_for_line(&["SRT reader connected"], Duration::from_secs(10));
    reader
}

#[test]
fn srt_live_transmit_reads_the_stream_frame_for_frame() {
    require("srt-live-transmit");
    let source = ffprobe::file_packets(clip());
    let aes192 = format!("passphrase={PASSPHRASE}&pbkeylen=24");
    // Encrypted, the reader also gets new keys every 1000 packets (a few times over
    // the clip): libsrt must follow each refresh to decrypt everything.
    let refreshing =
        format!("{ENCRYPTED}[srt]\nkm_refresh_packets = 1000\nkm_preannounce_packets = 200\n");
    let cases = [
        (ENGINES[0], STREAM, ""),
        (ENGINES[1], STREAM, ""),
        (ENGINES[0], refreshing.as_str(), aes192.as_str()),
    ];
    for (engine, config, query) in cases {
        let server = Manifold::start(engine, config);
        let recording = server.dir.path().join("read.ts");
        // The reader joins before the publisher, so it gets the stream from its start.
        let mut reader = start_reader(&server, query, &recording);
        let mut publisher = publish(clip(), &server.rtmp_url("K"));
        // The monitoring export shows the reader and what was sent to it.
        wait_for(
            "the reader in the admin API",
            Duration::from_secs(10),
            || {
                let view = server.api("GET", "/api/v1/streams/main", None).json();
                let reader = view["srt"].as_array()?.first()?.clone();
                (view["viewers"]["srt"] == 1
                    && reader["role"] == "read"
                    && reader["sent"]["packets"].as_u64()? > 100)
                    .then_some(())
            },
        );
        if config.contains("km_refresh_packets") {
            wait_for("reader keys refreshed", Duration::from_secs(15), || {
                let view = server.api("GET", "/api/v1/streams/main", None).json();
                let reader = view["srt"].as_array()?.first()?.clone();
                (reader["key_refreshes"].as_u64()? >= 3).then_some(())
            });
        }
        let status = wait_exit(
            &mut publisher,
            "ffmpeg RTMP publish",
            Duration::from_secs(30),
        );
        assert!(status.success());
        // The stream ends after the grace period; Manifold then shuts the reader down.
        server
            .log
            .wait_for_line(&["SRT reader left"], Duration::from_secs(15));
        wait_exit(
            &mut reader,
            "srt-live-transmit reader",
            Duration::from_secs(10),
        );
        assert_ts_matches(
            &format!("SRT read ({engine}, {query:?})"),
            &recording,
            &source,
        );
    }
}

/// Runs a libsrt caller (4 s at most, no reconnecting) that must be refused.
fn refused_caller(url: &str) {
    let mut cmd = Command::new("srt-live-transmit");
    cmd.args(["-a:no", "-t:4"]).arg(url).arg("file://con");
    common::run_output(cmd, "srt-live-transmit", Duration::from_secs(20));
}

#[test]
fn callers_that_cannot_be_served_are_rejected_with_a_reason() {
    require("srt-live-transmit");
    let server = Manifold::start("io_uring", STREAM);
    for (stream_id, reason) in [
        ("read:live/nosuch", "NotFound"),
        ("garbage", "BadRequest"),
        ("#!::r=live/main,m=bidirectional", "BadMode"),
        ("publish:live/WRONG", "Unauthorized"),
    ] {
        let before = server.log.count("SRT caller rejected");
        refused_caller(&server.srt_url(stream_id, ""));
        wait_for(
            &format!("rejection of {stream_id}"),
            Duration::from_secs(5),
            || (server.log.count("SRT caller rejected") > before).then_some(()),
        );
        let lines = server.log.lines_with(&["SRT caller rejected", reason]);
        assert!(
            !lines.is_empty(),
            "{stream_id}: no {reason} rejection:\n{}",
            server.log.text()
        );
    }
    // A second publisher for a live stream.
    let mut first = publish_srt_ffmpeg(
        &common::test_media(40),
        &server.srt_url("publish:live/K", ""),
    );
    server
        .log
        .wait_for_line(&["publishing", "srt"], Duration::from_secs(10));
    refused_caller(&server.srt_url("publish:live/K", ""));
    server
        .log
        .wait_for_line(&["SRT caller rejected", "Conflict"], Duration::from_secs(5));
    let _ = first.kill();
    let _ = first.wait();
}

/// An SRT induction handshake from socket `id` (what every caller sends first).
fn induction(id: u32) -> Vec<u8> {
    let mut packet = Vec::with_capacity(64);
    for word in [
        0x8000_0000u32,
        0,
        0,
        0,
        4,
        2,
        id,
        1500,
        8192,
        1,
        id,
        0,
        0,
        0,
        0,
        0,
    ] {
        packet.extend_from_slice(&word.to_be_bytes());
    }
    packet
}

#[test]
fn garbage_sent_to_cores_without_connections_is_counted() {
    // A core with no SRT connection sleeps; what it refuses still reaches the
    // admin board (within a second). Several source ports, so both cores get some.
    for engine in ENGINES {
        let server = Manifold::start(engine, "");
        let target = ("127.0.0.1", server.srt_port);
        for _ in 0..8 {
            let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
            for _ in 0..5 {
                socket.send_to(b"not srt", target).expect("send");
            }
        }
        wait_for("all 40 datagrams counted", Duration::from_secs(5), || {
            let srt = server.api("GET", "/api/v1/srt", None).json();
            let malformed = srt["refused"]["malformed_datagrams"].as_u64()?;
            (malformed == 40).then_some(())
        });
    }
}

#[test]
fn garbage_and_a_handshake_flood_leave_a_live_stream_alone() {
    let server = Manifold::start("io_uring", STREAM);
    // Looped: under a loaded CI machine the flood and the waits below can outlast
    // the clip, and a publisher that simply finished would look like one the
    // flood had cut off.
    let mut publisher = publish_srt_ffmpeg_with(
        &common::test_media(40),
        &server.srt_url("publish:live/K", ""),
        &["-stream_loop", "-1"],
    );
    server
        .log
        .wait_for_line(&["publishing", "srt"], Duration::from_secs(10));
    let frames = || ingest_frames(&server);
    let rss_before = server.rss_kib();
    let target = ("127.0.0.1", server.srt_port);
    let mut seed = 0x1234_5678u64;
    let started = Instant::now();
    // 200 source ports, each sending inductions and garbage: 20,000 datagrams.
    for port_round in 0..200u32 {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        for i in 0..50u32 {
            let _ = socket.send_to(&induction(port_round * 100 + i + 1), target);
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 40) as usize % 1500;
            let garbage: Vec<u8> = (0..len).map(|j| (seed >> (j % 56)) as u8).collect();
            let _ = socket.send_to(&garbage, target);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "flood took too long"
        );
    }
    let before = frames();
    wait_for(
        "frames to keep arriving after the flood",
        Duration::from_secs(10),
        || (frames() > before + 60).then_some(()),
    );
    let rss_after = server.rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB under a handshake flood"
    );
    // The monitoring export counts the garbage (the kernel may drop some of the
    // burst before Manifold reads it) and still shows the publisher, unharmed.
    let srt = wait_for("the garbage counted", Duration::from_secs(5), || {
        let srt = server.api("GET", "/api/v1/srt", None).json();
        let refused = &srt["refused"];
        let garbage =
            refused["malformed_datagrams"].as_u64()? + refused["unknown_destination"].as_u64()?;
        (garbage >= 100).then_some(srt)
    });
    let connections = srt["connections"].as_array().expect("connections");
    assert_eq!(
        connections.len(),
        1,
        "{srt}\npublisher exited: {:?}, {:.1} s after the flood began; SRT log:\n{}",
        publisher.try_wait(),
        started.elapsed().as_secs_f64(),
        server.log.lines_with(&["srt"]).join("\n")
    );
    assert_eq!(connections[0]["stream"], "main");
    assert_eq!(connections[0]["role"], "publish");
    assert!(connections[0]["received"]["packets"].as_u64() > Some(100));
    let metrics = common::http::request(server.admin_port, "GET", "/metrics", &[], None).body;
    common::promtool_check(&metrics);
    for series in [
        "manifold_srt_received_packets_total{stream=\"main\",role=\"publish\",remote=\"127.0.0.1:",
        "manifold_srt_rtt_seconds{stream=\"main\",role=\"publish\"",
        "manifold_srt_refused_total{reason=\"unknown_destination\"}",
    ] {
        assert!(metrics.contains(series), "no {series} in\n{metrics}");
    }
    assert!(
        publisher.try_wait().expect("try_wait").is_none(),
        "the publisher was cut off"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
}

/// HEVC over SRT: x265 in MPEG-TS, published over SRT, is served by HLS (fMP4 with
/// an hvcC built from the in-band VPS/SPS/PPS) and by SRT read frame for frame.
#[test]
fn hevc_published_over_srt_plays_from_hls_and_srt_read() {
    require("srt-live-transmit");
    let server = Manifold::start(ENGINES[0], STREAM);
    let media = server.dir.path().join("hevc.ts");
    common::make_clip(
        &media,
        "640x360",
        "30",
        8,
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "keyint=30:min-keyint=30:bframes=2:log-level=error",
        ],
    );
    let source = ffprobe::file_packets(&media);

    let recording = server.dir.path().join("read.ts");
    let mut reader = start_reader(&server, "", &recording);
    // srt-live-transmit publishes: unlike the ffmpeg caller, it gets all of its
    // input out before it closes (ffmpeg lost the last frames even to libsrt).
    let publisher = LiveTransmit::start(&media, &server.srt_url("publish:live/K", ""));
    let playlist = "/live/main/source/video.m3u8";
    wait_for("an fMP4 segment", Duration::from_secs(15), || {
        let response = common::http::request(server.http_port, "GET", playlist, &[], None);
        (response.status == 200 && response.body.contains("#EXTINF")).then_some(())
    });
    let hls = ffprobe::streams(&server.http_url("/live/main/index.m3u8"));
    assert_eq!(hls.video_codec.as_deref(), Some("hevc"), "HLS video");
    assert_eq!((hls.width, hls.height), (640, 360), "HLS size");
    // All but the last video frame and the last audio PES, which end with the input
    // (the demuxer flushes them when the publisher leaves). FFmpeg's TS muxer packs
    // up to 0.7 s of AAC (17 frames at 48 kHz) into one PES.
    publisher.finish(&server, source.len() as u64 - 20);
    server
        .log
        .wait_for_line(&["SRT reader left"], Duration::from_secs(15));
    wait_exit(
        &mut reader,
        "srt-live-transmit reader",
        Duration::from_secs(10),
    );

    let info = ffprobe::streams(&recording.display().to_string());
    assert_eq!(info.video_codec.as_deref(), Some("hevc"), "SRT read video");
    assert_eq!((info.width, info.height), (640, 360), "SRT read size");
    let received = ffprobe::file_packets(&recording);
    assert_monotonic("SRT read of HEVC", &received);
    let (src_v, got_v) = (video(&source), video(&received));
    // Every frame: the last PES is flushed when the publisher leaves, and Manifold
    // lingers at the end until the reader has had everything.
    assert!(
        got_v.len() == src_v.len(),
        "{} HEVC frames of {}: first dts {:?} of {:?}, last {:?} of {:?}",
        got_v.len(),
        src_v.len(),
        got_v.first().map(|p| p.dts),
        src_v.first().map(|p| p.dts),
        got_v.last().map(|p| p.dts),
        src_v.last().map(|p| p.dts),
    );
    // Both are MPEG-TS: 90 kHz composition offsets and keyframes must match exactly.
    let offsets = |v: &[&Packet]| -> Vec<(i64, bool)> {
        v.iter().map(|p| (p.pts - p.dts, p.keyframe)).collect()
    };
    assert_eq!(
        offsets(&got_v),
        offsets(&src_v[..got_v.len()]),
        "composition offsets and keyframes"
    );
}
