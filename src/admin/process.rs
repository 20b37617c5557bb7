//! Process figures, read from /proc: CPU time, resident memory, open file
//! descriptors, threads. `/metrics` reads its own; the benchmark tools read the
//! servers they measure.

use std::path::Path;

/// Linux reports CPU times in clock ticks; USER_HZ is 100 on every architecture
/// Linux supports (it is fixed by the kernel ABI, unlike the kernel's HZ).
const USER_HZ: f64 = 100.0;

#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub threads: u64,
}

/// This process.
pub fn read() -> ProcessStats {
    read_at(Path::new("/proc/self"))
}

/// Another process (zeros for one that is gone).
pub fn of(pid: u32) -> ProcessStats {
    read_at(&Path::new("/proc").join(pid.to_string()))
}

fn read_at(dir: &Path) -> ProcessStats {
    let mut stats = ProcessStats::default();
    if let Ok(stat) = std::fs::read_to_string(dir.join("stat")) {
        // Fields after the command name, which is in parentheses and may hold spaces.
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line (1-based),
            // i.e. 11 and 12 counting from the state field (field 3) at index 0.
            let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
                stats.cpu_seconds = (user + system) / USER_HZ;
            }
            stats.threads = fields.get(17).and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    if let Ok(status) = std::fs::read_to_string(dir.join("status")) {
        stats.resident_bytes = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024);
    }
    if let Ok(fds) = std::fs::read_dir(dir.join("fd")) {
        stats.open_fds = fds.count() as u64;
    }
    stats
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let stats = super::read();
        assert!(stats.resident_bytes > 1024 * 1024, "{stats:?}");
        assert!(stats.open_fds >= 3, "{stats:?}");
        assert!(stats.threads >= 1, "{stats:?}");
        // Burn CPU until the kernel has counted a tick of it (10 ms; a fixed amount
        // of work can finish inside one), so the figure cannot be a constant zero.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut x = 0u64;
        while super::read().cpu_seconds == 0.0 && std::time::Instant::now() < deadline {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(
            super::read().cpu_seconds > 0.0,
            "no CPU time counted in 5 s of work"
        );
    }
}
