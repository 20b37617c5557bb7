//! SRT over a lossy link: ffmpeg (libsrt) publishes through a UDP relay that drops
//! 5% of packets in both directions and delays them by 20 ms; the frames must arrive
//! intact as well as libsrt's do on the same link (within the run-to-run spread of
//! both, and never below libsrt's worst seen: 292 of 300), with at least 90% of the
//! losses repaired and the retransmissions visible in the connection's counters.
//! The same relay then carries libsrt to libsrt (srt-live-transmit as listener) for
//! comparison.
//!
//! The link is emulated in user space (`common::lossy_relay`): this machine's kernel
//! has no `sch_netem` (`tc qdisc ... netem` fails with "Specified qdisc kind is
//! unknown").

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::frame_match::{intact_video_frames, payload_hashes};
use common::lossy_relay::LossyRelay;
use common::{Manifold, clip, require, wait_exit};

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
    // Both sides are at the mercy of which packets the relay drops and when: over
    // ten runs on this machine, idle, Manifold kept 295-300 of 300 and libsrt
    // 292-298, independently of each other. So: no worse than libsrt beyond that
    // spread, no worse than libsrt's worst seen, and ARQ repaired nearly every loss.
    assert!(
        ours + 4 >= theirs,
        "Manifold kept {ours} of {total} frames intact, libsrt {theirs}"
    );
    assert!(
        ours + 8 >= total,
        "Manifold kept only {ours} of {total} frames intact"
    );
    assert!(
        recovered * 10 >= lost * 9,
        "only {recovered} of {lost} lost packets were recovered"
    );
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
