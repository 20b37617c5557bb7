//! End to end: bad RTMP input closes only the offending connection, with a logged
//! reason, while a healthy stream keeps flowing (SPEC §3, "Bad input"). Every case
//! runs on both I/O engines with an ffmpeg publisher on "healthy" throughout, and
//! ends by checking that the server still runs, that the publisher was never
//! disturbed, and that a player started after the bad input still gets video.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

use common::open_files;
use common::raw_rtmp::{self, RawRtmp};
use common::{ENGINES, Manifold, clip, ffprobe, publish, publish_with, wait_exit, wait_for};
use protocol_parsers::amf0::Amf0Value;
use protocol_parsers::rtmp::command::{Command, code};
use protocol_parsers::rtmp::handshake::HANDSHAKE_SIZE;
use protocol_parsers::rtmp::message::{MessageType, csid};

const UNDECLARED: &str = "[ingest]\nallow_undeclared = true\n";

/// What the server prints when a connection ends before it published or played.
const CLOSED: &str = "connection closed";

/// A server with a healthy publisher, and the checks that it stayed healthy.
struct Healthy {
    engine: &'static str,
    server: Manifold,
    publisher: Child,
    /// The public name players use.
    name: &'static str,
}

impl Healthy {
    /// Starts Manifold with `toml` and an ffmpeg publisher on `key`, which must
    /// become stream `name`. The clip loops, so the publisher outlives the
    /// handshake-timeout cases.
    fn start(engine: &'static str, toml: &str, key: &str, name: &'static str) -> Self {
        let server = Manifold::start(engine, toml);
        let publisher = publish_with(clip(), &server.rtmp_url(key), &["-stream_loop", "-1"]);
        let healthy = Self {
            engine,
            server,
            publisher,
            name,
        };
        healthy.server.log.wait_for_line(
            &["publishing", &format!("stream=\"{name}\"")],
            Duration::from_secs(15),
        );
        healthy
    }

    fn undeclared(engine: &'static str) -> Self {
        Self::start(engine, UNDECLARED, "healthy", "healthy")
    }

    fn port(&self) -> u16 {
        self.server.rtmp_port
    }

    /// Waits for the server's log line about the connection whose peer field is
    /// `peer` and which contains `reason`; returns the line.
    fn closed_with(&self, peer: &str, reason: &str) -> String {
        self.server
            .log
            .wait_for_line(&[peer, "reason=", reason], Duration::from_secs(10))
    }

    /// The server runs, the healthy publisher never left, nothing panicked, and a
    /// player that starts now reads at least a second of video.
    fn check(&mut self, case: &str) {
        let engine = self.engine;
        let log = self.server.log.text();
        assert!(
            self.server.is_running(),
            "{engine}/{case}: the server exited\n--- log ---\n{log}"
        );
        assert!(
            !log.contains("panicked"),
            "{engine}/{case}: a panic was logged\n--- log ---\n{log}"
        );
        assert!(
            self.publisher.try_wait().expect("try_wait").is_none(),
            "{engine}/{case}: the healthy publisher (ffmpeg) exited\n--- log ---\n{log}"
        );
        let stream = format!("stream=\"{}\"", self.name);
        assert_eq!(
            self.server.log.lines_with(&["publishing", &stream]).len(),
            1,
            "{engine}/{case}: the healthy stream was published exactly once\n--- log ---\n{log}"
        );
        assert!(
            self.server
                .log
                .lines_with(&["publisher left", &stream])
                .is_empty(),
            "{engine}/{case}: the healthy publisher was disconnected\n--- log ---\n{log}"
        );
        self.player_gets_video(case);
    }

    /// A player that starts now reads at least a second of video (30 frames),
    /// starting on a keyframe.
    fn player_gets_video(&self, case: &str) {
        let engine = self.engine;
        let packets = ffprobe::packets(&self.server.rtmp_url(self.name), Some(2));
        let video: Vec<_> = packets.iter().filter(|p| p.video).collect();
        assert!(
            video.len() >= 30,
            "{engine}/{case}: a player after the bad input got {} video packets\n--- log ---\n{}",
            video.len(),
            self.server.log.text()
        );
        assert!(
            video[0].keyframe,
            "{engine}/{case}: the player's first video packet is not a keyframe"
        );
    }
}

impl Drop for Healthy {
    fn drop(&mut self) {
        let _ = self.publisher.kill();
        let _ = self.publisher.wait();
    }
}

/// Sends `data` as the first bytes of a connection and waits for the server to
/// close it; returns the connection's peer field.
fn send_first_and_wait_closed(healthy: &Healthy, data: &[u8], what: &str) -> String {
    let mut conn = raw_rtmp::tcp(healthy.port());
    let peer = raw_rtmp::peer_field(&conn);
    raw_rtmp::send_lossy(&mut conn, data);
    // A server that only parses a prefix may wait for more; the handshake timeout
    // (10 s) bounds that.
    raw_rtmp::wait_closed(&mut conn, what, Duration::from_secs(13));
    peer
}

#[test]
fn random_bytes_first_close_the_connection() {
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);

        // 64 KiB of noise from the first byte. The seed's first byte is not 3, so
        // the version byte is what gets rejected.
        let noise = raw_rtmp::seeded_bytes(0x5EED, 64 * 1024);
        assert_ne!(noise[0], 3, "the seed must give a bad version byte");
        let peer = send_first_and_wait_closed(&healthy, &noise, "64 KiB of noise");
        let line = healthy.closed_with(&peer, "unsupported RTMP version");
        assert!(line.contains(CLOSED), "{engine}: {line}");

        // The same noise behind a valid version byte: C1 and C2 are opaque, so the
        // noise after them reaches the chunk decoder.
        let mut noise = raw_rtmp::seeded_bytes(0xBAD_C0DE, 64 * 1024);
        noise[0] = 3;
        let peer = send_first_and_wait_closed(&healthy, &noise, "noise after C0");
        let line = healthy.closed_with(&peer, "chunk stream:");
        assert!(line.contains(CLOSED), "{engine}: {line}");

        healthy.check("random bytes");
    }
}

#[test]
fn truncated_handshake_is_closed_or_timed_out() {
    let c0_half_c1 = {
        let mut data = vec![3u8];
        data.extend(raw_rtmp::seeded_bytes(1, HANDSHAKE_SIZE / 2));
        data
    };
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);

        // C0 + half of C1, then the client closes.
        let mut conn = raw_rtmp::tcp(healthy.port());
        let peer = raw_rtmp::peer_field(&conn);
        conn.write_all(&c0_half_c1).expect("send C0 + half of C1");
        conn.shutdown(std::net::Shutdown::Both)
            .expect("close the connection");
        drop(conn);
        let line = healthy.closed_with(&peer, "peer closed the connection");
        assert!(line.contains(CLOSED), "{engine}: {line}");

        // C0 + half of C1, then silence: the handshake timeout (10 s) closes it.
        let mut conn = raw_rtmp::tcp(healthy.port());
        let peer = raw_rtmp::peer_field(&conn);
        let sent = Instant::now();
        conn.write_all(&c0_half_c1).expect("send C0 + half of C1");
        raw_rtmp::wait_closed(&mut conn, "idle half handshake", Duration::from_secs(12));
        let waited = sent.elapsed();
        assert!(
            waited >= Duration::from_secs(9),
            "{engine}: closed after {waited:?}, before the 10 s handshake timeout"
        );
        let line = healthy.closed_with(&peer, "timed out");
        assert!(
            line.contains(CLOSED) && line.contains("handshake"),
            "{engine}: {line}"
        );

        healthy.check("truncated handshake");
    }
}

#[test]
fn invalid_chunk_sizes_close_the_connection() {
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);
        for size in [0u32, 0x7FFF_FFFF] {
            let mut client = RawRtmp::handshake(healthy.port());
            let peer = client.peer_field();
            client.send_set_chunk_size(size);
            raw_rtmp::wait_closed(
                &mut client.stream,
                &format!("Set Chunk Size {size}"),
                Duration::from_secs(5),
            );
            let line = healthy.closed_with(&peer, &format!("invalid chunk size {size}"));
            assert!(line.contains(CLOSED), "{engine}: {line}");
        }
        healthy.check("invalid chunk size");
    }
}

#[test]
fn oversized_message_header_closes_the_connection() {
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);
        for length in [8 * 1024 * 1024 + 1, 0xFF_FFFF] {
            let mut client = RawRtmp::handshake(healthy.port());
            let peer = client.peer_field();
            // A type-0 header on chunk stream 6 declaring `length` bytes of video,
            // then one chunk's worth (128 bytes) of body.
            let mut wire = vec![0x06, 0, 0, 0];
            wire.extend_from_slice(&u32::to_be_bytes(length)[1..]);
            wire.push(MessageType::VIDEO.0);
            wire.extend_from_slice(&1u32.to_le_bytes());
            wire.extend_from_slice(&[0x17; 128]);
            raw_rtmp::send_lossy(&mut client.stream, &wire);
            raw_rtmp::wait_closed(
                &mut client.stream,
                &format!("message length {length}"),
                Duration::from_secs(5),
            );
            let line = healthy.closed_with(&peer, "exceeds the limit");
            assert!(
                line.contains(CLOSED) && line.contains(&length.to_string()),
                "{engine}: {line}"
            );
        }
        healthy.check("oversized message");
    }
}

/// An AMF0 `connect` command whose command object nests `depth` objects, written
/// by hand (an `Amf0Value` that deep would overflow the stack when dropped).
fn deep_connect(depth: usize) -> Vec<u8> {
    let mut body = Command::new("connect", 1.0, Amf0Value::Null, vec![]).encode()[..].to_vec();
    body.pop(); // the null command object
    body.push(0x03); // object
    for _ in 0..depth {
        body.extend_from_slice(&[0x00, 0x01, b'a', 0x03]); // key "a": object
    }
    for _ in 0..=depth {
        body.extend_from_slice(&[0x00, 0x00, 0x09]); // object end
    }
    body
}

#[test]
fn deeply_nested_amf0_closes_the_connection() {
    let body = deep_connect(10_000);
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);
        let mut client = RawRtmp::handshake(healthy.port());
        let peer = client.peer_field();
        client.send_message(csid::COMMAND, MessageType::COMMAND_AMF0, 0, &body);
        raw_rtmp::wait_closed(
            &mut client.stream,
            "10,000-deep connect",
            Duration::from_secs(5),
        );
        let line = healthy.closed_with(&peer, "nested deeper than");
        assert!(line.contains(CLOSED), "{engine}: {line}");
        healthy.check("deep AMF0");
    }
}

#[test]
fn unknown_command_is_answered_with_error() {
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);
        let mut client = RawRtmp::handshake(healthy.port());
        let peer = client.peer_field();
        client.connect_app("live");
        client.send_command(0, &Command::new("fooBar", 5.0, Amf0Value::Null, vec![]));
        let reply = client.read_command("a reply to fooBar", Duration::from_secs(5), |c| {
            c.transaction_id == 5.0
        });
        assert_eq!(reply.name, "_error", "{engine}: {reply:?}");
        healthy.server.log.wait_for_line(
            &[
                &peer,
                "unknown RTMP command answered with _error",
                "command=fooBar",
            ],
            Duration::from_secs(5),
        );
        // Keeping the connection open (as SRS and nginx-rtmp do) is allowed, not
        // required; either way, closing it ourselves must be logged.
        drop(client);
        healthy.closed_with(&peer, "");
        healthy.check("unknown command");
    }
}

#[test]
fn wrong_publish_key_is_refused() {
    let toml = "[ingest]\nallow_undeclared = false\n[[stream]]\nname = \"main\"\nkey = \"K\"\n";
    for engine in ENGINES {
        let mut healthy = Healthy::start(engine, toml, "K", "main");
        let mut wrong = publish(clip(), &healthy.server.rtmp_url("WRONG"));
        let status = wait_exit(
            &mut wrong,
            "ffmpeg with a wrong key",
            Duration::from_secs(15),
        );
        assert!(
            !status.success(),
            "{engine}: ffmpeg publishing with a wrong key succeeded"
        );
        let line = healthy.server.log.wait_for_line(
            &["reason=", "publish refused: unknown publish key"],
            Duration::from_secs(5),
        );
        assert!(line.contains(CLOSED), "{engine}: {line}");
        assert_eq!(
            healthy.server.log.count("publishing"),
            1,
            "{engine}: only the healthy stream is published\n--- log ---\n{}",
            healthy.server.log.text()
        );
        healthy.check("wrong key");
    }
}

#[test]
fn second_publisher_on_a_live_key_is_refused() {
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);

        let mut second = publish(clip(), &healthy.server.rtmp_url("healthy"));
        let status = wait_exit(
            &mut second,
            "a second ffmpeg publisher",
            Duration::from_secs(15),
        );
        let mut stderr = String::new();
        if let Some(mut err) = second.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        assert!(
            !status.success(),
            "{engine}: a second publisher on a live key was accepted"
        );
        assert!(
            stderr.contains("already has a publisher"),
            "{engine}: ffmpeg did not show the refusal: {stderr}"
        );
        healthy.server.log.wait_for_line(
            &["reason=", "publish refused", "already has a publisher"],
            Duration::from_secs(5),
        );

        // The same refusal, seen on the wire: NetStream.Publish.BadName, then close.
        let mut client = RawRtmp::handshake(healthy.port());
        let peer = client.peer_field();
        let (_, status) = client.publish("healthy");
        assert_eq!(
            raw_rtmp::status_field(&status, "code"),
            Some(code::PUBLISH_BAD_NAME),
            "{engine}: {status:?}"
        );
        assert_eq!(
            raw_rtmp::status_field(&status, "level"),
            Some("error"),
            "{engine}: {status:?}"
        );
        raw_rtmp::wait_closed(
            &mut client.stream,
            "refused second publisher",
            Duration::from_secs(5),
        );
        let line = healthy.closed_with(&peer, "already has a publisher");
        assert!(line.contains(CLOSED), "{engine}: {line}");

        healthy.check("second publisher");
    }
}

/// Open sockets of a process, from /proc/PID/fd.
fn open_sockets(pid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[test]
fn a_thousand_idle_connections_are_freed_by_the_handshake_timeout() {
    let idle_connections = open_files::idle_connection_count(1000);
    for engine in ENGINES {
        let mut healthy = Healthy::undeclared(engine);
        let pid = healthy.server.pid();
        let baseline = open_sockets(pid);
        let rss_before = healthy.server.rss_kib();

        // Half send nothing at all, half send C0 and part of C1; none finishes.
        let opened = Instant::now();
        let mut idle: Vec<TcpStream> = (0..idle_connections)
            .map(|i| {
                let mut conn = raw_rtmp::tcp(healthy.port());
                if i % 2 == 1 {
                    conn.write_all(&[3; 700]).expect("send C0 + part of C1");
                }
                conn
            })
            .collect();
        let peak = wait_for(
            "the server to hold every idle connection",
            Duration::from_secs(10),
            || {
                let n = open_sockets(pid);
                (n >= baseline + idle_connections).then_some(n)
            },
        );
        let rss_peak = healthy.server.rss_kib();
        // The healthy stream flows while the idle connections are held, too.
        healthy.player_gets_video("while 1,000 idle connections are open");

        let freed = wait_for(
            "the handshake timeout to free the idle connections",
            Duration::from_secs(30),
            || {
                let n = open_sockets(pid);
                (n <= baseline + 2).then_some(n)
            },
        );
        let freed_after = opened.elapsed();
        let rss_after = healthy.server.rss_kib();
        eprintln!(
            "{engine}: sockets {baseline} -> {peak} -> {freed} (freed {freed_after:?} after opening); \
             RSS {rss_before} -> {rss_peak} -> {rss_after} KiB"
        );
        assert!(
            freed_after >= Duration::from_secs(9),
            "{engine}: idle connections closed after {freed_after:?}, before the handshake timeout"
        );
        let timed_out = healthy
            .server
            .log
            .lines_with(&[CLOSED, "timed out waiting for the handshake"])
            .len();
        assert!(
            timed_out >= idle_connections,
            "{engine}: {timed_out} of {idle_connections} idle connections logged a timeout"
        );
        for rss in [rss_peak, rss_after] {
            assert!(
                rss < 200 * 1024,
                "{engine}: RSS {rss} KiB with {idle_connections} idle connections"
            );
        }
        // Our ends see the close too.
        for conn in idle.iter_mut().take(10) {
            raw_rtmp::wait_closed(conn, "an idle connection", Duration::from_secs(2));
        }
        drop(idle);
        healthy.check("1,000 idle connections");
    }
}
