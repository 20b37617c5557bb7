//! SRT over a lossy link: ffmpeg (libsrt) publishes through a UDP relay that drops
//! 5% of packets in both directions and delays them by 20 ms; the frames must arrive
//! intact (at most 3 of 300 lost, as many as libsrt loses on the same link), with the
//! retransmissions visible in the connection's counters.
//! The same relay then carries libsrt to libsrt (srt-live-transmit as listener) for
//! comparison.
//!
//! The link is emulated in user space: this machine's kernel has no `sch_netem`
//! (`tc qdisc ... netem` fails with "Specified qdisc kind is unknown").

mod common;

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Manifold, clip, require, wait_exit};

/// A UDP relay between one caller and `server`: each datagram is dropped with
/// probability `loss_percent`, or delivered `delay` later.
struct LossyRelay {
    port: u16,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl LossyRelay {
    fn start(server: SocketAddr, loss_percent: u64, delay: Duration) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
        front.set_nonblocking(true).expect("nonblocking");
        back.set_nonblocking(true).expect("nonblocking");
        let port = front.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (stop2, dropped2) = (Arc::clone(&stop), Arc::clone(&dropped));
        let thread = std::thread::spawn(move || {
            let mut caller: Option<SocketAddr> = None;
            let mut queue: VecDeque<(Instant, bool, Vec<u8>)> = VecDeque::new();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ loss_percent;
            let mut buf = [0u8; 2048];
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                let mut idle = true;
                for (socket, upstream) in [(&front, true), (&back, false)] {
                    while let Ok((n, from)) = socket.recv_from(&mut buf) {
                        idle = false;
                        if upstream {
                            caller = Some(from);
                        }
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        if seed % 1000 < loss_percent * 10 {
                            dropped2.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        queue.push_back((Instant::now() + delay, upstream, buf[..n].to_vec()));
                    }
                }
                let now = Instant::now();
                while queue.front().is_some_and(|(at, _, _)| *at <= now) {
                    if let Some((_, upstream, datagram)) = queue.pop_front() {
                        if upstream {
                            let _ = back.send_to(&datagram, server);
                        } else if let Some(caller) = caller {
                            let _ = front.send_to(&datagram, caller);
                        }
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        });
        Self {
            port,
            stop,
            dropped,
            thread: Some(thread),
        }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Per-packet (video?, MD5 of the payload) of a file, in order.
fn payload_hashes(path: &std::path::Path) -> Vec<(bool, String)> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-show_data_hash", "MD5", "-show_entries"])
        .args(["packet=codec_type,data_hash", "-of", "csv=p=0:nk=0"])
        .arg(path);
    let (status, out, err) = common::run_output(cmd, "ffprobe hashes", Duration::from_secs(60));
    assert!(status.success(), "ffprobe failed: {err}");
    // ffprobe may print a packet's hash on a line of its own after its codec_type.
    let mut packets = Vec::new();
    let mut video = None;
    for kv in out.lines().flat_map(|line| line.split(',')) {
        match kv.split_once('=') {
            Some(("codec_type", t)) => video = Some(t == "video"),
            Some(("data_hash", h)) => {
                if let Some(v) = video.take() {
                    packets.push((v, h.to_owned()));
                }
            }
            _ => {}
        }
    }
    packets
}

#[test]
fn five_percent_loss_each_way_at_120_ms_does_as_well_as_libsrt() {
    require("ffmpeg");
    let server = Manifold::start(
        "io_uring",
        "[ingest]\ngrace_period_seconds = 1\n[[stream]]\nname = \"main\"\nkey = \"K\"\n",
    );
    let relay = LossyRelay::start(
        SocketAddr::from(([127, 0, 0, 1], server.srt_port)),
        5,
        Duration::from_millis(20),
    );
    let recording = server.dir.path().join("main.flv");
    let mut recorder = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(server.rtmp_url("main"))
        .args(["-c", "copy", "-f", "flv"])
        .arg(&recording)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start recorder");
    server
        .log
        .wait_for_line(&["playing", "main"], Duration::from_secs(10));
    let url = format!(
        "srt://127.0.0.1:{}?streamid=publish:live/K&latency=120000&pkt_size=1316",
        relay.port
    );
    let mut publisher = common::publish_mpegts(clip(), &url);
    // The monitoring export shows the losses and their recovery while it runs.
    common::wait_for(
        "recovered packets in the admin API",
        Duration::from_secs(20),
        || {
            let view = server.api("GET", "/api/v1/streams/main", None).json();
            let received = view["srt"].as_array()?.first()?["received"].clone();
            (received["lost"].as_u64()? > 0 && received["recovered"].as_u64()? > 0).then_some(())
        },
    );
    let status = wait_exit(
        &mut publisher,
        "ffmpeg over a lossy link",
        Duration::from_secs(40),
    );
    assert!(status.success(), "ffmpeg exited with {status}");
    wait_exit(&mut recorder, "RTMP recorder", Duration::from_secs(20));
    let ended = server
        .log
        .wait_for_line(&["SRT connection ended"], Duration::from_secs(10));
    let counter = |name: &str| -> u64 {
        ended
            .split_whitespace()
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {ended}"))
    };
    let (lost, recovered, dropped) = (counter("lost"), counter("recovered"), counter("dropped"));
    assert!(
        relay.dropped.load(Ordering::Relaxed) > 50,
        "the relay dropped too little"
    );
    assert!(lost > 20, "the connection saw only {lost} losses: {ended}");
    // Losses still awaited when the peer said goodbye are neither.
    assert!(
        recovered + dropped <= lost && lost - recovered - dropped <= 2,
        "losses unaccounted for: {ended}"
    );
    drop(relay);
    let ours = intact_video_frames(&payload_hashes(clip()), &payload_hashes(&recording));

    // libsrt to libsrt over the same link, for comparison.
    let reference = server.dir.path().join("reference.ts");
    let mut mux = Command::new("ffmpeg");
    mux.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(clip())
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(&reference);
    assert!(
        common::run_output(mux, "ffmpeg mux", Duration::from_secs(60))
            .0
            .success()
    );
    let libsrt = libsrt_to_libsrt(5, &server.dir.path().join("libsrt.ts"));
    let theirs = intact_video_frames(&payload_hashes(&reference), &payload_hashes(&libsrt));
    let total = payload_hashes(clip()).iter().filter(|(v, _)| *v).count();
    eprintln!(
        "5% loss each way, 120 ms: Manifold {ours}/{total} video frames intact \
         (lost {lost}, recovered {recovered}, dropped {dropped}); libsrt {theirs}/{total}"
    );
    // Both sides are at the mercy of which packets the relay drops and when, so a
    // run may differ by a frame or two either way.
    assert!(
        ours + 2 >= theirs,
        "Manifold kept {ours} of {total} frames intact, libsrt {theirs}"
    );
    assert!(
        ours + 3 >= total,
        "Manifold kept only {ours} of {total} frames intact"
    );
}

/// Video frames of `received` whose payload equals the source's frame at the same
/// position (the streams start together; a lost frame shifts nothing in TS or FLV
/// because frames are matched by their order among intact ones).
fn intact_video_frames(source: &[(bool, String)], received: &[(bool, String)]) -> usize {
    let wanted: std::collections::HashSet<&String> =
        source.iter().filter(|(v, _)| *v).map(|(_, h)| h).collect();
    received
        .iter()
        .filter(|(v, h)| *v && wanted.contains(h))
        .count()
}

/// ffmpeg (libsrt caller) through the lossy relay to srt-live-transmit (libsrt
/// listener) writing what it receives to `out`.
fn libsrt_to_libsrt(loss_percent: u64, out: &std::path::Path) -> std::path::PathBuf {
    require("srt-live-transmit");
    let port = common::free_port();
    let mut listener = Command::new("srt-live-transmit")
        .args(["-q", "-a:no"])
        .arg(format!("srt://127.0.0.1:{port}?mode=listener&latency=120"))
        .arg("file://con")
        .stdout(std::fs::File::create(out).expect("create"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start srt-live-transmit");
    let relay = LossyRelay::start(
        SocketAddr::from(([127, 0, 0, 1], port)),
        loss_percent,
        Duration::from_millis(20),
    );
    let url = format!(
        "srt://127.0.0.1:{}?latency=120000&pkt_size=1316",
        relay.port
    );
    let mut publisher = common::publish_mpegts(clip(), &url);
    wait_exit(&mut publisher, "ffmpeg to libsrt", Duration::from_secs(40));
    // ffmpeg's shutdown reaches the listener after the last packet; it exits then
    // (-a:no), flushing its output. TERM only if it is still waiting.
    let deadline = Instant::now() + Duration::from_secs(5);
    while listener.try_wait().expect("try_wait").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if listener.try_wait().expect("try_wait").is_none() {
        common::signal(listener.id(), "TERM");
        wait_exit(&mut listener, "srt-live-transmit", Duration::from_secs(10));
    }
    out.to_path_buf()
}
