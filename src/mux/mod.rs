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
    config: SegmenterConfig,
    window: usize,
    /// `hls.directory`, when set.
    disk: Option<Arc<disk::DiskWriter>>,
}

impl Segmenting {
    pub fn new(hls: &HlsConfig) -> Result<Arc<Self>, String> {
        let segment_ms = (hls.segment_seconds * 1000.0).round() as i64;
        let disk = match &hls.directory {
            Some(dir) => Some(
                disk::DiskWriter::start(dir.clone())
                    .map_err(|e| format!("hls.directory {}: {e}", dir.display()))?,
            ),
            None => None,
        };
        Ok(Arc::new(Self {
            renditions: Mutex::new(HashMap::new()),
            config: SegmenterConfig {
                segment_ms: segment_ms.max(500),
                // Parts of a sixth of a segment (1/3 s for 2 s segments), within
                // 0.2-0.5 s (LL-HLS): PART-HOLD-BACK is three parts, so this
                // sets how far behind live a low-latency player sits.
                part_ms: hls.low_latency.then(|| (segment_ms / 6).clamp(200, 500)),
            },
            window: hls.window as usize,
            disk,
        }))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Rendition>>> {
        self.renditions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts segmenting `stream` on the calling worker unless that runs already.
    pub fn ensure(self: &Arc<Self>, stream: &Arc<Stream>, queue: QueueLimits) {
        let rendition = {
            let mut map = self.map();
            if map.contains_key(stream.name()) {
                return;
            }
            let rendition = Rendition::new(stream.name(), SOURCE, self.config, self.window);
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

    pub fn find(&self, stream: &str) -> Option<Arc<Rendition>> {
        self.map().get(stream).cloned()
    }

    pub fn list(&self) -> Vec<Arc<Rendition>> {
        self.map().values().cloned().collect()
    }

    fn forget(&self, rendition: &Arc<Rendition>) {
        let mut map = self.map();
        if map
            .get(&rendition.stream)
            .is_some_and(|r| Arc::ptr_eq(r, rendition))
        {
            map.remove(&rendition.stream);
        }
    }
}
