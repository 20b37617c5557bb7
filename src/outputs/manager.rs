//! Every push output of the server, and the operator's runtime control over them:
//! add, remove, enable, disable and restart one output without touching the others.

use std::sync::{Arc, Mutex};

use super::control::{Command, OutputControl};
use super::rtmp_push::PushOutput;
use super::{OutputState, OutputStats, PushTarget};
use crate::config::PushConfig;
use crate::engine::{self, Spawner};
use crate::events::EventBus;
use crate::server::ServerContext;

/// One configured push output.
#[derive(Debug)]
pub struct OutputEntry {
    pub stream: String,
    /// As configured, key included: never serialise it to a client or a log.
    pub config: PushConfig,
    pub target: PushTarget,
    pub stats: Arc<OutputStats>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The control of the task currently running this output.
    control: Mutex<Arc<OutputControl>>,
}

/// Why an output could not be added; names the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputError {
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug)]
pub struct OutputManager {
    entries: Mutex<Vec<Arc<OutputEntry>>>,
    spawner: Arc<Spawner>,
    events: Arc<EventBus>,
}

impl OutputManager {
    pub fn new(spawner: Arc<Spawner>, events: Arc<EventBus>) -> Self {
        Self {
            entries: Mutex::new(Vec::new()),
            spawner,
            events,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Arc<OutputEntry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn list(&self) -> Vec<Arc<OutputEntry>> {
        self.entries().clone()
    }

    pub fn find(&self, stream: &str, name: &str) -> Option<Arc<OutputEntry>> {
        self.entries()
            .iter()
            .find(|e| e.stream == stream && e.stats.name == name)
            .cloned()
    }

    /// Checks a push config without starting anything: the URL parses and an
    /// `rtmps://` destination's CA file loads.
    pub fn prepare(
        config: &PushConfig,
    ) -> Result<(PushTarget, Option<Arc<rustls::ClientConfig>>), OutputError> {
        let target =
            PushTarget::parse(&config.url, config.key.as_deref()).map_err(|e| OutputError {
                field: "url",
                message: e.to_string(),
            })?;
        let tls = if target.tls {
            Some(
                engine::client_config(config.ca_file.as_deref()).map_err(|e| OutputError {
                    field: "ca_file",
                    message: e.to_string(),
                })?,
            )
        } else {
            None
        };
        Ok((target, tls))
    }

    /// Adds an output and, when enabled and its stream exists, starts it on a worker.
    pub fn add(
        &self,
        ctx: &Arc<ServerContext>,
        stream: &str,
        config: PushConfig,
    ) -> Result<Arc<OutputEntry>, OutputError> {
        let (target, tls) = Self::prepare(&config)?;
        let mut entries = self.entries();
        if entries
            .iter()
            .any(|e| e.stream == stream && e.stats.name == config.name)
        {
            return Err(OutputError {
                field: "name",
                message: format!(
                    "stream {stream:?} already has an output named {:?}",
                    config.name
                ),
            });
        }
        let state = if config.enabled {
            OutputState::Idle
        } else {
            OutputState::Disabled
        };
        let entry = Arc::new(OutputEntry {
            stream: stream.to_owned(),
            stats: Arc::new(OutputStats::new(
                stream,
                &config.name,
                state,
                Arc::clone(&self.events),
            )),
            config,
            target,
            tls,
            control: Mutex::new(Arc::default()),
        });
        entries.push(Arc::clone(&entry));
        drop(entries);
        if entry.config.enabled {
            self.start(ctx, &entry);
        }
        Ok(entry)
    }

    /// Starts a new task for `entry`; any previous task loses the stats.
    fn start(&self, ctx: &Arc<ServerContext>, entry: &Arc<OutputEntry>) {
        let Some(source) = ctx.registry.declared(&entry.stream) else {
            tracing::warn!(stream = %entry.stream, output = %entry.stats.name, "output not started: no such stream");
            return;
        };
        // An output with a profile pushes that rendition, kept running while the
        // output is; every output of one profile shares one encode.
        let (stream, rendition) = match &entry.config.profile {
            None => (source, None),
            Some(profile) => match ctx.transcoding.acquire(&entry.stream, profile) {
                Ok(rendition) => (Arc::clone(&rendition.stream), Some(rendition)),
                Err(e) => {
                    tracing::warn!(stream = %entry.stream, output = %entry.stats.name, error = %e, "output not started: its profile cannot run");
                    entry.stats.set_error(e);
                    return;
                }
            },
        };
        let generation = entry.stats.take_over(OutputState::Idle);
        let control = Arc::new(OutputControl::default());
        let previous = std::mem::replace(
            &mut *entry.control.lock().unwrap_or_else(|e| e.into_inner()),
            Arc::clone(&control),
        );
        previous.send(Command::Stop);
        let output = PushOutput {
            stream,
            target: entry.target.clone(),
            tls: entry.tls.clone(),
            stats: Arc::clone(&entry.stats),
            ctx: Arc::clone(ctx),
            generation,
            control,
            _rendition: rendition,
        };
        self.spawner.spawn(Box::new(move || {
            compio::runtime::spawn(output.run()).detach();
        }));
    }

    fn stop(entry: &OutputEntry, state: OutputState) {
        entry.stats.take_over(state);
        entry
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Command::Stop);
    }

    /// Removes one output; its task ends. Returns whether it existed.
    pub fn remove(&self, stream: &str, name: &str) -> bool {
        let mut entries = self.entries();
        let Some(index) = entries
            .iter()
            .position(|e| e.stream == stream && e.stats.name == name)
        else {
            return false;
        };
        let entry = entries.remove(index);
        drop(entries);
        Self::stop(&entry, OutputState::Disabled);
        true
    }

    /// Removes every output of a stream (the stream is being deleted).
    pub fn remove_stream(&self, stream: &str) {
        let removed: Vec<_> = {
            let mut entries = self.entries();
            let (gone, kept) = entries.drain(..).partition(|e| e.stream == stream);
            *entries = kept;
            gone
        };
        for entry in removed {
            Self::stop(&entry, OutputState::Disabled);
        }
    }

    /// Enables or disables one output; the others are not touched.
    pub fn set_enabled(
        &self,
        ctx: &Arc<ServerContext>,
        stream: &str,
        name: &str,
        enabled: bool,
    ) -> Option<Arc<OutputEntry>> {
        let mut entries = self.entries();
        let index = entries
            .iter()
            .position(|e| e.stream == stream && e.stats.name == name)?;
        let old = entries.get(index)?;
        let mut config = old.config.clone();
        config.enabled = enabled;
        // Counters and the state cell carry over; only the config flag changes.
        let entry = Arc::new(OutputEntry {
            stream: old.stream.clone(),
            config,
            target: old.target.clone(),
            stats: Arc::clone(&old.stats),
            tls: old.tls.clone(),
            control: Mutex::new(Arc::clone(
                &old.control.lock().unwrap_or_else(|e| e.into_inner()),
            )),
        });
        if let Some(slot) = entries.get_mut(index) {
            *slot = Arc::clone(&entry);
        }
        drop(entries);
        if enabled {
            if entry.stats.state() == OutputState::Disabled {
                self.start(ctx, &entry);
            }
        } else {
            Self::stop(&entry, OutputState::Disabled);
        }
        Some(entry)
    }

    /// Reconnects one output at once (resetting its backoff).
    pub fn restart(&self, stream: &str, name: &str) -> Option<Arc<OutputEntry>> {
        let entry = self.find(stream, name)?;
        if entry.config.enabled {
            entry
                .control
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(Command::Restart);
        }
        Some(entry)
    }
}
