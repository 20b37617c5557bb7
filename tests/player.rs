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

/// One browser at a time: two Chromiums decoding 1080p side by side on a 2-core
/// runner starve each other and the latency figures stop meaning anything.
static ONE_BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_browser() -> std::sync::MutexGuard<'static, ()> {
    ONE_BROWSER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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

/// Plays `url` in headless Chromium for `seconds`; the driver's JSON report. With
/// `started_file`, the driver writes the wall clock (ms) at which playback started
/// there.
fn play_for(url: &str, seconds: f64, started_file: Option<&Path>) -> serde_json::Value {
    let mut cmd = Command::new("node");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/play.mjs"))
        .arg(url)
        .arg(seconds.to_string());
    if let Some(file) = started_file {
        cmd.arg(file);
    }
    let limit = Duration::from_secs_f64(seconds + 75.0);
    let (status, out, err) = common::run_output(cmd, "headless Chromium", limit);
    assert!(status.success(), "browser driver failed: {err}");
    let line = out.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("driver output ({e}): {out}\n{err}"))
}

fn play(url: &str) -> serde_json::Value {
    play_for(url, WATCH_SECONDS, None)
}

/// ffmpeg publishing the 40 s clip in a loop to the stream `main`.
fn publish_looping(server: &Manifold) -> std::process::Child {
    publish_with(
        &test_media(40),
        &server.rtmp_url("K"),
        &["-stream_loop", "-1"],
    )
}

fn media_playlist(server: &Manifold) -> http::Response {
    http::request(
        server.http_port,
        "GET",
        "/live/main/source/video.m3u8",
        &[],
        None,
    )
}

fn wait_two_segments(server: &Manifold) {
    wait_for("two segments", Duration::from_secs(30), || {
        let playlist = media_playlist(server);
        (playlist.status == 200 && playlist.body.matches("#EXTINF").count() >= 2).then_some(())
    });
}

/// Milliseconds since the Unix epoch, the clock the browser driver stamps with.
fn wall_clock_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
        * 1000.0
}

fn assert_played(mode: &str, report: &serde_json::Value, max_latency: f64) {
    eprintln!("{mode}: {report}");
    assert_played_for(mode, report, max_latency, WATCH_SECONDS - 2.0);
}

/// No error, the right picture, `max_latency` at the end, and currentTime
/// advanced by at least `min_advance` seconds.
fn assert_played_for(mode: &str, report: &serde_json::Value, max_latency: f64, min_advance: f64) {
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
        advanced >= min_advance,
        "{mode}: currentTime advanced only {advanced:.2} s (at least {min_advance} s expected): {report}"
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
    let _browser = one_browser();
    let server = Manifold::start("io_uring", STREAM);
    let mut publisher = publish_looping(&server);
    wait_two_segments(&server);
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

/// The publisher drops and comes back within the grace period while hls.js plays:
/// the playlist gets a discontinuity and hls.js plays on through it, without a
/// fatal error, back to low latency.
#[test]
fn hls_js_keeps_playing_across_a_publisher_reconnect() {
    const SECONDS: f64 = 30.0;
    require_browser_stack();
    let _browser = one_browser();
    let server = Manifold::start("io_uring", STREAM);
    let mut first = publish_looping(&server);
    wait_two_segments(&server);
    let scratch = tempfile::tempdir().expect("temp dir");
    let started_file = scratch.path().join("started");
    let url = server.http_url("/live/main/");
    let driver = {
        let started_file = started_file.clone();
        std::thread::spawn(move || play_for(&url, SECONDS, Some(&started_file)))
    };
    wait_for("hls.js to start playing", Duration::from_secs(60), || {
        std::fs::read_to_string(&started_file)
            .ok()
            .filter(|text| !text.is_empty())
    });
    // Let it play a little, then the publisher drops and returns.
    wait_for("3 s of playback", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&started_file).ok()?;
        let started: f64 = text.trim().parse().ok()?;
        (wall_clock_ms() - started >= 3000.0).then_some(())
    });
    let _ = first.kill();
    let _ = first.wait();
    server
        .log
        .wait_for_line(&["publisher left"], Duration::from_secs(10));
    let returned_at = wall_clock_ms();
    let mut second = publish_looping(&server);
    let report = driver.join().expect("browser driver thread");
    eprintln!("hls.js across a reconnect: {report}");
    // The player saw the reconnect: its playlist carries the discontinuity.
    let playlist = media_playlist(&server);
    // (Either the tag itself, or, once that segment has left the window, a
    // discontinuity sequence past 0.)
    let discontinuity_sequence = playlist
        .body
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        playlist.body.contains("#EXT-X-DISCONTINUITY\n") || discontinuity_sequence >= 1,
        "{}",
        playlist.body
    );
    // A reconnect may cost a stall of up to 6 s (below). After stalls hls.js
    // raises its own target latency by a second per stall, up to one target
    // duration (2 s: `liveSyncOnStallIncrease`), so the bound is the 3 s goal
    // plus that; and it must have caught up to the target it chose.
    assert_played_for("hls.js across a reconnect", &report, 5.0, SECONDS - 6.0);
    let end = &report["end"];
    let (latency, target) = (
        end["latency"].as_f64().unwrap_or(f64::MAX),
        end["targetLatency"]
            .as_f64()
            .expect("hls.js reports its target latency"),
    );
    assert!(
        latency <= target + 0.5,
        "hls.js did not catch up after the reconnect: latency {latency:.2} s, its target {target:.2} s"
    );
    // Playback went on after the publisher returned: from the last sample taken
    // before it returned to the end, currentTime advanced by the wall time less
    // what a reconnect costs (the new publisher's first segment, 2 s, plus
    // hls.js catching up).
    let samples = report["samples"].as_array().expect("samples");
    let at = |s: &serde_json::Value| s["at"].as_f64().unwrap_or(0.0);
    let time = |s: &serde_json::Value| s["time"].as_f64().unwrap_or(0.0);
    let before = samples
        .iter()
        .rfind(|s| at(s) <= returned_at)
        .expect("a sample before the publisher returned");
    let last = samples.last().expect("samples");
    let wall = (at(last) - at(before)) / 1000.0;
    let advanced = time(last) - time(before);
    assert!(
        wall > 15.0 && advanced >= wall - 6.0,
        "after the reconnect currentTime advanced {advanced:.2} s in {wall:.2} s"
    );
    let _ = second.kill();
    let _ = second.wait();
}
