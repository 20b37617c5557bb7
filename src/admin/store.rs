//! The running configuration and its file. Every admin API change goes through
//! here: validated, written atomically (temp file, fsync, rename, fsync of the
//! directory), and only then applied, so a crash at any moment leaves either the
//! old or the new file, and a restart keeps every change that was acknowledged.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{Config, InvalidField};

#[derive(Debug)]
pub struct ConfigStore {
    config: Config,
    /// `None`: running on the embedded default; changes are kept in memory only.
    path: Option<PathBuf>,
}

/// Why a change was refused.
#[derive(Debug)]
pub enum StoreError {
    Invalid(InvalidField),
    Write(String),
}

impl ConfigStore {
    pub fn new(config: Config, path: Option<PathBuf>) -> Self {
        Self { config, path }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn persists(&self) -> bool {
        self.path.is_some()
    }

    /// Applies `change` to a copy, validates it, writes it, and keeps it.
    pub fn update(&mut self, change: impl FnOnce(&mut Config)) -> Result<(), StoreError> {
        let mut next = self.config.clone();
        change(&mut next);
        next.check().map_err(StoreError::Invalid)?;
        if let Some(path) = &self.path {
            write_atomically(path, &next).map_err(StoreError::Write)?;
        }
        self.config = next;
        Ok(())
    }
}

fn write_atomically(path: &Path, config: &Config) -> Result<(), String> {
    let text = toml::to_string_pretty(config).map_err(|e| format!("cannot serialise: {e}"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into());
    let temp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(b"# Written by Manifold's admin API; comments are not kept.\n")?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // The rename itself must reach the disk before the change is acknowledged.
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StreamConfig;

    #[test]
    fn changes_are_validated_written_and_reloadable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifold.toml");
        let mut store = ConfigStore::new(Config::embedded_default(), Some(path.clone()));
        store
            .update(|c| {
                c.streams.push(StreamConfig {
                    name: "main".into(),
                    key: "secret".into(),
                    ..StreamConfig::default()
                })
            })
            .unwrap();
        let reloaded = Config::load(&path).unwrap();
        assert_eq!(&reloaded, store.config());
        // An invalid change is refused and leaves the file as it was.
        let err = store
            .update(|c| {
                c.streams.push(StreamConfig {
                    name: "main".into(),
                    key: "other".into(),
                    ..StreamConfig::default()
                })
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(f) if f.field == "name"));
        assert_eq!(Config::load(&path).unwrap().streams.len(), 1);
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
