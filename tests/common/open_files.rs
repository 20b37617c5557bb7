//! How many sockets a test may open: the idle-connection tests (RTMP handshakes,
//! HTTP keep-alive) need thousands, more than a runner's common 1024 default.

/// The soft and hard RLIMIT_NOFILE of this process, from /proc/self/limits.
pub fn open_files_limit() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("read /proc/self/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files in /proc/self/limits");
    let mut fields = line["Max open files".len()..].split_whitespace();
    let mut parse = || match fields.next() {
        Some("unlimited") => u64::MAX,
        Some(v) => v.parse().expect("a number"),
        None => panic!("malformed {line:?}"),
    };
    (parse(), parse())
}

/// How many idle connections a test can open: `wanted`, after raising this
/// process's soft RLIMIT_NOFILE with prlimit(1) when the runner's is lower (the
/// servers started afterwards inherit the raised limit). Only when the hard limit
/// is too low and cannot be raised either does it fall back to fewer connections,
/// as a last resort, and say so on stderr; below `wanted / 2` the test fails.
pub fn idle_connection_count(wanted: usize) -> usize {
    // Client sockets, plus the harness's pipes and the other tests' processes.
    let needed = wanted as u64 + 500;
    let (soft, hard) = open_files_limit();
    if soft >= needed {
        return wanted;
    }
    let target = needed.max(4096);
    let raised = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={}:", target.min(hard)))
        .status()
        .is_ok_and(|s| s.success());
    let (soft, hard) = open_files_limit();
    if raised && soft >= needed {
        return wanted;
    }
    let fallback = usize::try_from(soft.saturating_sub(250)).unwrap_or(wanted);
    eprintln!(
        "NOTE: open-files limit {soft} (hard {hard}) cannot be raised to {needed}: \
         testing {fallback} idle connections instead of {wanted}; run with `ulimit -n {needed}` for the full case"
    );
    assert!(
        fallback >= wanted / 2,
        "open-files limit {soft} is too low for this test: run it with `ulimit -n {needed}`"
    );
    fallback
}
