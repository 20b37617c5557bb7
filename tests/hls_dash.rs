//! HLS (fMP4 + LL-HLS) and DASH served from memory, checked with real clients:
//! ffprobe/ffmpeg read and decode what a live ffmpeg publish produces, and the HTTP
//! semantics a CDN or player relies on are checked request by request.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Manifold, ffprobe, http, open_files, publish, test_media, wait_for};

const STREAM: &str = "[[stream]]\nname = \"main\"\nkey = \"K\"\n";

/// GET on the public HTTP port; `path` may carry a query.
fn get(server: &Manifold, path: &str) -> http::Response {
    http::request(server.http_port, "GET", path, &[], None)
}

/// Waits until the stream's playlist lists `segments` complete segments.
fn wait_segments(server: &Manifold, playlist: &str, segments: usize) -> String {
    wait_for(
        &format!("{segments} segments in {playlist}"),
        Duration::from_secs(30),
        || {
            let response = get(server, playlist);
            let text = response.body;
            (response.status == 200 && text.matches("#EXTINF").count() >= segments).then_some(text)
        },
    )
}

/// Decodes the first 10 s of `url` with ffmpeg; returns the video frames decoded.
///
/// FFmpeg 5.1's DASH demuxer, when it refreshes a live MPD at the live edge,
/// recomputes its position from the timeline in whole seconds minus one tick
/// (`refresh_manifest` in libavformat/dashdec.c) and so fetches the last segment
/// again (the server log shows the requests 3, 4, 5, 6, 5). The repeated packets
/// make the null muxer warn about non-increasing DTS; with `allow_refetch`, those
/// warnings, and only those, are tolerated. Decoding errors never are.
fn decode_ten_seconds(url: &str, allow_refetch: bool) -> u64 {
    common::require("ffmpeg");
    let mut cmd = Command::new("ffmpeg");
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-i",
        url,
        "-t",
        "10",
    ])
    .args(["-map", "0:v:0", "-f", "null", "-", "-progress", "pipe:1"]);
    let (status, out, err) =
        common::run_output(cmd, "ffmpeg decoding 10 s", Duration::from_secs(60));
    assert!(status.success(), "ffmpeg failed on {url}: {err}");
    let unexpected: Vec<&str> = err
        .lines()
        .filter(|l| {
            !(allow_refetch
                && l.contains("[null @")
                && l.contains("non monotonically increasing dts"))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "ffmpeg reported errors decoding {url}:\n{err}"
    );
    out.lines()
        .rev()
        .filter_map(|l| l.strip_prefix("frame="))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn ffmpeg_decodes_ten_seconds_from_the_fmp4_and_ts_playlists_and_the_mpd() {
    let server = Manifold::start("io_uring", STREAM);
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    wait_segments(&server, "/live/main/source/video.m3u8", 2);

    let index = get(&server, "/live/main/index.m3u8");
    assert_eq!(index.status, 200);
    assert!(index.body.contains("#EXT-X-STREAM-INF"), "{}", index.body);
    assert!(index.body.contains("avc1.64"), "{}", index.body);
    assert!(index.body.contains("mp4a.40.2"), "{}", index.body);
    assert!(
        index.body.contains("RESOLUTION=1920x1080"),
        "{}",
        index.body
    );

    for path in [
        "/live/main/index.m3u8",
        "/live/main/source/ts.m3u8",
        "/live/main/manifest.mpd",
    ] {
        let url = server.http_url(path);
        let info = ffprobe::streams(&url);
        assert_eq!(info.video_codec.as_deref(), Some("h264"), "{path}");
        assert_eq!(info.audio_codec.as_deref(), Some("aac"), "{path}");
        assert_eq!((info.width, info.height), (1920, 1080), "{path}");
        let started = Instant::now();
        let frames = decode_ten_seconds(&url, path.ends_with(".mpd"));
        eprintln!(
            "{path}: {frames} video frames decoded in {:?}",
            started.elapsed()
        );
        assert!(frames >= 290, "{path}: only {frames} frames in 10 s");
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn segments_are_cut_on_keyframes_with_parts_and_packets_keep_their_timestamps() {
    let server = Manifold::start("epoll", STREAM);
    let media = test_media(20);
    let mut publisher = publish(&media, &server.rtmp_url("K"));
    let playlist = wait_segments(&server, "/live/main/source/video.m3u8", 3);
    assert!(playlist.contains("#EXT-X-TARGETDURATION:2"), "{playlist}");
    assert!(
        playlist.contains("#EXT-X-PART-INF:PART-TARGET="),
        "{playlist}"
    );
    assert!(playlist.contains("CAN-BLOCK-RELOAD=YES"), "{playlist}");
    assert!(
        playlist.contains("#EXT-X-PRELOAD-HINT:TYPE=PART"),
        "{playlist}"
    );
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{playlist}");
    assert!(playlist.contains("#EXT-X-MAP:URI="), "{playlist}");
    // Every segment: 2 s (the clip's GOP), starting on a keyframe.
    let durations: Vec<f64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.trim_end_matches(',').split(',').next()?.parse().ok())
        .collect();
    assert!(
        durations.iter().all(|d| (d - 2.0).abs() < 0.05),
        "{durations:?}"
    );
    let parts: Vec<f64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:DURATION="))
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect();
    assert!(!parts.is_empty(), "{playlist}");
    assert!(parts.iter().all(|d| *d <= 0.51 && *d >= 0.3), "{parts:?}");
    let part_target: f64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PART-INF:PART-TARGET="))
        .and_then(|v| v.split(',').next()?.parse().ok())
        .expect("PART-TARGET");
    assert!(
        parts.iter().all(|d| *d <= part_target),
        "parts over PART-TARGET {part_target}: {parts:?}"
    );

    // A segment read back by ffprobe: video packets as the source's, from a keyframe.
    let segment = playlist
        .lines()
        .find(|l| l.starts_with("seg-v-"))
        .expect("a video segment URI");
    let init = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.split('"').next())
        .expect("init URI");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("one.mp4");
    let mut bytes = fetch_bytes(&server, &format!("/live/main/source/{init}"));
    bytes.extend(fetch_bytes(
        &server,
        &format!("/live/main/source/{segment}"),
    ));
    std::fs::write(&file, bytes).expect("write segment");
    let packets = ffprobe::file_packets(&file);
    assert!(
        packets.first().is_some_and(|p| p.keyframe),
        "segment starts on a keyframe"
    );
    assert_eq!(packets.len(), 60, "2 s at 30 fps");
    let source: Vec<_> = ffprobe::file_packets(&media)
        .into_iter()
        .filter(|p| p.video)
        .collect();
    let start = source
        .iter()
        .position(|p| p.dts == packets[0].dts)
        .expect("segment's first dts in the source");
    for (got, want) in packets.iter().zip(&source[start..]) {
        assert_eq!(
            (got.dts, got.pts, got.size, got.keyframe),
            (want.dts, want.pts, want.size, want.keyframe)
        );
    }
    // Each part of a complete segment holds the frames its DURATION advertises
    // (±1 frame), and together they hold the segment's 60.
    let mut segment_parts: Vec<(f64, String)> = Vec::new();
    for line in playlist.lines() {
        if let Some(attributes) = line.strip_prefix("#EXT-X-PART:") {
            let duration = attributes
                .strip_prefix("DURATION=")
                .and_then(|v| v.split(',').next()?.parse().ok())
                .expect("part DURATION");
            let uri = attributes
                .split("URI=\"")
                .nth(1)
                .and_then(|v| v.split('"').next())
                .expect("part URI");
            segment_parts.push((duration, uri.to_owned()));
        } else if line.starts_with("seg-v-") && !segment_parts.is_empty() {
            break;
        }
    }
    assert!(segment_parts.len() >= 4, "{playlist}");
    let init_bytes = fetch_bytes(&server, &format!("/live/main/source/{init}"));
    let mut frames_in_parts = 0;
    for (duration, uri) in &segment_parts {
        let mut bytes = init_bytes.clone();
        bytes.extend(fetch_bytes(&server, &format!("/live/main/source/{uri}")));
        let part_file = dir.path().join("part.mp4");
        std::fs::write(&part_file, bytes).expect("write part");
        let frames = ffprobe::file_packets(&part_file).len();
        frames_in_parts += frames;
        let measured = frames as f64 / 30.0;
        assert!(
            (measured - duration).abs() <= 1.0 / 30.0 + 0.001,
            "part {uri}: DURATION={duration} but {frames} frames"
        );
    }
    assert_eq!(frames_in_parts, 60, "{segment_parts:?}");
    // The MPEG-TS variant: one segment holds the same 60 video frames.
    let ts = wait_segments(&server, "/live/main/source/ts.m3u8", 2);
    let ts_segment = ts
        .lines()
        .find(|l| l.starts_with("seg-t-"))
        .expect("a TS segment");
    let ts_file = dir.path().join("one.ts");
    std::fs::write(
        &ts_file,
        fetch_bytes(&server, &format!("/live/main/source/{ts_segment}")),
    )
    .expect("write");
    let ts_packets = ffprobe::file_packets(&ts_file);
    let ts_video: Vec<_> = ts_packets.iter().filter(|p| p.video).collect();
    assert_eq!(ts_video.len(), 60, "2 s at 30 fps in the TS segment");
    assert!(ts_video[0].keyframe);
    // DASH places each video segment at its earliest presentation time: the
    // SegmentTimeline `t` of two segments is the smallest pts ffprobe reads in
    // them (the clip's B-frames put it two frames after the first dts).
    let mpd = get(&server, "/live/main/manifest.mpd").body;
    let timeline = DashTimeline::video(&mpd);
    // The newest complete ones but one: the oldest may slide out of the window
    // while ffprobe reads.
    assert!(timeline.starts.len() >= 3, "{mpd}");
    let newest = timeline.starts.len() - 1;
    let init = fetch_bytes(&server, &format!("/live/main/{}", timeline.initialization));
    for &(number, t) in &timeline.starts[newest - 2..newest] {
        let uri = timeline.media.replace("$Number$", &number.to_string());
        let mut bytes = init.clone();
        bytes.extend(fetch_bytes(&server, &format!("/live/main/{uri}")));
        let file = dir.path().join("dash.mp4");
        std::fs::write(&file, bytes).expect("write");
        let packets = ffprobe::file_packets(&file);
        let earliest = packets.iter().map(|p| p.pts).min().expect("packets");
        let first_dts = packets.first().map(|p| p.dts).unwrap_or_default();
        assert_eq!(
            t, earliest,
            "segment {number}: S@t {t}, earliest pts {earliest} (first dts {first_dts}, timescale {})",
            timeline.timescale
        );
        assert!(earliest > first_dts, "the clip has B-frames");
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
}

/// The video SegmentTemplate of a single-representation MPD, with each segment's
/// number and SegmentTimeline `t`.
struct DashTimeline {
    timescale: i64,
    initialization: String,
    media: String,
    starts: Vec<(u64, i64)>,
}

impl DashTimeline {
    fn video(mpd: &str) -> Self {
        let attribute = |element: &str, name: &str| -> Option<String> {
            let head = element.split('>').next()?;
            let value = head.split(&format!(" {name}=\"")).nth(1)?;
            Some(value.split('"').next()?.to_owned())
        };
        let video = mpd
            .split("<AdaptationSet")
            .find(|a| a.contains("contentType=\"video\""))
            .expect("a video AdaptationSet");
        let template = video
            .split("<SegmentTemplate")
            .nth(1)
            .expect("a SegmentTemplate");
        let number = |name| -> i64 {
            attribute(template, name)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {template}"))
        };
        let mut next_number = number("startNumber") as u64;
        let mut next_t = None;
        let mut starts = Vec::new();
        for entry in template.split("<S ").skip(1) {
            let entry = format!(" {entry}");
            let field = |name| attribute(&entry, name).and_then(|v| v.parse::<i64>().ok());
            let d = field("d").expect("S@d");
            let mut t = field("t").or(next_t).expect("S@t on the first S");
            for _ in 0..=field("r").unwrap_or(0) {
                starts.push((next_number, t));
                next_number += 1;
                t += d;
            }
            next_t = Some(t);
        }
        Self {
            timescale: number("timescale"),
            initialization: attribute(template, "initialization").expect("initialization"),
            media: attribute(template, "media").expect("media"),
            starts,
        }
    }
}

fn fetch_bytes(server: &Manifold, path: &str) -> Vec<u8> {
    common::require("curl");
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "10"])
        .arg(server.http_url(path))
        .output()
        .expect("curl");
    assert!(out.status.success(), "GET {path} failed");
    out.stdout
}

#[test]
fn http_semantics_for_caches_players_and_hostile_paths() {
    let server = Manifold::start("io_uring", STREAM);
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    let playlist = wait_segments(&server, "/live/main/source/video.m3u8", 2);

    let index = get(&server, "/live/main/index.m3u8");
    assert_eq!(
        index.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert_eq!(index.header("access-control-allow-origin"), Some("*"));
    assert!(
        index
            .header("cache-control")
            .is_some_and(|c| c.contains("max-age=1"))
    );
    let mpd = get(&server, "/live/main/manifest.mpd");
    assert_eq!(mpd.header("content-type"), Some("application/dash+xml"));
    assert!(mpd.body.contains("type=\"dynamic\""), "{}", mpd.body);

    let segment = playlist
        .lines()
        .find(|l| l.starts_with("seg-v-"))
        .expect("segment");
    let path = format!("/live/main/source/{segment}");
    let whole = fetch_bytes(&server, &path);
    let response = get(&server, &path);
    assert_eq!(response.header("content-type"), Some("video/mp4"));
    assert!(
        response
            .header("cache-control")
            .is_some_and(|c| c.contains("immutable"))
    );
    assert_eq!(
        response.header("content-length"),
        Some(whole.len().to_string().as_str())
    );
    // HEAD: the headers without the body.
    let head = http::request(server.http_port, "HEAD", &path, &[], None);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(whole.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
    // A byte range.
    let out = Command::new("curl")
        .args(["-sf", "-r", "100-299"])
        .arg(server.http_url(&path))
        .output()
        .expect("curl");
    assert_eq!(out.stdout, whole[100..300]);
    let ranged = http::request(
        server.http_port,
        "GET",
        &path,
        &[("Range", "bytes=100-299")],
        None,
    );
    assert_eq!(ranged.status, 206);
    assert_eq!(
        ranged.header("content-range"),
        Some(format!("bytes 100-299/{}", whole.len()).as_str())
    );
    let unsatisfiable = http::request(
        server.http_port,
        "GET",
        &path,
        &[("Range", "bytes=999999999-")],
        None,
    );
    assert_eq!(unsatisfiable.status, 416);

    for bad in [
        "/live/nope/index.m3u8",
        "/live/main/source/seg-v-1-999999.m4s",
        "/live/main/../../etc/passwd",
        "/live/main/%2e%2e/%2e%2e/etc/passwd",
        "/etc/passwd",
        "/live/main/source/video.m3u8/../../x",
    ] {
        assert_eq!(get(&server, bad).status, 404, "{bad}");
    }
    assert_eq!(
        http::request(
            server.http_port,
            "POST",
            "/live/main/index.m3u8",
            &[],
            Some("{}")
        )
        .status,
        405
    );

    // Blocking playlist reload: ask for the next segment; the answer comes when it
    // exists, well before the 3-target timeout.
    let next: u64 = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("media sequence")
        + playlist.matches("#EXTINF").count() as u64;
    let asked = Instant::now();
    let blocked = get(
        &server,
        &format!("/live/main/source/video.m3u8?_HLS_msn={next}&_HLS_part=0"),
    );
    let waited = asked.elapsed();
    assert_eq!(blocked.status, 200);
    assert!(
        blocked.body.contains(&format!("-{next}-0.m4s")),
        "{}",
        blocked.body
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    // The preload hint's part is served once it exists.
    let hint = blocked
        .body
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .and_then(|l| l.split('"').next())
        .expect("preload hint")
        .to_owned();
    let part = get(&server, &format!("/live/main/source/{hint}"));
    assert_eq!(part.status, 200, "preload-hinted part {hint}");
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn a_returning_publisher_continues_after_a_discontinuity_and_a_new_period() {
    let server = Manifold::start("io_uring", STREAM);
    let media = test_media(40);
    let mut first = publish(&media, &server.rtmp_url("K"));
    let before = wait_segments(&server, "/live/main/source/video.m3u8", 2);
    assert!(!before.contains("#EXT-X-DISCONTINUITY\n"), "{before}");
    let _ = first.kill();
    let _ = first.wait();
    server
        .log
        .wait_for_line(&["publisher left"], Duration::from_secs(10));
    let mut second = publish(&media, &server.rtmp_url("K"));
    // The same playlist continues: a discontinuity, then complete segments again.
    let after = wait_for(
        "segments after a discontinuity",
        Duration::from_secs(30),
        || {
            let text = get(&server, "/live/main/source/video.m3u8").body;
            let (_, tail) = text.split_once("#EXT-X-DISCONTINUITY\n")?;
            (tail.matches("#EXTINF").count() >= 2).then_some(text)
        },
    );
    let sequence = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
            .and_then(|v| v.parse::<u64>().ok())
    };
    assert!(sequence(&after) >= sequence(&before), "{after}");
    // The TS variant marks it too, and DASH starts a second period.
    let ts = get(&server, "/live/main/source/ts.m3u8").body;
    assert!(ts.contains("#EXT-X-DISCONTINUITY"), "{ts}");
    let mpd = get(&server, "/live/main/manifest.mpd").body;
    assert_eq!(mpd.matches("<Period ").count(), 2, "{mpd}");
    // Both periods are read back by ffprobe from the MPD's segments.
    let info = ffprobe::streams(&server.http_url("/live/main/manifest.mpd"));
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    let _ = second.kill();
    let _ = second.wait();
}

#[test]
fn bad_requests_get_4xx_and_idle_connections_are_closed_while_serving_continues() {
    // Raised before the server starts, which inherits the limit.
    let idle_connections = open_files::idle_connection_count(10_000);
    let server = Manifold::start(
        "epoll",
        &format!("{STREAM}[hls]\nsegment_seconds = 1\nwindow = 4\n"),
    );
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    wait_segments(&server, "/live/main/source/video.m3u8", 2);
    // 10,000 idle connections: half never send a byte, half are keep-alive
    // connections that made one request and then stay silent.
    let idle: Vec<std::net::TcpStream> = (0..idle_connections)
        .map(|i| {
            let mut connection =
                std::net::TcpStream::connect(("127.0.0.1", server.http_port)).expect("connect");
            if i % 2 == 1 {
                let response = http::keep_alive_get(&mut connection, "/live/main/index.m3u8")
                    .expect("a keep-alive request");
                assert_eq!(response.status, 200);
            }
            connection
        })
        .collect();
    // The idle timeout runs from each connection's last activity; the last one
    // opened (or answered) is the last to close.
    let opened = Instant::now();
    // Serving goes on meanwhile.
    assert_eq!(get(&server, "/live/main/index.m3u8").status, 200);
    // A huge request head, nonsense query values, a far-future _HLS_msn.
    let huge = format!("/live/main/{}", "a".repeat(100_000));
    let status = http::try_request(server.http_port, "GET", &huge, &[], None).map(|r| r.status);
    assert!(
        matches!(status, Ok(400..=499)) || status.is_err(),
        "a 100 KB path: {status:?}"
    );
    assert_eq!(
        get(
            &server,
            "/live/main/source/video.m3u8?_HLS_msn=abc&_HLS_part=-1"
        )
        .status,
        200
    );
    assert_eq!(
        get(&server, "/live/main/source/video.m3u8?_HLS_msn=999999").status,
        400
    );
    assert_eq!(
        get(
            &server,
            &format!("/live/main/source/video.m3u8?{}", "x=1&".repeat(5000))
        )
        .status,
        200
    );
    // Every idle connection is closed by the server (http.idle_timeout_seconds,
    // 30 by default).
    for mut connection in idle {
        connection
            .set_read_timeout(Some(Duration::from_secs(45)))
            .expect("timeout");
        let mut byte = [0u8; 1];
        let read = std::io::Read::read(&mut connection, &mut byte);
        assert!(matches!(read, Ok(0)) || read.is_err(), "{read:?}");
    }
    let closed_after = opened.elapsed();
    eprintln!("{idle_connections} idle connections closed after {closed_after:?}");
    assert!(closed_after >= Duration::from_secs(25) && closed_after < Duration::from_secs(40));
    assert_eq!(get(&server, "/live/main/index.m3u8").status, 200);
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn hls_directory_holds_the_same_files_for_an_external_origin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Manifold::start(
        "io_uring",
        &format!(
            "{STREAM}[hls]\nwindow = 2\ndirectory = \"{}\"\n",
            dir.path().display()
        ),
    );
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    let on_disk = dir.path().join("main");
    let read = |name: &str| std::fs::read_to_string(on_disk.join(name)).unwrap_or_default();
    // Wait until the first segment has left the window (and the disk).
    let playlist = wait_for(
        "segment 0 to be evicted from disk",
        Duration::from_secs(30),
        || {
            let text = read("source/video.m3u8");
            (text.matches("#EXTINF").count() >= 2 && !text.contains("-0.m4s")).then_some(text)
        },
    );
    assert!(
        !playlist.contains("#EXT-X-PART"),
        "disk playlists have no parts: {playlist}"
    );
    assert!(!playlist.contains("PRELOAD-HINT"), "{playlist}");
    for name in playlist.lines().filter(|l| l.starts_with("seg-")) {
        assert!(
            on_disk.join("source").join(name).is_file(),
            "{name} listed but missing"
        );
    }
    let files: Vec<String> = std::fs::read_dir(on_disk.join("source"))
        .expect("source dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with("seg-v-") && f.ends_with("-0.m4s")),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.starts_with("init-v-")), "{files:?}");
    assert!(read("manifest.mpd").contains("<MPD"));
    assert!(read("source/ts.m3u8").contains("seg-t-"));
    // A player reading the files, not the server, sees the stream.
    let info = ffprobe::streams(on_disk.join("index.m3u8").to_str().unwrap());
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    assert_eq!((info.width, info.height), (1920, 1080));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    let _ = publisher.kill();
    let _ = publisher.wait();
}

/// `hls.enabled = false`: a published stream is not segmented, so nothing of it
/// is served over HTTP, while RTMP play still works.
#[test]
fn hls_enabled_false_serves_no_playlists_and_relays_still() {
    let server = Manifold::start("epoll", &format!("{STREAM}[hls]\nenabled = false\n"));
    server
        .log
        .wait_for_line(&["HLS/DASH: off"], Duration::from_secs(5));
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    // RTMP play gets the stream: the source is live.
    let info = ffprobe::streams(&server.rtmp_url("main"));
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    for path in [
        "/live/main/index.m3u8",
        "/live/main/source/video.m3u8",
        "/live/main/manifest.mpd",
    ] {
        assert_eq!(get(&server, path).status, 404, "{path}");
    }
    let api = server.api("GET", "/api/v1/streams/main", None).json();
    assert!(api["hls"].is_null(), "{api}");
    let _ = publisher.kill();
    let _ = publisher.wait();
}

/// At 29.97 fps with a 50-frame GOP, segments are 100 frames (3336.67 ms), so
/// RTMP's millisecond timestamps make segment durations and the keyframe's
/// composition offset vary by a tick: the DASH timeline still runs without gaps
/// (one explicit `t`, every later segment starting where the previous one ends).
/// With `d` taken as the sum of decode durations it had a 1 ms gap every other
/// segment.
#[test]
fn a_29_97_fps_stream_has_a_gapless_dash_timeline() {
    common::require("ffmpeg");
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = dir.path().join("ntsc.flv");
    common::make_clip(
        &clip,
        "640x360",
        "30000/1001",
        20,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "2",
            "-g",
            "50",
            "-sc_threshold",
            "0",
        ],
    );
    let server = Manifold::start("io_uring", STREAM);
    let mut publisher = publish(&clip, &server.rtmp_url("K"));
    wait_segments(&server, "/live/main/source/video.m3u8", 5);
    let mpd = get(&server, "/live/main/manifest.mpd").body;
    let _ = publisher.kill();
    let _ = publisher.wait();
    let video = mpd
        .split("<AdaptationSet")
        .find(|a| a.contains("contentType=\"video\""))
        .expect("a video AdaptationSet");
    let timeline = DashTimeline::video(&mpd);
    assert!(timeline.starts.len() >= 5, "{mpd}");
    assert_eq!(
        video.matches("<S t=").count(),
        1,
        "a timeline with gaps or overlaps:\n{mpd}"
    );
}
