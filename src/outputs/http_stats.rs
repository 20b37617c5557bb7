//! Requests and bytes served by the public HTTP server, by kind. Each I/O thread
//! counts into its own counters (one writer each, no contention); a scrape adds
//! them up.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Playlist,
    Mpd,
    Init,
    Segment,
    Part,
    Player,
    Other,
}

impl Kind {
    pub const ALL: [Self; 7] = [
        Self::Playlist,
        Self::Mpd,
        Self::Init,
        Self::Segment,
        Self::Part,
        Self::Player,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Playlist => "playlist",
            Self::Mpd => "mpd",
            Self::Init => "init",
            Self::Segment => "segment",
            Self::Part => "part",
            Self::Player => "player",
            Self::Other => "other",
        }
    }

    /// What a request path asks for.
    pub fn of(path: &str) -> Self {
        let file = path.rsplit('/').next().unwrap_or_default();
        if file.ends_with(".m3u8") {
            Self::Playlist
        } else if file.ends_with(".mpd") {
            Self::Mpd
        } else if file.starts_with("init-") {
            Self::Init
        } else if file.starts_with("seg-") {
            Self::Segment
        } else if file.starts_with("part-") {
            Self::Part
        } else if path.starts_with("/player/") || path.starts_with("/live/") {
            Self::Player
        } else {
            Self::Other
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: [AtomicU64; 7],
    bytes: [AtomicU64; 7],
}

/// Every thread's counters, registered on its first request.
static THREADS: Mutex<Vec<Arc<Counters>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: RefCell<Option<Arc<Counters>>> = const { RefCell::new(None) };
}

/// Counts one response of `bytes` body bytes on the calling thread.
pub fn record(kind: Kind, bytes: u64) {
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        let counters = local.get_or_insert_with(|| {
            let counters = Arc::new(Counters::default());
            THREADS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Arc::clone(&counters));
            counters
        });
        let i = kind.index();
        if let (Some(requests), Some(total)) = (counters.requests.get(i), counters.bytes.get(i)) {
            requests.fetch_add(1, Ordering::Relaxed);
            total.fetch_add(bytes, Ordering::Relaxed);
        }
    });
}

/// (kind, requests, bytes) over all threads.
pub fn totals() -> Vec<(Kind, u64, u64)> {
    let threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    Kind::ALL
        .iter()
        .map(|kind| {
            let i = kind.index();
            let sum = |pick: fn(&Counters) -> &[AtomicU64; 7]| {
                threads
                    .iter()
                    .filter_map(|c| pick(c).get(i))
                    .map(|v| v.load(Ordering::Relaxed))
                    .sum::<u64>()
            };
            (*kind, sum(|c| &c.requests), sum(|c| &c.bytes))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_classified_and_counts_merge_across_threads() {
        assert_eq!(Kind::of("/live/a/index.m3u8"), Kind::Playlist);
        assert_eq!(Kind::of("/live/a/source/seg-v-1-2.m4s"), Kind::Segment);
        assert_eq!(Kind::of("/live/a/source/seg-t-1-2.ts"), Kind::Segment);
        assert_eq!(Kind::of("/live/a/source/part-v-1-2-0.m4s"), Kind::Part);
        assert_eq!(Kind::of("/live/a/source/init-v-1-1.mp4"), Kind::Init);
        assert_eq!(Kind::of("/live/a/manifest.mpd"), Kind::Mpd);
        assert_eq!(Kind::of("/player/hls.min.js"), Kind::Player);
        let before = totals();
        let threads: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(|| record(Kind::Part, 100)))
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let after = totals();
        let part = |t: &[(Kind, u64, u64)]| {
            t.iter()
                .find(|(k, _, _)| *k == Kind::Part)
                .map(|(_, r, b)| (*r, *b))
                .unwrap()
        };
        let (r0, b0) = part(&before);
        let (r1, b1) = part(&after);
        assert!(r1 >= r0 + 3 && b1 >= b0 + 300);
    }
}
