//! What a server with nothing to do costs: its I/O cores sleep, and the libraries it
//! only needs for one rare path (libavfilter, for GPU scaling) are not loaded.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ENGINES, Manifold};

/// Context switches of each I/O worker thread of `pid`, by thread name.
fn worker_wakeups(pid: u32) -> HashMap<String, u64> {
    let mut wakeups = HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("list threads") {
        let path = task.expect("thread entry").path();
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        let name = name.trim().to_owned();
        if !name.starts_with("manifold-io-") {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(path.join("status")) else {
            continue;
        };
        let switches: u64 = status
            .lines()
            .filter_map(|l| {
                l.strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
            })
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .sum();
        wakeups.insert(name, switches);
    }
    wakeups
}

#[test]
fn idle_io_cores_sleep() {
    // With every listener open (RTMP, SRT, HTTP, admin) and no connection, a worker
    // has nothing to wake for. The SRT timers used to tick every 10 ms regardless:
    // 100 wake-ups a second per core, about 1.5% of a core doing nothing.
    for engine in ENGINES {
        let server = Manifold::start(engine, "");
        // Let start-up settle (the first board reports, listener set-up).
        std::thread::sleep(Duration::from_millis(500));
        let before = worker_wakeups(server.pid());
        assert_eq!(before.len(), 2, "{engine}: two I/O workers: {before:?}");
        std::thread::sleep(Duration::from_secs(3));
        let after = worker_wakeups(server.pid());
        for (name, count) in &after {
            let woke = count - before[name];
            // Ticking every 10 ms would be ~300 here; allow a few housekeeping wakes.
            assert!(
                woke <= 15,
                "{engine}: {name} woke {woke} times in 3 s with nothing to do"
            );
        }
    }
}

#[test]
fn libavfilter_is_not_loaded_until_a_gpu_scaler_needs_it() {
    // libavfilter brings ~30 more libraries (speech synthesis voices, LAPACK,
    // Vulkan...) whose relocations cost resident memory in every process that
    // maps them; only NVENC renditions that scale on the GPU use it. A server with
    // a profile probes NVENC first (`auto`); without a GPU that must fail on the
    // CUDA device before anything asks libavfilter for scale_cuda.
    let profile = "[[profile]]\nname = \"720p\"\nheight = 720\nvideo_bitrate = \"2500k\"\n";
    for (what, config) in [("relay-only", ""), ("transcoding", profile)] {
        let server = Manifold::start("epoll", config);
        if !config.is_empty() {
            server
                .log
                .wait_for_line(&["auto chose x264"], Duration::from_secs(10));
        }
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", server.pid())).expect("maps");
        assert!(
            maps.contains("libavcodec"),
            "libavcodec is linked, so the check below means something"
        );
        assert!(
            !maps.contains("libavfilter"),
            "a {what} server without a GPU has libavfilter mapped"
        );
    }
}
