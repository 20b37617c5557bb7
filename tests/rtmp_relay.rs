//! End to end: ffmpeg publishes over RTMP and RTMPS; Manifold pushes to two
//! nginx-rtmp destinations and an RTMPS destination (a second Manifold); ffprobe
//! checks what each destination received. Every case runs on both I/O engines.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::ffprobe::{self, video};
use common::{ENGINES, Manifold, Nginx, clip, publish, wait_exit};

fn relay_case(engine: &str, ingest_tls: bool) {
    let source = ffprobe::file_packets(clip());
    let nginx_a = Nginx::start();
    let nginx_b = Nginx::start();
    // The RTMPS destination: a second Manifold with a self-signed certificate.
    let dest = Manifold::start_with(
        engine,
        "[ingest]\ngrace_period_seconds = 1\n[[stream]]\nname = \"relay\"\nkey = \"relaykey\"\n",
        true,
    );
    let dest_recording = dest.dir.path().join("relay.flv");
    let mut recorder = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-i",
            &dest.rtmp_url("relay"),
            "-c",
            "copy",
            "-f",
            "flv",
        ])
        .arg(&dest_recording)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start recorder");
    dest.log
        .wait_for_line(&["playing", "relay"], Duration::from_secs(10));

    let server = Manifold::start_with(
        engine,
        &format!(
            "[ingest]\ngrace_period_seconds = 1\n[[stream]]\nname = \"main\"\nkey = \"K\"\n\
             [[stream.push]]\nname = \"a\"\nurl = \"{}\"\nkey = \"a\"\n\
             [[stream.push]]\nname = \"b\"\nurl = \"{}/b\"\n\
             [[stream.push]]\nname = \"tls\"\nurl = \"{}\"\nca_file = \"{}\"\n",
            nginx_a.url(),
            nginx_b.url(),
            dest.rtmps_url("relaykey"),
            dest.dir.path().join("ca.pem").display(),
        ),
        ingest_tls,
    );
    let url = if ingest_tls {
        server.rtmps_url("K")
    } else {
        server.rtmp_url("K")
    };
    let mut publisher = publish(clip(), &url);
    for output in ["a", "b", "tls"] {
        server.log.wait_for_line(
            &["push live", &format!("output={output}")],
            Duration::from_secs(10),
        );
    }
    let status = wait_exit(&mut publisher, "ffmpeg publish", Duration::from_secs(40));
    assert!(status.success(), "ffmpeg publish failed");
    // After the grace period the outputs end their publish and go idle.
    common::wait_for("all outputs idle", Duration::from_secs(15), || {
        (server.log.count("to=\"idle\"") >= 3).then_some(())
    });
    wait_exit(
        &mut recorder,
        "RTMPS destination recorder",
        Duration::from_secs(15),
    );
    assert_eq!(
        server.log.count("push failed"),
        0,
        "no output failed:\n{}",
        server.log.text()
    );

    ffprobe::assert_relayed("nginx-rtmp a", &nginx_a.recording("a"), &source);
    ffprobe::assert_relayed("nginx-rtmp b", &nginx_b.recording("b"), &source);
    ffprobe::assert_relayed("RTMPS Manifold", &dest_recording, &source);
}

#[test]
fn rtmp_ingest_pushes_to_nginx_and_rtmps_on_both_engines() {
    for engine in ENGINES {
        relay_case(engine, false);
    }
}

#[test]
fn rtmps_ingest_pushes_to_nginx_and_rtmps_on_both_engines() {
    for engine in ENGINES {
        relay_case(engine, true);
    }
}

#[test]
fn late_joiner_starts_on_a_keyframe_with_sequence_headers() {
    for engine in ENGINES {
        let server = Manifold::start(engine, "[ingest]\nallow_undeclared = true\n");
        let mut publisher = publish(clip(), &server.rtmp_url("main"));
        server
            .log
            .wait_for_line(&["publishing", "main"], Duration::from_secs(10));
        // Join mid-GOP: the clip has a keyframe every 2 s.
        std::thread::sleep(Duration::from_millis(3_000));
        let url = server.rtmp_url("main");
        let info = ffprobe::streams(&url);
        assert_eq!(
            info.video_codec.as_deref(),
            Some("h264"),
            "{engine}: sequence header gave the codec"
        );
        assert_eq!(
            (info.width, info.height),
            (1920, 1080),
            "{engine}: SPS from the sequence header"
        );
        assert_eq!(info.audio_codec.as_deref(), Some("aac"), "{engine}");
        let packets = ffprobe::packets(&url, Some(2));
        let first_video = packets.iter().find(|p| p.video).expect("video packets");
        assert!(
            first_video.keyframe,
            "{engine}: the late joiner's first video frame must be a keyframe"
        );
        assert!(
            video(&packets).len() >= 30,
            "{engine}: a late joiner gets at least a second of video at once"
        );
        let _ = publisher.kill();
        let _ = publisher.wait();
    }
}
