//! Segmenting policy: every live stream is cut into CMAF segments and parts once
//! per rendition; HLS (fMP4 and LL-HLS), DASH and the MPEG-TS variant are all
//! served from that one set.

pub mod disk;
pub mod manifests;
pub mod rendition;
pub mod segmenter;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use rendition::{Rendition, RenditionStats};
pub use segmenter::{MuxEvent, Segmenter, SegmenterConfig};
pub use task::unix_ms;

use crate::config::HlsConfig;
use crate::stream::{QueueLimits, Stream};

/// The source rendition's name (the transcoder adds others).
pub const SOURCE: &str = "source";

/// Every stream's renditions being segmented now.
#[derive(Debug)]
pub struct Segmenting {
    renditions: Mutex<HashMap<String, Arc<Rendition>>>,
    /// `hls.enabled`.
    enabled: bool,
    config: SegmenterConfig,
    window: usize,
    /// `hls.directory`, when set.
    disk: Option<Arc<disk::DiskWriter>>,
    /// Each stream's `ladder`: the renditions its multivariant playlist and MPD
    /// list, in order (a stream without one lists its source alone).
    ladders: Mutex<HashMap<String, Vec<String>>>,
    /// Announced bitrates of transcoded renditions, by stream name (`main/720p`).
    nominal: Mutex<HashMap<String, u64>>,
}

impl Segmenting {
    pub fn new(hls: &HlsConfig) -> Result<Arc<Self>, String> {
        let segment_ms = (hls.segment_seconds * 1000.0).round() as i64;
        let disk = match &hls.directory {
            Some(dir) if hls.enabled => Some(
                disk::DiskWriter::start(dir.clone())
                    .map_err(|e| format!("hls.directory {}: {e}", dir.display()))?,
            ),
            _ => None,
        };
        Ok(Arc::new(Self {
            renditions: Mutex::new(HashMap::new()),
            enabled: hls.enabled,
            config: SegmenterConfig {
                segment_ms: segment_ms.max(500),
                // Parts of a sixth of a segment (1/3 s for 2 s segments), within
                // 0.2-0.5 s (LL-HLS): PART-HOLD-BACK is three parts, so this
                // sets how far behind live a low-latency player sits.
                part_ms: hls.low_latency.then(|| (segment_ms / 6).clamp(200, 500)),
            },
            window: hls.window as usize,
            disk,
            ladders: Mutex::new(HashMap::new()),
            nominal: Mutex::new(HashMap::new()),
        }))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Rendition>>> {
        self.renditions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the renditions `stream`'s multivariant playlist and MPD list.
    pub fn set_ladder(&self, stream: &str, ladder: Vec<String>) {
        self.ladders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(stream.to_owned(), ladder);
    }

    /// The bitrate to announce for the rendition stream `name` until measured.
    pub fn set_nominal_bandwidth(&self, name: &str, bits_per_second: u64) {
        self.nominal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), bits_per_second);
    }

    /// The renditions of `stream` to list, in ladder order, that exist now.
    pub fn ladder(&self, stream: &str) -> Vec<Arc<Rendition>> {
        let names = self
            .ladders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(stream)
            .cloned()
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| vec![SOURCE.to_owned()]);
        let map = self.map();
        names
            .iter()
            .filter_map(|name| map.get(&key(stream, name)).cloned())
            .collect()
    }

    /// Starts segmenting `stream` on the calling worker unless that runs already.
    /// A transcoded rendition's stream (`SOURCE/PROFILE`) becomes rendition
    /// `PROFILE` of its source, served under `/live/SOURCE/PROFILE/`.
    pub fn ensure(self: &Arc<Self>, stream: &Arc<Stream>, queue: QueueLimits) {
        if !self.enabled {
            return;
        }
        let rendition = {
            let mut map = self.map();
            if map.contains_key(stream.name()) {
                return;
            }
            let (source, name) = stream
                .name()
                .split_once('/')
                .unwrap_or((stream.name(), SOURCE));
            let nominal = self
                .nominal
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(stream.name())
                .copied();
            let rendition = Rendition::new(source, name, self.config, self.window, nominal);
            map.insert(stream.name().to_owned(), Arc::clone(&rendition));
            rendition
        };
        let task = task::run(
            Arc::clone(stream),
            rendition,
            queue,
            Arc::clone(self),
            self.disk.clone(),
        );
        compio::runtime::spawn(task).detach();
    }

    /// The source rendition of `stream` (or, for `SOURCE/PROFILE`, that rendition).
    pub fn find(&self, stream: &str) -> Option<Arc<Rendition>> {
        self.map().get(stream).cloned()
    }

    /// Rendition `name` of `stream`.
    pub fn find_rendition(&self, stream: &str, name: &str) -> Option<Arc<Rendition>> {
        self.map().get(&key(stream, name)).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Rendition>> {
        self.map().values().cloned().collect()
    }

    fn forget(&self, rendition: &Arc<Rendition>) {
        let mut map = self.map();
        let key = rendition.key();
        if map.get(&key).is_some_and(|r| Arc::ptr_eq(r, rendition)) {
            map.remove(&key);
        }
    }
}

/// The segmenting key of rendition `name` of `stream`.
fn key(stream: &str, name: &str) -> String {
    if name == SOURCE {
        stream.to_owned()
    } else {
        format!("{stream}/{name}")
    }
}
