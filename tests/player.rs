//! The player page in real browsers: headless Chromium (through playwright-core)
//! plays the live stream with hls.js (LL-HLS) and with shaka-player (DASH) for 15 s
//! each; playback must advance, with the right picture size and no fatal error.
//! The libraries come from this server, never from a CDN.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Manifold, http, publish_with, test_media, wait_for};

const STREAM: &str = "[[stream]]\nname = \"main\"\nkey = \"K\"\n";
const WATCH_SECONDS: f64 = 15.0;

fn require_browser_stack() {
    common::require("node");
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium missing: apt-get install chromium (or run tools/setup-test-deps.sh)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("player/node_modules");
    for package in ["playwright-core", "hls.js", "shaka-player"] {
        assert!(
            root.join(package).is_dir(),
            "player/node_modules/{package} missing: run tools/setup-player.sh (npm)"
        );
    }
}

/// Plays `url` in headless Chromium; the driver's JSON report.
fn play(url: &str) -> serde_json::Value {
    let mut cmd = Command::new("node");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/play.mjs"))
        .arg(url)
        .arg(WATCH_SECONDS.to_string());
    let (status, out, err) = common::run_output(cmd, "headless Chromium", Duration::from_secs(90));
    assert!(status.success(), "browser driver failed: {err}");
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("driver output ({e}): {out}\n{err}"))
}

fn assert_played(mode: &str, report: &serde_json::Value, max_latency: f64) {
    eprintln!("{mode}: {report}");
    assert!(report["exception"].is_null(), "{mode}: {report}");
    let (start, end) = (&report["start"], &report["end"]);
    assert!(
        start["fatal"].is_null() && end["fatal"].is_null(),
        "{mode}: fatal error: {report}"
    );
    assert!(
        start["time"].as_f64() > Some(0.0),
        "{mode}: playback never started: {report}"
    );
    let advanced = end["time"].as_f64().unwrap_or(0.0) - start["time"].as_f64().unwrap_or(0.0);
    assert!(
        advanced >= WATCH_SECONDS - 2.0,
        "{mode}: currentTime advanced only {advanced:.2} s in {WATCH_SECONDS} s: {report}"
    );
    assert_eq!(
        (end["width"].as_u64(), end["height"].as_u64()),
        (Some(1920), Some(1080)),
        "{mode}"
    );
    assert_eq!(report["pageErrors"], serde_json::json!([]), "{mode}");
    assert_eq!(report["failedRequests"], serde_json::json!([]), "{mode}");
    let latency = end["latency"].as_f64().expect("the page shows a latency");
    assert!(
        latency > 0.0 && latency < max_latency,
        "{mode}: latency {latency}"
    );
}

#[test]
fn hls_js_and_shaka_player_play_the_live_stream_in_chromium() {
    require_browser_stack();
    let server = Manifold::start("io_uring", STREAM);
    let mut publisher = publish_with(
        &test_media(40),
        &server.rtmp_url("K"),
        &["-stream_loop", "-1"],
    );
    wait_for("two segments", Duration::from_secs(30), || {
        let playlist = http::request(
            server.http_port,
            "GET",
            "/live/main/source/video.m3u8",
            &[],
            None,
        );
        (playlist.status == 200 && playlist.body.matches("#EXTINF").count() >= 2).then_some(())
    });
    // The page loads its libraries from this server only.
    let page = http::request(server.http_port, "GET", "/live/main/", &[], None);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let sources: Vec<&str> = page
        .body
        .split("src=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(
        sources,
        ["/player/hls.min.js", "/player/shaka-player.compiled.js"]
    );
    for source in sources {
        assert_eq!(
            http::request(server.http_port, "GET", source, &[], None).status,
            200,
            "{source}"
        );
    }
    // LL-HLS: hls.js in low-latency mode stays within 3 s of live.
    assert_played("hls.js", &play(&server.http_url("/live/main/")), 3.0);
    assert_played(
        "shaka-player",
        &play(&server.http_url("/live/main/?mode=dash")),
        10.0,
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
}
