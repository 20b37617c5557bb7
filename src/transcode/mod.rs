//! Transcoding: each source is decoded once, on its own thread, and every rendition
//! (a `[[profile]]` applied to it) is scaled and encoded on a thread of its own —
//! never on an I/O core. A rendition is published as the ordinary stream
//! `SOURCE/PROFILE`, so RTMP push and play, SRT read and HLS/DASH treat it like any
//! stream. A rendition runs while something uses it (a push output with `profile`,
//! a stream's `ladder`, a viewer of `SOURCE/PROFILE`) and stops when nothing does.

mod cascade;
pub mod encoders;
mod ffi;
mod park;
mod pipeline;
pub mod profile;
mod rendition;
mod stats;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use encoders::EncoderReport;
pub use profile::{EncoderKind, Profile};
pub use stats::RenditionStats;

use crate::config::Config;
use crate::stream::{Registry, Stream};
use pipeline::Source;
use rendition::RenditionWorker;

/// Called with a rendition's stream each time it starts publishing (HLS/DASH
/// segmenting hooks in here).
pub type OnPublish = Arc<dyn Fn(&Arc<Stream>) + Send + Sync>;

/// The transcoder of the whole server.
pub struct Transcoding {
    profiles: HashMap<String, (Arc<Profile>, EncoderKind)>,
    registry: Arc<Registry>,
    on_publish: Mutex<OnPublish>,
    running: Mutex<HashMap<String, Running>>,
    /// What probing found at startup, for the banner and the API.
    pub report: EncoderReport,
}

impl std::fmt::Debug for Transcoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcoding")
            .field("profiles", &self.profiles.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One source being transcoded: its decode thread and its renditions in use.
struct Running {
    source: Arc<Source>,
    /// Per profile: the rendition and how many users hold it.
    renditions: HashMap<String, (Arc<RenditionWorker>, usize)>,
}

impl Running {
    /// Tells the decode thread which renditions to feed now.
    fn publish_renditions(&self) {
        let list = self
            .renditions
            .values()
            .map(|(w, _)| Arc::clone(w))
            .collect();
        self.source.set_renditions(list);
    }
}

/// Keeps one rendition running while held; dropping the last one stops it.
pub struct RenditionUse {
    owner: Arc<Transcoding>,
    source: String,
    profile: String,
    /// The stream the rendition publishes to (`SOURCE/PROFILE`).
    pub stream: Arc<Stream>,
}

impl std::fmt::Debug for RenditionUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RenditionUse({})", self.stream.name())
    }
}

impl Drop for RenditionUse {
    fn drop(&mut self) {
        self.owner.release(&self.source, &self.profile);
    }
}

/// The FFmpeg libraries transcoding runs on, for the banner.
pub fn ffmpeg_version() -> String {
    ffi::version()
}

/// The stream name of `profile` applied to `source`.
pub fn rendition_name(source: &str, profile: &str) -> String {
    format!("{source}/{profile}")
}

impl Transcoding {
    /// Resolves every profile and picks its encoder. An explicitly named encoder
    /// that cannot open here is an error naming the profile and the reason; `auto`
    /// takes the first that opens and says which and why.
    pub fn new(config: &Config, registry: Arc<Registry>) -> Result<Arc<Self>, String> {
        let mut profiles = HashMap::new();
        let mut report = EncoderReport::default();
        for profile_config in &config.profiles {
            let profile = Profile::resolve(profile_config, config.hls.segment_seconds).map_err(
                |(key, message)| format!("profile {:?} {key}: {message}", profile_config.name),
            )?;
            let kind = report.choose(&profile)?;
            profiles.insert(profile.name.clone(), (Arc::new(profile), kind));
        }
        Ok(Arc::new(Self {
            profiles,
            registry,
            on_publish: Mutex::new(Arc::new(|_: &Arc<Stream>| {})),
            running: Mutex::new(HashMap::new()),
            report,
        }))
    }

    pub fn set_on_publish(&self, hook: OnPublish) {
        *self.on_publish.lock().unwrap_or_else(|e| e.into_inner()) = hook;
    }

    /// A profile's video plus audio target, in bits per second (what its HLS
    /// variant announces before anything was measured).
    pub fn nominal_bandwidth(&self, name: &str) -> Option<u64> {
        let (profile, _) = self.profiles.get(name)?;
        let audio = match profile.audio {
            profile::AudioMode::Aac { bitrate } | profile::AudioMode::Opus { bitrate } => bitrate,
            profile::AudioMode::Passthrough => 128_000,
        };
        Some(profile.video_bitrate + audio)
    }

    pub fn has_profile(&self, name: &str) -> bool {
        self.profiles.contains_key(name)
    }

    /// The encoder each profile uses, by profile name.
    pub fn encoders(&self) -> Vec<(String, &'static str)> {
        let mut list: Vec<_> = self
            .profiles
            .iter()
            .map(|(name, (_, kind))| (name.clone(), kind.name()))
            .collect();
        list.sort();
        list
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Uses `profile` of `source`, starting it if nothing used it yet.
    pub fn acquire(self: &Arc<Self>, source: &str, profile: &str) -> Result<RenditionUse, String> {
        if source.contains('/') {
            // A rendition of a rendition would decode an encode: every player could
            // chain more threads (`main/720p/720p/...`).
            return Err(format!(
                "{source:?} is a rendition; transcode its source instead"
            ));
        }
        let (resolved, kind) = self
            .profiles
            .get(profile)
            .cloned()
            .ok_or_else(|| format!("no [[profile]] named {profile:?}"))?;
        let mut running = self.running();
        if !running.contains_key(source) {
            let source_thread = Source::start(source, Arc::clone(&self.registry))?;
            running.insert(
                source.to_owned(),
                Running {
                    source: source_thread,
                    renditions: HashMap::new(),
                },
            );
        }
        let entry = running.get_mut(source).ok_or("transcoder entry vanished")?;
        let stream = match entry.renditions.get_mut(profile) {
            Some((worker, users)) => {
                *users += 1;
                Arc::clone(&worker.stream)
            }
            None => {
                // Looked up under the lock: a release of the same rendition either
                // happened before (and forgot the old stream) or waits for this.
                let stream = self.registry.rendition(&rendition_name(source, profile));
                let hook = Arc::clone(&self.on_publish.lock().unwrap_or_else(|e| e.into_inner()));
                let started = RenditionWorker::start(
                    resolved,
                    kind,
                    Arc::clone(&stream),
                    Arc::clone(&self.registry),
                    hook,
                );
                let worker = match started {
                    Ok(worker) => worker,
                    Err(e) => {
                        if entry.renditions.is_empty() {
                            entry.source.shutdown();
                            running.remove(source);
                        }
                        return Err(e);
                    }
                };
                entry.renditions.insert(profile.to_owned(), (worker, 1));
                entry.publish_renditions();
                tracing::info!(source, profile, encoder = kind.name(), "rendition in use");
                stream
            }
        };
        Ok(RenditionUse {
            owner: Arc::clone(self),
            source: source.to_owned(),
            profile: profile.to_owned(),
            stream,
        })
    }

    fn release(&self, source: &str, profile: &str) {
        let worker = {
            let mut running = self.running();
            let Some(entry) = running.get_mut(source) else {
                return;
            };
            let Some((_, users)) = entry.renditions.get_mut(profile) else {
                return;
            };
            *users -= 1;
            if *users > 0 {
                return;
            }
            let Some((worker, _)) = entry.renditions.remove(profile) else {
                return;
            };
            // Forgotten now, under the lock, not when its thread ends: a new user
            // arriving meanwhile gets a fresh stream instead of this one.
            self.registry.forget_rendition(&worker.stream);
            entry.publish_renditions();
            if entry.renditions.is_empty() {
                entry.source.shutdown();
                running.remove(source);
            }
            worker
        };
        worker.stop();
        tracing::info!(source, profile, "rendition no longer used; stopping it");
    }

    /// Counters of every running rendition.
    pub fn stats(&self) -> Vec<(Arc<RenditionStats>, u64)> {
        let running = self.running();
        let mut list = Vec::new();
        for entry in running.values() {
            let decoder_dropped = entry.source.dropped_frames();
            for (worker, _) in entry.renditions.values() {
                list.push((Arc::clone(&worker.stats), decoder_dropped));
            }
        }
        list
    }

    /// Threads running now: one decoder per source plus one per rendition.
    pub fn thread_count(&self) -> usize {
        self.running()
            .values()
            .map(|r| 1 + r.renditions.len())
            .sum()
    }
}
