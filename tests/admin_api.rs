//! The admin server against real clients and peers: promtool checks the metrics,
//! ffmpeg publishes, nginx-rtmp receives what the API adds, and the config file the
//! API persists survives a restart and a `kill -9` in the middle of a write burst.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ADMIN_TOKEN, Manifold, Nginx, ffprobe, http, metric_sample, publish, test_media, wait_for,
};

const STREAM: &str = "[[stream]]\nname = \"main\"\nkey = \"K\"\n";

fn push_toml(name: &str, nginx: &Nginx) -> String {
    format!(
        "  [[stream.push]]\n  name = \"{name}\"\n  url = \"{}\"\n  key = \"{name}\"\n",
        nginx.url()
    )
}

fn output(server: &Manifold, name: &str) -> serde_json::Value {
    let response = server.api("GET", &format!("/api/v1/streams/main/outputs/{name}"), None);
    assert_eq!(response.status, 200, "{}", response.body);
    response.json()
}

fn wait_state(server: &Manifold, name: &str, state: &str, timeout: Duration) -> serde_json::Value {
    wait_for(&format!("output {name} to be {state}"), timeout, || {
        let view = output(server, name);
        (view["state"] == state).then_some(view)
    })
}

fn scrape(server: &Manifold) -> String {
    let response = http::request(server.admin_port, "GET", "/metrics", &[], None);
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .header("content-type")
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.headers
    );
    response.body
}

/// `manifold check-config` on the server's (persisted) config file, which must
/// pass; returns the effective config it prints.
fn checked_config(server: &Manifold) -> String {
    let check = Command::new(env!("CARGO_BIN_EXE_manifold"))
        .arg("check-config")
        .arg(server.config_path())
        .output()
        .expect("check-config");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    String::from_utf8_lossy(&check.stdout).into_owned()
}

/// Average payload bitrate of a file, from its packets (what the ingest gauge counts).
fn file_bitrate(path: &std::path::Path) -> f64 {
    let packets = ffprobe::file_packets(path);
    let bytes: u64 = packets.iter().map(|p| p.size).sum();
    let video: Vec<_> = ffprobe::video(&packets);
    let first = video.first().expect("video").dts;
    let last = video.last().expect("video").dts;
    // FLV timestamps are milliseconds; one frame interval closes the span.
    let seconds = (last - first) as f64 / 1000.0 + 1.0 / 30.0;
    bytes as f64 * 8.0 / seconds
}

#[test]
fn metrics_pass_promtool_carry_the_spec_names_and_measure_bitrates() {
    let nginx = Nginx::start();
    let toml = format!(
        "{STREAM}{}  [[stream.push]]\n  name = \"dead\"\n  url = \"rtmp://127.0.0.1:1/live/x\"\n",
        push_toml("up", &nginx)
    );
    let server = Manifold::start("io_uring", &toml);
    let media = test_media(40);
    let mut publisher = publish(&media, &server.rtmp_url("K"));
    wait_state(&server, "up", "live", Duration::from_secs(15));
    // An RTMP player, so the viewer gauge has something to count.
    let mut player = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(server.rtmp_url("main"))
        .args(["-c", "copy", "-f", "null", "-"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ffmpeg player");
    let metrics = wait_for(
        "a scrape with one RTMP viewer and a segment",
        Duration::from_secs(15),
        || {
            let m = scrape(&server);
            let segments = metric_sample(
                &m,
                "manifold_segments_total{stream=\"main\",rendition=\"source\"}",
            );
            (metric_sample(&m, "manifold_viewers{stream=\"main\",protocol=\"rtmp\"}") == Some(1.0)
                && segments >= Some(1.0))
            .then_some(m)
        },
    );
    common::promtool_check(&metrics);
    let up = "{stream=\"main\",output=\"up\"}";
    let dead = "{stream=\"main\",output=\"dead\"}";
    for series in [
        "manifold_stream_live{stream=\"main\"}".to_owned(),
        "manifold_ingest_bitrate_bps{stream=\"main\",protocol=\"rtmp\"}".to_owned(),
        "manifold_ingest_frames_total{stream=\"main\",protocol=\"rtmp\"}".to_owned(),
        format!("manifold_output_up{up}"),
        format!("manifold_output_bitrate_bps{up}"),
        format!("manifold_output_target_bitrate_bps{up}"),
        format!("manifold_output_reconnects_total{dead}"),
        format!("manifold_output_dropped_frames_total{up}"),
        "manifold_output_state{stream=\"main\",output=\"up\",state=\"live\"}".to_owned(),
        "manifold_output_state{stream=\"main\",output=\"dead\",state=\"retrying\"}".to_owned(),
        "manifold_segments_total{stream=\"main\",rendition=\"source\"}".to_owned(),
        "manifold_segment_age_seconds{stream=\"main\",rendition=\"source\"}".to_owned(),
        "manifold_rendition_degraded{stream=\"main\",rendition=\"source\"}".to_owned(),
        "manifold_http_requests_total{kind=\"playlist\"}".to_owned(),
        "process_cpu_seconds_total".to_owned(),
        "process_resident_memory_bytes".to_owned(),
        "process_open_fds".to_owned(),
    ] {
        assert!(
            metric_sample(&metrics, &series).is_some(),
            "{series} missing from:\n{metrics}"
        );
    }
    assert_eq!(
        metric_sample(&metrics, &format!("manifold_output_up{up}")),
        Some(1.0)
    );
    assert_eq!(
        metric_sample(&metrics, &format!("manifold_output_up{dead}")),
        Some(0.0)
    );
    assert!(
        metric_sample(
            &metrics,
            "manifold_ingest_frames_total{stream=\"main\",protocol=\"rtmp\"}"
        )
        .unwrap()
            > 0.0
    );
    // The dead destination is retried; the live one is not.
    let view = wait_for(
        "the dead output to have retried",
        Duration::from_secs(10),
        || {
            let v = output(&server, "dead");
            (v["reconnects"].as_u64() >= Some(2)).then_some(v)
        },
    );
    assert!(
        view["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{view}"
    );
    assert_eq!(output(&server, "up")["reconnects"], 0);
    let hls = &server.api("GET", "/api/v1/streams/main", None).json()["hls"];
    assert_eq!(hls["rendition"], "source", "{hls}");
    assert_eq!(hls["health"], "ok", "{hls}");
    assert!(hls["segments_produced"].as_u64() >= Some(1), "{hls}");
    assert!(
        hls["last_segment_age_seconds"].as_f64() < Some(3.0),
        "{hls}"
    );

    // Bitrates: the mean of the gauges over 10 s against the source file's.
    let source = file_bitrate(&media);
    let mut ingest = Vec::new();
    let mut out = Vec::new();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    while start.elapsed() < Duration::from_secs(13) {
        let m = scrape(&server);
        ingest.push(
            metric_sample(
                &m,
                "manifold_ingest_bitrate_bps{stream=\"main\",protocol=\"rtmp\"}",
            )
            .unwrap(),
        );
        out.push(metric_sample(&m, &format!("manifold_output_bitrate_bps{up}")).unwrap());
        std::thread::sleep(Duration::from_secs(1));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ingest, out) = (mean(&ingest), mean(&out));
    eprintln!("source {source:.0} bit/s, ingest gauge {ingest:.0}, output gauge {out:.0}");
    assert!(
        (ingest / source - 1.0).abs() <= 0.10,
        "ingest gauge {ingest:.0} vs source {source:.0}"
    );
    assert!(
        (out / ingest - 1.0).abs() <= 0.10,
        "output gauge {out:.0} vs ingest {ingest:.0}"
    );
    let _ = player.kill();
    let _ = player.wait();
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn output_state_follows_a_killed_destination_within_three_seconds() {
    for engine in common::ENGINES {
        let mut nginx = Nginx::start();
        let server = Manifold::start(engine, &format!("{STREAM}{}", push_toml("a", &nginx)));
        let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
        wait_state(&server, "a", "live", Duration::from_secs(15));
        let up = "manifold_output_up{stream=\"main\",output=\"a\"}";
        assert_eq!(metric_sample(&scrape(&server), up), Some(1.0));
        nginx.kill();
        let killed = Instant::now();
        wait_for(
            "retrying in the API and the metrics",
            Duration::from_secs(3),
            || {
                let retrying = output(&server, "a")["state"] == "retrying";
                (retrying && metric_sample(&scrape(&server), up) == Some(0.0)).then_some(())
            },
        );
        eprintln!("{engine}: retrying {:?} after the kill", killed.elapsed());
        let nginx = nginx.restart();
        wait_state(&server, "a", "live", Duration::from_secs(20));
        assert_eq!(metric_sample(&scrape(&server), up), Some(1.0));
        drop(nginx);
        let _ = publisher.kill();
        let _ = publisher.wait();
    }
}

#[test]
fn the_api_needs_the_token_and_never_logs_it() {
    let server = Manifold::start_full("io_uring", STREAM, false, "debug");
    let port = server.admin_port;
    assert_eq!(
        http::request(port, "GET", "/healthz", &[], None).status,
        200
    );
    assert_eq!(
        http::request(port, "GET", "/metrics", &[], None).status,
        200
    );
    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token-value")],
        vec![("Authorization", "Basic dGVzdA==")],
        vec![("Authorization", ADMIN_TOKEN)],
    ] {
        let response = http::request(port, "GET", "/api/v1/streams", &headers, None);
        assert_eq!(response.status, 401, "{headers:?}: {}", response.body);
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        let response = http::request(
            port,
            "POST",
            "/api/v1/streams/main/outputs",
            &headers,
            Some("{}"),
        );
        assert_eq!(response.status, 401);
    }
    let response = server.api("GET", "/api/v1/streams", None);
    assert_eq!(response.status, 200);
    assert_eq!(response.json()[0]["name"], "main");
    // The publish key is secret too: the API never shows it.
    assert!(!response.body.contains("\"K\""), "{}", response.body);
    assert_eq!(server.api("GET", "/api/v1/streams/nope", None).status, 404);
    assert_eq!(server.api("GET", "/api/v1/nothing", None).status, 404);
    // The requests above were logged (debug), without the token.
    server.log.wait_for_line(
        &["admin request", "/api/v1/streams"],
        Duration::from_secs(5),
    );
    assert!(
        !server.log.text().contains(ADMIN_TOKEN),
        "{}",
        server.log.text()
    );
}

#[test]
fn bad_bodies_get_400_naming_the_field() {
    let server = Manifold::start("io_uring", STREAM);
    let cases: [(&str, &str, Option<&str>); 9] = [
        ("/api/v1/streams/main/outputs", "{\"name\": \"x\",", None),
        (
            "/api/v1/streams/main/outputs",
            "{\"name\":\"x\",\"url\":\"rtmp://h/live/k\",\"bogus\":1}",
            Some("bogus"),
        ),
        (
            "/api/v1/streams/main/outputs",
            "{\"name\":\"x\"}",
            Some("url"),
        ),
        (
            "/api/v1/streams/main/outputs",
            "{\"name\":\"x\",\"url\":\"http://h/live/k\"}",
            Some("url"),
        ),
        (
            "/api/v1/streams/main/outputs",
            "{\"name\":\"x\",\"url\":\"rtmp://h/live\"}",
            Some("url"),
        ),
        (
            "/api/v1/streams/main/outputs",
            "{\"name\":\"x\",\"url\":\"rtmp://h/live/k\",\"enabled\":\"yes\"}",
            Some("enabled"),
        ),
        (
            "/api/v1/streams/main/outputs",
            "{\"name\":\"a b\",\"url\":\"rtmp://h/live/k\"}",
            Some("name"),
        ),
        (
            "/api/v1/streams",
            "{\"name\":\"main\",\"key\":\"other\"}",
            Some("name"),
        ),
        (
            "/api/v1/streams",
            "{\"name\":\"second\",\"key\":\"K\"}",
            Some("key"),
        ),
    ];
    for (path, body, field) in cases {
        let response = server.api("POST", path, Some(body));
        assert_eq!(response.status, 400, "{body}: {}", response.body);
        let json = response.json();
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{json}"
        );
        if let Some(field) = field {
            assert_eq!(json["field"], field, "{body}: {json}");
            assert!(json["error"].as_str().unwrap().contains(field), "{json}");
        }
    }
    let good = "{\"name\":\"x\",\"url\":\"rtmp://127.0.0.1:1/live/k\",\"enabled\":false}";
    assert_eq!(
        server
            .api("POST", "/api/v1/streams/main/outputs", Some(good))
            .status,
        201
    );
    let response = server.api("POST", "/api/v1/streams/main/outputs", Some(good));
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.json()["field"], "name");
    assert_eq!(
        server
            .api("POST", "/api/v1/streams/nope/outputs", Some(good))
            .status,
        404
    );
    // Nothing refused reached the config file.
    let saved = std::fs::read_to_string(server.config_path()).expect("config");
    assert_eq!(saved.matches("[[stream.push]]").count(), 1, "{saved}");
}

/// The whole runtime-control story on one server with two nginx-rtmp destinations.
#[test]
fn outputs_are_added_disabled_restarted_and_persisted_at_runtime() {
    let nginx_a = Nginx::start();
    let nginx_b = Nginx::start();
    let mut server = Manifold::start("io_uring", STREAM);
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    wait_for("the stream to be live", Duration::from_secs(10), || {
        let view = server.api("GET", "/api/v1/streams/main", None).json();
        (view["live"] == true).then_some(())
    });
    for (name, nginx) in [("a", &nginx_a), ("b", &nginx_b)] {
        let body = format!(
            "{{\"name\":\"{name}\",\"url\":\"{}\",\"key\":\"{name}\"}}",
            nginx.url()
        );
        let response = server.api("POST", "/api/v1/streams/main/outputs", Some(&body));
        assert_eq!(response.status, 201, "{}", response.body);
        assert_eq!(response.json()["url"], format!("{}/****", nginx.url()));
        wait_state(&server, name, "live", Duration::from_secs(15));
    }
    // Both destinations really receive the stream.
    for (name, nginx) in [("a", &nginx_a), ("b", &nginx_b)] {
        let recording = nginx.recording(name);
        wait_for(
            &format!("{name} to record video"),
            Duration::from_secs(15),
            || {
                let info = ffprobe::streams(recording.to_str().unwrap());
                (info.video_codec.as_deref() == Some("h264") && info.width == 1920).then_some(())
            },
        );
    }

    // Disabling a stops only a.
    let response = server.api("POST", "/api/v1/streams/main/outputs/a/disable", None);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.json()["state"], "disabled");
    let size =
        |nginx: &Nginx, name: &str| std::fs::metadata(nginx.recording(name)).map_or(0, |m| m.len());
    // nginx-rtmp flushes its recording when the publisher leaves.
    std::thread::sleep(Duration::from_millis(1500));
    let (a_before, b_before) = (size(&nginx_a, "a"), size(&nginx_b, "b"));
    wait_for(
        "b's recording to keep growing",
        Duration::from_secs(10),
        || (size(&nginx_b, "b") > b_before + 500_000).then_some(()),
    );
    assert_eq!(
        size(&nginx_a, "a"),
        a_before,
        "a was disabled but still received data"
    );
    assert_eq!(output(&server, "a")["state"], "disabled");
    let b = output(&server, "b");
    assert_eq!(
        (b["state"].as_str(), b["reconnects"].as_u64()),
        (Some("live"), Some(0))
    );

    // Restarting b reconnects it (and only it).
    let response = server.api("POST", "/api/v1/streams/main/outputs/b/restart", None);
    assert_eq!(response.status, 200, "{}", response.body);
    wait_for(
        "b to reconnect after the restart",
        Duration::from_secs(10),
        || {
            let b = output(&server, "b");
            (b["reconnects"] == 1 && b["state"] == "live").then_some(())
        },
    );
    assert_eq!(output(&server, "a")["state"], "disabled");

    // Removing an output forgets it.
    let body = "{\"name\":\"c\",\"url\":\"rtmp://127.0.0.1:1/live/c\",\"enabled\":false}";
    assert_eq!(
        server
            .api("POST", "/api/v1/streams/main/outputs", Some(body))
            .status,
        201
    );
    assert_eq!(
        server
            .api("DELETE", "/api/v1/streams/main/outputs/c", None)
            .status,
        204
    );
    assert_eq!(
        server
            .api("GET", "/api/v1/streams/main/outputs/c", None)
            .status,
        404
    );
    let _ = publisher.kill();
    let _ = publisher.wait();

    // The file holds the changes, and a restarted server runs on them.
    checked_config(&server);
    server.restart();
    let outputs: HashMap<String, (bool, String)> = server
        .api("GET", "/api/v1/streams/main/outputs", None)
        .json()
        .as_array()
        .expect("outputs")
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_owned(),
                (
                    o["enabled"].as_bool().unwrap(),
                    o["state"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert_eq!(outputs["a"], (false, "disabled".to_owned()));
    assert!(outputs["b"].0, "{outputs:?}");
}

#[test]
fn streams_are_created_and_deleted_at_runtime() {
    let nginx = Nginx::start();
    let server = Manifold::start("epoll", "");
    let body = format!(
        "{{\"name\":\"show\",\"key\":\"S3CRET\",\"push\":[{{\"name\":\"n\",\"url\":\"{}\",\"key\":\"show\"}}]}}",
        nginx.url()
    );
    let response = server.api("POST", "/api/v1/streams", Some(&body));
    assert_eq!(response.status, 201, "{}", response.body);
    assert!(!response.body.contains("S3CRET"), "{}", response.body);
    let mut publisher = publish(&test_media(20), &server.rtmp_url("S3CRET"));
    wait_for(
        "the new stream's output to go live",
        Duration::from_secs(15),
        || {
            let view = server
                .api("GET", "/api/v1/streams/show/outputs/n", None)
                .json();
            (view["state"] == "live").then_some(())
        },
    );
    let view = server.api("GET", "/api/v1/streams/show", None).json();
    assert_eq!(view["ingest"]["protocol"], "rtmp");
    assert_eq!(view["ingest"]["video"]["width"], 1920);
    // Deleting the stream ends its publisher and its output.
    assert_eq!(
        server.api("DELETE", "/api/v1/streams/show", None).status,
        204
    );
    common::wait_exit(
        &mut publisher,
        "the publisher of a deleted stream",
        Duration::from_secs(10),
    );
    server.log.wait_for_line(
        &["stream deleted through the admin API"],
        Duration::from_secs(5),
    );
    assert_eq!(server.api("GET", "/api/v1/streams/show", None).status, 404);
    let saved = std::fs::read_to_string(server.config_path()).expect("config");
    assert!(!saved.contains("show"), "{saved}");
}

#[test]
fn a_kill_9_during_a_burst_of_writes_leaves_a_valid_config_with_every_acknowledged_change() {
    let server = Manifold::start("io_uring", STREAM);
    let port = server.admin_port;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..500 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("o{t}-{i}");
                    let body = format!("{{\"name\":\"{name}\",\"url\":\"rtmp://127.0.0.1:1/live/k\",\"enabled\":false}}");
                    let auth = format!("Bearer {ADMIN_TOKEN}");
                    let result = http::try_request(
                        port,
                        "POST",
                        "/api/v1/streams/main/outputs",
                        &[("Authorization", &auth)],
                        Some(&body),
                    );
                    match result {
                        Ok(response) if response.status == 201 => acknowledged.push(name),
                        Ok(response) => panic!("unexpected {}: {}", response.status, response.body),
                        Err(_) => break, // the server died mid-request
                    }
                }
                acknowledged
            })
        })
        .collect();
    // Let the burst run, then kill without warning.
    wait_for(
        "some writes to be persisted",
        Duration::from_secs(10),
        || {
            let saved = std::fs::read_to_string(server.config_path()).ok()?;
            (saved.matches("[[stream.push]]").count() >= 20).then_some(())
        },
    );
    common::signal(server.pid(), "KILL");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acknowledged: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().expect("writer thread"))
        .collect();
    let saved = checked_config(&server);
    for name in &acknowledged {
        assert!(
            saved.contains(&format!("name = \"{name}\"")),
            "{name} acknowledged but not saved"
        );
    }
    eprintln!(
        "{} writes acknowledged before the kill, all persisted",
        acknowledged.len()
    );
    assert!(acknowledged.len() >= 20);
}

#[test]
fn the_event_feed_reports_state_changes_and_bitrates() {
    let nginx = Nginx::start();
    let server = Manifold::start("io_uring", STREAM);
    let mut publisher = publish(&test_media(20), &server.rtmp_url("K"));
    let port = server.admin_port;
    let reader = std::thread::spawn(move || {
        http::read_events(
            port,
            "/api/v1/events",
            ADMIN_TOKEN,
            Duration::from_secs(20),
            |events| {
                let live = events.iter().any(|(kind, data)| {
                    kind == "output_state"
                        && data.contains("\"output\":\"e\"")
                        && data.contains("\"state\":\"live\"")
                });
                let bitrate = events.iter().any(|(kind, data)| {
                    kind == "bitrates"
                        && serde_json::from_str::<serde_json::Value>(data).unwrap()["outputs"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|o| o["output"] == "e" && o["bitrate_bps"].as_u64() > Some(0))
                });
                live && bitrate
            },
        )
    });
    // Give the reader a moment to subscribe; events before that are not replayed.
    std::thread::sleep(Duration::from_millis(300));
    let body = format!(
        "{{\"name\":\"e\",\"url\":\"{}\",\"key\":\"e\"}}",
        nginx.url()
    );
    assert_eq!(
        server
            .api("POST", "/api/v1/streams/main/outputs", Some(&body))
            .status,
        201
    );
    let events = reader.join().expect("event reader");
    let states: Vec<String> = events
        .iter()
        .filter(|(kind, data)| kind == "output_state" && data.contains("\"output\":\"e\""))
        .map(|(_, data)| {
            serde_json::from_str::<serde_json::Value>(data).unwrap()["state"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        states.ends_with(&["connecting".to_owned(), "live".to_owned()]),
        "{states:?}"
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
}

/// A TCP proxy in front of nginx-rtmp that forwards Manifold → nginx at most
/// `rate` bytes per second (0 = unlimited), with small socket buffers so the limit
/// reaches Manifold quickly.
struct Throttle {
    port: u16,
    rate: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Throttle {
    fn start(upstream: u16) -> Self {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(32 * 1024).expect("rcvbuf");
        socket
            .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind");
        socket.listen(8).expect("listen");
        let listener: std::net::TcpListener = socket.into();
        let port = listener.local_addr().expect("addr").port();
        let rate = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let shared = std::sync::Arc::clone(&rate);
        std::thread::spawn(move || {
            // Bounded: a test never needs more than a few connections.
            for client in listener.incoming().take(16).flatten() {
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                // nginx → Manifold: unthrottled.
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s2, &mut c2);
                });
                let rate = std::sync::Arc::clone(&shared);
                std::thread::spawn(move || throttled_copy(client, server, &rate));
            }
        });
        Self { port, rate }
    }

    fn url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/live", self.port)
    }

    fn limit(&self, bytes_per_second: u64) {
        self.rate
            .store(bytes_per_second, std::sync::atomic::Ordering::Relaxed);
    }
}

fn throttled_copy(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    rate: &std::sync::atomic::AtomicU64,
) {
    use std::io::{Read, Write};
    let mut buf = [0u8; 4096];
    let mut sent = 0u64;
    let mut limited_since: Option<(Instant, u64)> = None;
    loop {
        let limit = rate.load(std::sync::atomic::Ordering::Relaxed);
        if limit > 0 {
            let (since, base) = *limited_since.get_or_insert((Instant::now(), sent));
            let allowed = base + (since.elapsed().as_secs_f64() * limit as f64) as u64;
            if sent >= allowed {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
        } else {
            limited_since = None;
        }
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n as u64;
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

#[test]
fn an_output_under_80_percent_of_its_target_for_10_s_is_degraded() {
    let nginx = Nginx::start();
    let throttle = Throttle::start(nginx.port);
    let toml = format!(
        "{STREAM}  [[stream.push]]\n  name = \"slow\"\n  url = \"{}\"\n  key = \"slow\"\n",
        throttle.url()
    );
    let server = Manifold::start("io_uring", &toml);
    let mut publisher = publish(&test_media(40), &server.rtmp_url("K"));
    wait_state(&server, "slow", "live", Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(output(&server, "slow")["health"], "ok");
    // About a third of the source's 4.7 Mbit/s.
    throttle.limit(200_000);
    let limited = Instant::now();
    let view = wait_for("the output to be degraded", Duration::from_secs(30), || {
        let v = output(&server, "slow");
        (v["health"] == "degraded").then_some(v)
    });
    let after = limited.elapsed();
    eprintln!("degraded {after:?} after the limit: {view}");
    // Never before 10 s below target; the state stays live (bytes keep flowing).
    assert!(after >= Duration::from_secs(10), "{after:?}");
    assert_eq!(view["state"], "live");
    assert!(
        view["bitrate_bps"].as_f64() < Some(0.8 * view["target_bitrate_bps"].as_f64().unwrap())
    );
    let metrics = scrape(&server);
    assert_eq!(
        metric_sample(
            &metrics,
            "manifold_output_degraded{stream=\"main\",output=\"slow\"}"
        ),
        Some(1.0)
    );
    // Lifting the limit heals it.
    throttle.limit(0);
    wait_for(
        "the output to be healthy again",
        Duration::from_secs(20),
        || (output(&server, "slow")["health"] == "ok").then_some(()),
    );
    let _ = publisher.kill();
    let _ = publisher.wait();
}

#[test]
fn metrics_can_require_the_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let admin_port = common::free_port();
    let path = dir.path().join("m.toml");
    std::fs::write(
        &path,
        format!(
            "[rtmp]\nlisten = \"127.0.0.1:{}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n[admin]\nlisten = \"127.0.0.1:{admin_port}\"\ntoken = \"{ADMIN_TOKEN}\"\nmetrics_require_token = true\n",
            common::free_port(),
            common::free_port()
        ),
    )
    .expect("write config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_manifold"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start manifold");
    let response = wait_for("the admin port", Duration::from_secs(10), || {
        http::try_request(admin_port, "GET", "/metrics", &[], None).ok()
    });
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let with_token = http::request(
        admin_port,
        "GET",
        "/metrics",
        &[("Authorization", &auth)],
        None,
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(response.status, 401);
    assert_eq!(with_token.status, 200);
    assert!(
        with_token.body.contains("manifold_streams 0"),
        "{}",
        with_token.body
    );
}
