//! Transcoding when things change or go wrong, with real clients: a source that
//! comes back at another size, or in another codec, gets its renditions rebuilt
//! (ffprobe sees the new picture size on RTMP play); a transcoder far too slow for
//! its source drops to keyframes, says so in the log, the API and `/metrics`, and
//! neither the publisher nor a passthrough player notices.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ffprobe;
use common::{
    Manifold, make_clip, metric_sample, poll_until, publish_mpegts_with, publish_with, require,
    wait_exit, wait_for,
};

/// Waits until ffprobe sees the rendition `main/small` as H.264 at `size`. A player
/// may first get the last pictures of the previous source, so it probes again.
fn wait_rendition_size(server: &Manifold, size: (u32, u32), after: &str) {
    let url = server.rtmp_url("main/small");
    let mut seen = None;
    let found = poll_until(Duration::from_secs(60), || {
        seen = ffprobe::try_streams(&url).ok();
        seen.as_ref()
            .filter(|info| {
                info.video_codec.as_deref() == Some("h264") && (info.width, info.height) == size
            })
            .map(|_| ())
    });
    assert!(
        found.is_some(),
        "{after}: the rendition should become {}x{} H.264; ffprobe saw {seen:?}\n{}",
        size.0,
        size.1,
        server.log.text()
    );
}

/// Waits for the server to log its `count`th "publisher left".
fn wait_left(server: &Manifold, count: usize) {
    wait_for("the publisher to leave", Duration::from_secs(10), || {
        (server.log.count("publisher left") >= count).then_some(())
    });
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_source_back_at_another_size_or_codec_rebuilds_its_rendition() {
    require("ffmpeg");
    let config = r#"
[ingest]
grace_period_seconds = 30

[[profile]]
name = "small"
height = 180
video_bitrate = "300k"
preset = "ultrafast"

[[stream]]
name = "main"
key = "K"
ladder = ["source", "small"]
"#;
    let server = Manifold::start("epoll", config);
    let dir = tempfile::tempdir().expect("temp dir");
    let wide = dir.path().join("640x360.flv");
    let square_ish = dir.path().join("480x360.flv");
    let hevc = dir.path().join("360x360-hevc.ts");
    // A keyframe a second.
    let x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30"];
    let x265 = ["-c:v", "libx265", "-preset", "ultrafast", "-g", "30"];
    let x265 = [&x265[..], &["-x265-params", "log-level=error"]].concat();
    make_clip(&wide, "640x360", "30", 4, &x264);
    make_clip(&square_ish, "480x360", "30", 4, &x264);
    make_clip(&hevc, "360x360", "30", 4, &x265);
    let looped = ["-stream_loop", "-1"];

    // 16:9 H.264 over RTMP: 180 lines keep the aspect, 320 wide.
    let publisher = publish_with(&wide, &server.rtmp_url("K"), &looped);
    wait_rendition_size(&server, (320, 180), "a 640x360 source");
    stop(publisher);
    wait_left(&server, 1);

    // The encoder comes back at 4:3 within the grace period.
    let publisher = publish_with(&square_ish, &server.rtmp_url("K"), &looped);
    wait_rendition_size(&server, (240, 180), "the source back at 480x360");
    stop(publisher);
    wait_left(&server, 2);

    // And then as HEVC over SRT, 1:1: decoded by another decoder, still H.264 out.
    let url = format!("{}&pkt_size=1316", server.srt_url("publish:live/K", ""));
    let publisher = publish_mpegts_with(&hevc, &url, &looped);
    wait_rendition_size(&server, (180, 180), "the source back as 360x360 HEVC");
    stop(publisher);

    let opened: Vec<String> = server.log.lines_with(&["rendition video encoder opened"]);
    for size in [
        "width=320 height=180",
        "width=240 height=180",
        "width=180 height=180",
    ] {
        assert!(
            opened.iter().any(|line| line.contains(size)),
            "no encoder opened at {size}: {opened:#?}"
        );
    }
    assert_eq!(
        server.log.count("rendition encoder failed"),
        0,
        "a change of source is a rebuild, not a failure\n{}",
        server.log.text()
    );
}

/// A transcoder counter of the rendition `main/slow` in the API.
fn slow_counter(server: &Manifold, counter: &str) -> Option<u64> {
    server.rendition("main", "slow")?["transcode"][counter].as_u64()
}

/// One rendition far too slow for its source (x264 `placebo` on one thread, a
/// 1080p30 source): the decoder's queue overflows and skips to the next keyframe,
/// which the log, the API and `/metrics` report; the publisher is never held back
/// and a player of the source gets every frame in real time meanwhile.
#[test]
fn a_transcoder_behind_its_source_drops_to_keyframes_and_holds_nothing_else_up() {
    let config = r#"
[[profile]]
name = "slow"
height = 720
video_bitrate = "2000k"
preset = "placebo"
threads = 1

[[stream]]
name = "main"
key = "K"
ladder = ["source", "slow"]
"#;
    let server = Manifold::start("epoll", config);
    let media = common::test_media(40);
    let mut publisher = publish_with(&media, &server.rtmp_url("K"), &["-stream_loop", "-1"]);
    let dropped = || slow_counter(&server, "decoder_dropped_frames");
    wait_for(
        "the transcoder's source queue to drop frames",
        Duration::from_secs(60),
        || dropped().filter(|&n| n > 0).map(|_| ()),
    );
    server.log.wait_for_line(
        &[
            "transcoder is not keeping real time",
            "skipped to the next keyframe",
        ],
        Duration::from_secs(15),
    );
    let metrics = server.api("GET", "/metrics", None).body;
    let series = "manifold_transcode_dropped_frames_total\
                  {stream=\"main\",rendition=\"slow\",encoder=\"x264\"}";
    let value =
        metric_sample(&metrics, series).unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
    assert!(value > 0.0, "metrics say no drops: {series}");

    // Meanwhile, while the transcoder is still behind: 10 s of the source over RTMP
    // play arrive in about 10 s, every frame in order.
    let recording = tempfile::tempdir().expect("temp dir");
    let out = recording.path().join("source.flv");
    let started = Instant::now();
    let mut player = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(server.rtmp_url("main"))
        .args(["-frames:v", "300", "-c", "copy", "-y"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ffmpeg player");
    let status = wait_exit(&mut player, "the source's player", Duration::from_secs(30));
    let took = started.elapsed();
    assert!(status.success(), "playing the source failed: {status}");
    // 300 frames at 30 fps, less the GOP cache's head start (up to 2 s).
    assert!(
        took < Duration::from_secs(14),
        "300 source frames took {took:?} to play: the ingest was held up"
    );
    let packets = ffprobe::file_packets(&out);
    ffprobe::assert_monotonic("the source's player", &packets);
    let video = ffprobe::video(&packets);
    assert_eq!(video.len(), 300, "source frames played");
    for pair in video.windows(2) {
        let gap = pair[1].dts - pair[0].dts;
        assert!(
            (30..=37).contains(&gap),
            "a gap of {gap} ms between source frames: frames went missing"
        );
    }
    assert!(
        publisher.try_wait().expect("try_wait").is_none(),
        "the publisher was cut off"
    );
    // Still behind, the rendition keeps putting out pictures, each run of them
    // starting on a keyframe the decoder can decode.
    let frames_out = || slow_counter(&server, "frames_out");
    let before = frames_out().unwrap_or(0);
    wait_for(
        "the slow rendition to put out more",
        Duration::from_secs(30),
        || frames_out().filter(|&n| n > before).map(|_| ()),
    );
    assert_eq!(
        server.log.count("source video frame not decoded"),
        0,
        "the decoder resumed off a keyframe\n{}",
        server.log.text()
    );
    assert_eq!(server.log.count("rendition encoder failed"), 0);
    stop(publisher);
}
