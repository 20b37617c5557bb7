//! Which key publishes to which stream, and the streams that exist.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::stream::{Origin, PublisherGuard, Stream};
use crate::config::{Config, valid_name};
use crate::secret::constant_time_eq;

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

/// Why a stream could not be created at runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("a stream named {0:?} already exists")]
    DuplicateName(String),
    #[error("another stream already uses this publish key")]
    DuplicateKey,
}

#[derive(Debug)]
struct Declared {
    name: String,
    key: String,
    /// SRT encryption passphrase for publishing and reading this stream.
    passphrase: Option<String>,
}

/// All streams, by public name. Touched on publish, play and subscribe, never per frame.
#[derive(Debug)]
pub struct Registry {
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    declared: Mutex<Vec<Declared>>,
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
                passphrase: s.passphrase.clone(),
            })
            .collect();
        let streams = declared
            .iter()
            .map(|d| (d.name.clone(), Stream::new(&d.name)))
            .collect();
        Arc::new(Self {
            streams: Mutex::new(streams),
            declared: Mutex::new(declared),
            allow_undeclared: config.ingest.allow_undeclared,
            next_publisher: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
        })
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Stream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn declared_list(&self) -> std::sync::MutexGuard<'_, Vec<Declared>> {
        self.declared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every stream that exists now (declared, or published undeclared), by name.
    pub fn list(&self) -> Vec<Arc<Stream>> {
        let mut list: Vec<_> = self.streams().values().cloned().collect();
        list.sort_by(|a, b| a.name().cmp(b.name()));
        list
    }

    pub fn is_declared(&self, name: &str) -> bool {
        self.declared_list().iter().any(|d| d.name == name)
    }

    /// Declares a stream at runtime (admin API).
    pub fn create(&self, name: &str, key: &str) -> Result<Arc<Stream>, RegistryError> {
        let mut declared = self.declared_list();
        if declared.iter().any(|d| d.name == name) {
            return Err(RegistryError::DuplicateName(name.to_owned()));
        }
        if declared.iter().any(|d| d.key == key) {
            return Err(RegistryError::DuplicateKey);
        }
        declared.push(Declared {
            name: name.to_owned(),
            key: key.to_owned(),
            passphrase: None,
        });
        drop(declared);
        Ok(Arc::clone(
            self.streams()
                .entry(name.to_owned())
                .or_insert_with(|| Stream::new(name)),
        ))
    }

    /// Forgets a declared stream; its publisher and subscribers are ended.
    pub fn delete(&self, name: &str) -> bool {
        let mut declared = self.declared_list();
        let Some(index) = declared.iter().position(|d| d.name == name) else {
            return false;
        };
        declared.remove(index);
        drop(declared);
        if let Some(stream) = self.streams().remove(name) {
            stream.delete();
        }
        true
    }

    /// Authorises a publish of `key` in `app` and claims the stream.
    pub fn publish(
        &self,
        app: &str,
        key: &str,
        origin: Origin,
    ) -> Result<PublisherGuard, PublishError> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(PublishError::ShuttingDown);
        }
        if app != APP {
            return Err(PublishError::UnknownApp(app.to_owned()));
        }
        // Encoders may append `?query` parameters to the key.
        let key = key.split('?').next().unwrap_or_default();
        let found = self
            .declared_list()
            .iter()
            .find(|d| constant_time_eq(&d.key, key))
            .map(|d| d.name.clone());
        let name = match found {
            Some(name) => name,
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
            .try_publish(id, origin)
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

    /// The stream a transcoder publishes a rendition to (`main/720p`), created on
    /// first use. Rendition names contain a `/`, which no publish key can claim.
    pub fn rendition(&self, name: &str) -> Arc<Stream> {
        Arc::clone(
            self.streams()
                .entry(name.to_owned())
                .or_insert_with(|| Stream::new(name)),
        )
    }

    /// Claims a rendition stream for its transcoder (no key: it is internal).
    pub fn publish_rendition(&self, stream: &Arc<Stream>) -> Option<PublisherGuard> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return None;
        }
        let id = self.next_publisher.fetch_add(1, Ordering::Relaxed);
        let origin = Origin::new(
            "transcoder",
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        );
        stream.try_publish(id, origin)
    }

    /// A rendition nobody uses any more: its subscribers end and it is forgotten.
    pub fn forget_rendition(&self, stream: &Arc<Stream>) {
        let mut streams = self.streams();
        if streams
            .get(stream.name())
            .is_some_and(|s| Arc::ptr_eq(s, stream))
        {
            streams.remove(stream.name());
        }
        drop(streams);
        stream.shutdown();
    }

    /// The SRT passphrase of the stream that `key` publishes to.
    pub fn passphrase_for_key(&self, key: &str) -> Option<String> {
        self.declared_list()
            .iter()
            .find(|d| constant_time_eq(&d.key, key))
            .and_then(|d| d.passphrase.clone())
    }

    /// The SRT passphrase of the stream named `name`.
    pub fn passphrase_for_name(&self, name: &str) -> Option<String> {
        self.declared_list()
            .iter()
            .find(|d| d.name == name)
            .and_then(|d| d.passphrase.clone())
    }

    /// A declared stream, for the outputs configured on it.
    pub fn declared(&self, name: &str) -> Option<Arc<Stream>> {
        self.streams().get(name).cloned()
    }

    /// After the grace period: ends the stream if its publisher did not return,
    /// and forgets it if it was not declared.
    pub fn expire(&self, stream: &Arc<Stream>, generation: u64) {
        if stream.expire(generation) && !self.is_declared(stream.name()) {
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
