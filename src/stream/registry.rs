//! Which key publishes to which stream, and the streams that exist.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::stream::{PublisherGuard, Stream};
use crate::config::{Config, valid_name};

/// The RTMP application every publish and play URL uses: `rtmp://HOST/live/KEY`.
pub const APP: &str = "live";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("application {0:?} is not served (use /{APP}/)")]
    UnknownApp(String),
    #[error("unknown publish key")]
    UnknownKey,
    #[error("stream {0:?} already has a publisher")]
    AlreadyPublishing(String),
    #[error("invalid stream name {0:?}: use letters, digits, '-', '_' and '.'")]
    InvalidName(String),
    #[error("server is shutting down")]
    ShuttingDown,
}

#[derive(Debug)]
struct Declared {
    name: String,
    key: String,
}

/// All streams, by public name. Touched on publish, play and subscribe, never per frame.
#[derive(Debug)]
pub struct Registry {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    declared: Vec<Declared>,
    allow_undeclared: bool,
    next_publisher: AtomicU64,
    shutting_down: AtomicBool,
}

impl Registry {
    pub fn new(config: &Config) -> Arc<Self> {
        let declared: Vec<Declared> = config
            .streams
            .iter()
            .map(|s| Declared {
                name: s.name.clone(),
                key: s.key.clone(),
            })
            .collect();
        let streams = declared
            .iter()
            .map(|d| (d.name.clone(), Stream::new(&d.name)))
            .collect();
        Arc::new(Self {
            streams: Mutex::new(streams),
            declared,
            allow_undeclared: config.ingest.allow_undeclared,
            next_publisher: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
        })
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Stream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Authorises a publish of `key` in `app` and claims the stream.
    pub fn publish(&self, app: &str, key: &str) -> Result<PublisherGuard, PublishError> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(PublishError::ShuttingDown);
        }
        if app != APP {
            return Err(PublishError::UnknownApp(app.to_owned()));
        }
        // Encoders may append `?query` parameters to the key.
        let key = key.split('?').next().unwrap_or_default();
        let name = match self.declared.iter().find(|d| constant_time_eq(&d.key, key)) {
            Some(declared) => declared.name.clone(),
            None if self.allow_undeclared => {
                if !valid_name(key) {
                    return Err(PublishError::InvalidName(key.to_owned()));
                }
                key.to_owned()
            }
            None => return Err(PublishError::UnknownKey),
        };
        let stream = Arc::clone(
            self.streams()
                .entry(name.clone())
                .or_insert_with(|| Stream::new(&name)),
        );
        let id = self.next_publisher.fetch_add(1, Ordering::Relaxed);
        stream
            .try_publish(id)
            .ok_or(PublishError::AlreadyPublishing(name))
    }

    /// The stream a player asks for by public name.
    pub fn find(&self, app: &str, name: &str) -> Option<Arc<Stream>> {
        if app != APP {
            return None;
        }
        let name = name.split('?').next().unwrap_or_default();
        self.streams().get(name).cloned()
    }

    /// A declared stream, for the outputs configured on it.
    pub fn declared(&self, name: &str) -> Option<Arc<Stream>> {
        self.streams().get(name).cloned()
    }

    /// After the grace period: ends the stream if its publisher did not return,
    /// and forgets it if it was not declared.
    pub fn expire(&self, stream: &Arc<Stream>, generation: u64) {
        if stream.expire(generation) && !self.declared.iter().any(|d| d.name == stream.name()) {
            let mut streams = self.streams();
            if streams
                .get(stream.name())
                .is_some_and(|s| Arc::ptr_eq(s, stream))
                && !stream.is_live()
            {
                streams.remove(stream.name());
            }
        }
    }

    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        for stream in self.streams().values() {
            stream.shutdown();
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}

/// Compares secrets without an early exit, so timing does not reveal a prefix.
fn constant_time_eq(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.bytes()
        .zip(b.bytes())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
