//! Transcoding end to end with real clients: ffmpeg publishes a 1080p30 H.264 + AAC
//! source, Manifold decodes it once and encodes a ladder with libx264; ffmpeg records
//! each rendition over RTMP play and ffprobe checks sizes, bitrates, keyframe
//! alignment, A/V start and B-frames. Push outputs with a profile deliver their
//! rendition to nginx-rtmp. Hardware encoders, absent here, fail with their reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::ffprobe::{self, Packet};
use common::{Manifold, Nginx, publish, require, run_output, test_media, wait_exit, wait_for};

/// `ffmpeg -i URL -frames:v (30 x SECONDS) -copyts -c copy OUT.flv` in the
/// background: the server's timestamps, so recordings of different renditions
/// compare (`-t` would count from timestamp 0 under `-copyts`).
fn record(url: &str, out: &Path, seconds: u32) -> Child {
    require("ffmpeg");
    Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-rw_timeout",
            "20000000",
            "-i",
            url,
        ])
        .args([
            "-frames:v",
            &(seconds * 30).to_string(),
            "-copyts",
            "-c",
            "copy",
            "-y",
        ])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ffmpeg recorder")
}

/// Records `seconds` of each rendition `main/NAME` at once, into `DIR/NAME.flv`.
fn record_renditions(server: &Manifold, dir: &Path, names: &[&str], seconds: u32) -> Vec<PathBuf> {
    let mut recorders: Vec<(Child, PathBuf)> = names
        .iter()
        .map(|name| {
            let out = dir.join(format!("{name}.flv"));
            (
                record(&server.rtmp_url(&format!("main/{name}")), &out, seconds),
                out,
            )
        })
        .collect();
    for (child, _) in &mut recorders {
        let status = wait_exit(child, "rendition recorder", Duration::from_secs(60));
        assert!(status.success(), "recording a rendition failed: {status}");
    }
    recorders.into_iter().map(|(_, out)| out).collect()
}

fn keyframe_pts(packets: &[Packet]) -> Vec<i64> {
    ffprobe::video(packets)
        .into_iter()
        .filter(|p| p.keyframe)
        .map(|p| p.pts)
        .collect()
}

/// Video bits per second over the recording (its first to last dts, in ms).
fn video_bitrate(packets: &[Packet]) -> f64 {
    let video = ffprobe::video(packets);
    let bytes: u64 = video.iter().map(|p| p.size).sum();
    let first = video.first().map_or(0, |p| p.dts);
    let last = video.last().map_or(0, |p| p.dts);
    bytes as f64 * 8.0 / ((last - first).max(1) as f64 / 1000.0)
}

const LADDER: &str = r#"
[[profile]]
name = "1080p"
height = 1080
video_bitrate = "4000k"
audio_bitrate = "128k"
preset = "ultrafast"

[[profile]]
name = "720p"
height = 720
video_bitrate = "2500k"
audio_bitrate = "128k"
preset = "ultrafast"

[[profile]]
name = "480p"
height = 480
video_bitrate = "1200k"
audio_bitrate = "96k"
preset = "ultrafast"

[[profile]]
name = "360p"
height = 360
video_bitrate = "800k"
audio_bitrate = "64k"
preset = "ultrafast"
bframes = 0

[[stream]]
name = "main"
key = "K"
ladder = ["source", "1080p", "720p", "480p", "360p"]
"#;

#[test]
fn ladder_renditions_have_their_size_bitrate_and_aligned_keyframes() {
    let server = Manifold::start("io_uring", LADDER);
    assert!(
        server.log.text().contains("auto chose x264"),
        "banner names the encoder auto chose:\n{}",
        server.log.text()
    );
    let media = test_media(40);
    let mut publisher = publish(&media, &server.rtmp_url("K"));
    wait_for(
        "four renditions to open their encoders",
        Duration::from_secs(20),
        || (server.log.count("rendition video encoder opened") >= 4).then_some(()),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let rungs = [
        ("1080p", 1920, 1080, 4_000_000.0),
        ("720p", 1280, 720, 2_500_000.0),
        ("480p", 854, 480, 1_200_000.0),
        ("360p", 640, 360, 800_000.0),
    ];
    let names: Vec<&str> = rungs.iter().map(|(name, ..)| *name).collect();
    let recordings = record_renditions(&server, dir.path(), &names, 22);
    let _ = publisher.kill();
    let _ = publisher.wait();

    let mut keyframes = Vec::new();
    for ((name, width, height, target), path) in rungs.iter().zip(&recordings) {
        let info = ffprobe::streams(&path.display().to_string());
        assert_eq!(
            info.video_codec.as_deref(),
            Some("h264"),
            "{name}: video codec"
        );
        assert_eq!(
            info.audio_codec.as_deref(),
            Some("aac"),
            "{name}: audio codec"
        );
        assert_eq!(
            (info.width, info.height),
            (*width, *height),
            "{name}: picture size"
        );
        let packets = ffprobe::file_packets(path);
        ffprobe::assert_monotonic(name, &packets);
        let frames = ffprobe::video(&packets).len();
        assert!(
            frames >= 600,
            "{name}: {frames} frames in 22 s of a 30 fps source"
        );
        let bitrate = video_bitrate(&packets);
        let ratio = bitrate / target;
        println!(
            "{name}: {frames} frames, video {:.0} kbit/s = {ratio:.3} of target",
            bitrate / 1000.0
        );
        assert!(
            (0.85..=1.15).contains(&ratio),
            "{name}: video bitrate {bitrate:.0} is not within 15% of {target}"
        );
        let first_video = ffprobe::video(&packets)
            .first()
            .map(|p| p.pts)
            .unwrap_or_default();
        let first_audio = packets
            .iter()
            .find(|p| !p.video)
            .map(|p| p.pts)
            .unwrap_or(i64::MAX);
        assert!(
            (first_audio - first_video).abs() <= 34,
            "{name}: audio starts at {first_audio} ms, video at {first_video} ms (more than a frame apart)"
        );
        keyframes.push((name, keyframe_pts(&packets)));
    }
    // Every rendition cuts at the same timestamps (within the span all recorded).
    let start = keyframes
        .iter()
        .filter_map(|(_, k)| k.first())
        .max()
        .copied()
        .unwrap_or(0);
    let end = keyframes
        .iter()
        .filter_map(|(_, k)| k.last())
        .min()
        .copied()
        .unwrap_or(0);
    let within = |k: &Vec<i64>| -> Vec<i64> {
        k.iter()
            .copied()
            .filter(|t| (start..=end).contains(t))
            .collect()
    };
    let reference = within(&keyframes[0].1);
    assert!(
        reference.len() >= 5,
        "keyframes every 2 s in the common span: {reference:?}"
    );
    for (name, k) in &keyframes[1..] {
        assert_eq!(
            within(k),
            reference,
            "{name}: keyframes differ from 1080p's"
        );
    }
}

#[test]
fn push_with_a_profile_gets_that_rendition_while_another_stays_passthrough() {
    let nginx = Nginx::start();
    let config = format!(
        r#"
[[profile]]
name = "360p"
height = 360
video_bitrate = "800k"
audio_bitrate = "64k"
preset = "ultrafast"

[[stream]]
name = "main"
key = "K"
  [[stream.push]]
  name = "small"
  url = "{url}"
  key = "small"
  profile = "360p"
  [[stream.push]]
  name = "full"
  url = "{url}"
  key = "full"
"#,
        url = nginx.url()
    );
    let server = Manifold::start("epoll", &config);
    let media = test_media(10);
    let source = ffprobe::file_packets(&media);
    let mut publisher = publish(&media, &server.rtmp_url("K"));
    let status = wait_exit(&mut publisher, "publisher", Duration::from_secs(40));
    assert!(
        status.success(),
        "ffmpeg publish failed\n{}",
        server.log.text()
    );
    let small = nginx.recording("small");
    let full = nginx.recording("full");
    // The recordings are complete once the outputs ended their sessions.
    wait_for("both pushes to go idle", Duration::from_secs(30), || {
        let body = server.api("GET", "/api/v1/streams/main", None).json();
        let idle = body["outputs"]
            .as_array()?
            .iter()
            .all(|o| o["state"] != "live" && o["state"] != "connecting");
        idle.then_some(())
    });
    ffprobe::assert_relayed("passthrough push", &full, &source);
    let info = ffprobe::streams(&small.display().to_string());
    assert_eq!(
        (info.width, info.height),
        (640, 360),
        "rendition push picture size"
    );
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    let packets = ffprobe::file_packets(&small);
    let frames = ffprobe::video(&packets).len();
    let source_frames = ffprobe::video(&source).len();
    assert!(
        frames + 2 * ffprobe::GOP >= source_frames,
        "rendition push got {frames} of {source_frames} frames"
    );
    ffprobe::assert_monotonic("rendition push", &packets);
    assert_eq!(
        server.log.count("rendition in use"),
        1,
        "one encode for the profile"
    );
}

/// `-show_frames` picture types in presentation order.
fn picture_types(path: &Path) -> String {
    let mut cmd = Command::new("ffprobe");
    cmd.args([
        "-v",
        "error",
        "-select_streams",
        "v",
        "-show_entries",
        "frame=pict_type",
        "-of",
        "csv=p=0",
    ])
    .arg(path);
    let (status, out, err) = run_output(cmd, "ffprobe -show_frames", Duration::from_secs(60));
    assert!(status.success(), "ffprobe -show_frames: {err}");
    out.lines().map(str::trim).collect()
}

#[test]
fn bframes_zero_means_none_and_watching_starts_and_stops_the_rendition() {
    const ROUNDS: usize = 5;
    let config = r#"
[[profile]]
name = "low"
width = 640
video_bitrate = "600k"
preset = "ultrafast"
bframes = 0

[hls]
window = 2

[[stream]]
name = "main"
key = "K"
"#;
    let server = Manifold::start("epoll", config);
    // Transcoder threads are named decode-SOURCE and transcode-PROFILE; the codec
    // threads FFmpeg starts inherit their creator's name (Linux copies comm).
    let transcoder_threads = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .map(|d| {
                d.flatten()
                    .map(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .unwrap_or_default()
                            .trim()
                            .to_owned()
                    })
                    .filter(|n| n.starts_with("decode-") || n.starts_with("transcode-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        transcoder_threads(),
        Vec::<String>::new(),
        "nothing transcodes before anyone watches"
    );
    let media = test_media(40);
    let mut publisher = publish(&media, &server.rtmp_url("K"));
    // Memory is compared once the source's own HLS window (2 segments) is full.
    wait_for(
        "the source's HLS window to fill",
        Duration::from_secs(30),
        || {
            let body = server.api("GET", "/api/v1/streams/main", None).json();
            (body["hls"]["segments_produced"].as_u64()? >= 4).then_some(())
        },
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rss = Vec::new();
    for round in 0..ROUNDS {
        let out = dir.path().join(format!("low-{round}.flv"));
        let mut recorder = record(&server.rtmp_url("main/low"), &out, 4);
        wait_for(
            "a viewer to start the rendition",
            Duration::from_secs(10),
            || (!transcoder_threads().is_empty()).then_some(()),
        );
        let status = wait_exit(&mut recorder, "recorder", Duration::from_secs(40));
        assert!(status.success(), "recording the on-demand rendition failed");
        let info = ffprobe::streams(&out.display().to_string());
        assert_eq!(
            (info.width, info.height),
            (640, 360),
            "width 640 keeps 16:9"
        );
        if info.audio_codec.as_deref() != Some("aac") {
            let packets = ffprobe::file_packets(&out);
            panic!(
                "round {round}: audio does not pass through: {:?}\nfirst packets {:?}\n{}",
                info,
                &packets[..packets.len().min(12)],
                server.log.text()
            );
        }
        let types = picture_types(&out);
        assert!(types.len() > 60, "pictures decoded: {}", types.len());
        assert!(!types.contains('B'), "bframes = 0 but B pictures: {types}");
        let packets = ffprobe::file_packets(&out);
        for pair in ffprobe::video(&packets).windows(2) {
            assert!(
                pair[1].pts > pair[0].pts,
                "without B-frames pts follow decode order"
            );
        }
        // Nobody watches any more: the rendition's, the decoder's and FFmpeg's
        // codec threads all end.
        wait_for("transcoder threads to end", Duration::from_secs(15), || {
            transcoder_threads().is_empty().then_some(())
        });
        rss.push(server.rss_kib());
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
    assert_eq!(
        server.log.count("rendition started"),
        ROUNDS,
        "one start per viewer session"
    );
    println!("RSS after each start and stop: {rss:?} KiB");
    // The first rounds warm the allocator (glibc keeps per-thread arenas, and RSS
    // swings by some 25 MiB between runs of this loop with no trend); a leak of a
    // pipeline per start (decoder, encoder, pictures: tens of MiB) would still show.
    let warm = rss[0].max(rss[1]);
    assert!(
        rss[ROUNDS - 1] <= warm + 40 * 1024,
        "memory after repeated starts and stops: {rss:?} KiB"
    );
}

#[test]
fn hardware_encoders_fail_with_their_reason_and_auto_falls_back() {
    for encoder in ["nvenc", "vaapi", "qsv"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hw.toml");
        std::fs::write(
            &path,
            format!(
                "[rtmp]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n[srt]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
                 [[profile]]\nname = \"720p\"\nheight = 720\nvideo_bitrate = \"2500k\"\nencoder = \"{encoder}\"\n"
            ),
        )
        .expect("write config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_manifold"));
        cmd.arg("--config").arg(&path);
        let (status, out, err) = run_output(
            cmd,
            "manifold with a hardware encoder",
            Duration::from_secs(20),
        );
        assert_eq!(
            status.code(),
            Some(1),
            "{encoder}: startup must fail here\n{out}{err}"
        );
        let wanted = format!("encoder = \"{encoder}\" cannot be used on this machine");
        assert!(err.contains(&wanted), "{encoder}: {err}");
        println!("{encoder}: {}", err.trim());
    }
}

#[test]
fn hls_and_dash_list_the_ladder_and_an_opus_rendition_decodes() {
    let config = r#"
[[profile]]
name = "720p"
height = 720
video_bitrate = "2000k"
audio_bitrate = "128k"
preset = "ultrafast"

[[profile]]
name = "small"
height = 360
video_bitrate = "600k"
audio = "opus"
audio_bitrate = "64k"
preset = "ultrafast"
bframes = 0

[[stream]]
name = "main"
key = "K"
ladder = ["source", "720p", "small"]
"#;
    let server = Manifold::start("io_uring", config);
    let get = |path: &str| common::http::request(server.http_port, "GET", path, &[], None);
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    let multivariant = wait_for(
        "the ladder in the multivariant playlist",
        Duration::from_secs(40),
        || {
            let response = get("/live/main/index.m3u8");
            let text = response.body;
            (response.status == 200 && text.matches("#EXT-X-STREAM-INF").count() == 3)
                .then_some(text)
        },
    );
    println!("{multivariant}");
    for (uri, resolution, codec) in [
        ("source/video.m3u8", "RESOLUTION=1920x1080", "mp4a"),
        ("720p/video.m3u8", "RESOLUTION=1280x720", "mp4a"),
        ("small/video.m3u8", "RESOLUTION=640x360", "opus"),
    ] {
        let line = multivariant
            .lines()
            .zip(multivariant.lines().skip(1))
            .find(|(_, next)| *next == uri)
            .map(|(inf, _)| inf)
            .unwrap_or_else(|| panic!("{uri} not in the multivariant playlist"));
        assert!(
            line.contains(resolution) && line.contains(codec),
            "{uri}: {line}"
        );
    }
    // Each rendition's low-latency playlist reports where the others are.
    let playlist = wait_for("720p segments", Duration::from_secs(30), || {
        let response = get("/live/main/720p/video.m3u8");
        (response.status == 200 && response.body.contains("#EXTINF")).then_some(response.body)
    });
    assert!(
        playlist.contains("#EXT-X-RENDITION-REPORT:URI=\"../source/video.m3u8\"")
            && playlist.contains("#EXT-X-RENDITION-REPORT:URI=\"../small/video.m3u8\""),
        "rendition reports in 720p/video.m3u8:\n{playlist}"
    );
    // The Opus rendition's audio decodes.
    let audio_url = server.http_url("/live/main/small/audio.m3u8");
    let mut decode = Command::new("ffmpeg");
    decode.args([
        "-v", "error", "-i", &audio_url, "-t", "4", "-f", "null", "-",
    ]);
    let (status, _, err) = run_output(
        decode,
        "ffmpeg decoding the Opus rendition",
        Duration::from_secs(60),
    );
    assert!(
        status.success() && err.trim().is_empty(),
        "decoding Opus: {status} {err}"
    );
    let info = ffprobe::streams(&audio_url);
    assert_eq!(info.audio_codec.as_deref(), Some("opus"));
    // The MPD lists every rendition as a representation of one adaptation set.
    let mpd = wait_for(
        "every representation in the MPD",
        Duration::from_secs(30),
        || {
            let text = get("/live/main/manifest.mpd").body;
            ["v-source", "v-720p", "v-small", "a-small"]
                .iter()
                .all(|id| text.contains(&format!("id=\"{id}\"")))
                .then_some(text)
        },
    );
    assert!(mpd.contains("codecs=\"opus\""), "{mpd}");
    let video = ffprobe::streams(&server.http_url("/live/main/small/video.m3u8"));
    assert_eq!((video.width, video.height), (640, 360));
    // Monitoring: each rendition's transcoder in the API and in /metrics.
    let rendition = wait_for("720p at speed in the API", Duration::from_secs(20), || {
        let found = server.rendition("main", "720p")?;
        (found["active"] == true && found["transcode"]["fps"].as_f64()? > 20.0).then_some(found)
    });
    assert_eq!(rendition["transcode"]["encoder"], "x264", "{rendition}");
    // The source's keyframe-to-servable latency is measured (its figure is a
    // benchmark, BENCHMARKS.md; here only that it is there and sane).
    let body = server.api("GET", "/api/v1/streams/main", None).json();
    let p99 = body["hls"]["keyframe_to_servable_p99_ms"]
        .as_f64()
        .expect("measured");
    assert!(
        p99 > 0.0 && p99 < 10_000.0,
        "keyframe to servable p99 {p99} ms"
    );
    assert_eq!(rendition["in_ladder"], true);
    let metrics = server.api("GET", "/metrics", None).body;
    common::promtool_check(&metrics);
    for family in [
        "manifold_transcode_fps",
        "manifold_transcode_dropped_frames_total",
        "manifold_transcode_latency_p99_seconds",
    ] {
        assert!(
            metrics.contains(&format!(
                "{family}{{stream=\"main\",rendition=\"small\",encoder=\"x264\"}}"
            )),
            "{family} for the small rendition:\n{metrics}"
        );
    }
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn an_srt_reader_of_a_rendition_starts_it_and_gets_it() {
    require("srt-live-transmit");
    let config = r#"
[[profile]]
name = "small"
height = 360
video_bitrate = "600k"
preset = "ultrafast"

[[stream]]
name = "main"
key = "K"
"#;
    let server = Manifold::start("epoll", config);
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    wait_for("the source to be live", Duration::from_secs(15), || {
        (server.api("GET", "/api/v1/streams/main", None).json()["ingest"]["protocol"] == "rtmp")
            .then_some(())
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let recording = dir.path().join("small.ts");
    let mut reader = Command::new("srt-live-transmit")
        .args(["-q", "-a:no"])
        .arg(server.srt_url("read:live/main/small", ""))
        .arg("file://con")
        .stdout(std::fs::File::create(&recording).expect("create recording"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start srt-live-transmit");
    wait_for(
        "three seconds of the rendition over SRT",
        Duration::from_secs(30),
        || {
            let size = std::fs::metadata(&recording).map_or(0, |m| m.len());
            (size > 150_000).then_some(())
        },
    );
    let _ = reader.kill();
    let _ = reader.wait();
    let _ = publisher.kill();
    let _ = publisher.wait();
    let info = ffprobe::streams(&recording.display().to_string());
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    assert_eq!(
        (info.width, info.height),
        (640, 360),
        "the rendition, not the source"
    );
    assert_eq!(
        server.log.count("rendition in use"),
        1,
        "the reader started it"
    );
}

/// Forced keyframes lie on one grid for the whole source: a rendition started on
/// demand mid-GOP (here cascaded from a ladder rung) puts its keyframes, after its
/// first, on the same timestamps as the rung that has run since the publish, even
/// where the grid (1 s) is finer than the source's GOP (2 s).
#[test]
fn a_rendition_started_later_keeps_the_ladders_keyframe_grid() {
    let config = r#"
[[profile]]
name = "360p"
height = 360
video_bitrate = "600k"
preset = "ultrafast"
keyframe_seconds = 1

[[profile]]
name = "late"
height = 240
video_bitrate = "300k"
preset = "ultrafast"
keyframe_seconds = 1

[[stream]]
name = "main"
key = "K"
ladder = ["source", "360p"]
"#;
    let server = Manifold::start("epoll", config);
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    wait_for("the ladder rung to encode", Duration::from_secs(20), || {
        (server.log.count("rendition video encoder opened") >= 1).then_some(())
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let recordings = record_renditions(&server, dir.path(), &["360p", "late"], 8);
    let _ = publisher.kill();
    let _ = publisher.wait();
    let ladder = keyframe_pts(&ffprobe::file_packets(&recordings[0]));
    let late = keyframe_pts(&ffprobe::file_packets(&recordings[1]));
    eprintln!("ladder rung keyframes {ladder:?}\nlate rendition keyframes {late:?}");
    // The late rendition's first keyframe is forced wherever it started; from
    // then on, both have the same keyframes where both recorded.
    let (Some(&from), Some(&to)) = (late.get(1), ladder.last().min(late.last())) else {
        panic!("too few keyframes: ladder {ladder:?}, late {late:?}");
    };
    let within = |k: &[i64]| -> Vec<i64> {
        k.iter()
            .copied()
            .filter(|t| (from..=to).contains(t))
            .collect()
    };
    assert!(within(&late).len() >= 4, "keyframes every second: {late:?}");
    assert_eq!(within(&late), within(&ladder));
}
