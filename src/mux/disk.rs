//! `hls.directory`: the same playlists, MPD and segments also written to disk, for
//! an external origin (nginx, a CDN pull zone) to serve. Files are written by one
//! thread of their own, never on an I/O core; each is written to a temp name and
//! renamed, so a reader never sees half a file. Segments that leave the window are
//! deleted. Playlists on disk list complete segments only (no LL-HLS parts: a file
//! server cannot hold blocking requests).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

use bytes::Bytes;
use protocol_parsers::media::TrackKind;

use super::{Rendition, manifests};

/// Writes queued before new ones are dropped (and counted): the disk must not
/// hold up segmenting.
const QUEUE: usize = 1024;

enum Job {
    Write { path: PathBuf, pieces: Vec<Bytes> },
    Remove(PathBuf),
}

#[derive(Debug)]
pub struct DiskWriter {
    root: PathBuf,
    jobs: SyncSender<Job>,
    pub dropped: AtomicU64,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Write { path, .. } => write!(f, "Write({})", path.display()),
            Self::Remove(path) => write!(f, "Remove({})", path.display()),
        }
    }
}

impl DiskWriter {
    pub fn start(root: PathBuf) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(&root)?;
        let (jobs, queue) = std::sync::mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("manifold-hls-disk".into())
            .spawn(move || run(queue))?;
        Ok(Arc::new(Self {
            root,
            jobs,
            dropped: AtomicU64::new(0),
        }))
    }

    fn send(&self, job: Job) {
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => {
                if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        ?job,
                        "hls.directory: the disk is too slow; writes are dropped"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    fn write(&self, path: PathBuf, pieces: Vec<Bytes>) {
        self.send(Job::Write { path, pieces });
    }
}

fn run(queue: Receiver<Job>) {
    for job in queue {
        let result = match &job {
            Job::Write { path, pieces } => write_atomically(path, pieces),
            Job::Remove(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
        };
        if let Err(e) = result {
            tracing::warn!(?job, error = %e, "hls.directory write failed");
        }
    }
}

fn write_atomically(path: &Path, pieces: &[Bytes]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut file = std::fs::File::create(&temp)?;
    for piece in pieces {
        file.write_all(piece)?;
    }
    drop(file);
    std::fs::rename(&temp, path)
}

/// What one rendition has on disk.
#[derive(Debug, Default)]
pub struct DiskState {
    segments: BTreeSet<u64>,
    inits: BTreeSet<(u8, u32)>,
}

/// Brings the files of `rendition` up to date: new complete segments and init
/// segments written, evicted segments removed, playlists and MPD rewritten when
/// the segment list changed.
/// Writes `rendition`'s new segments and its playlists; the stream's multivariant
/// playlist and MPD list `ladder`, with `reference` (the source) for the periods.
pub fn sync(
    writer: &DiskWriter,
    rendition: &Rendition,
    ladder: &[std::sync::Arc<Rendition>],
    reference: &Rendition,
    state: &mut DiskState,
) {
    let stream_dir = writer.root.join(&rendition.stream);
    let dir = stream_dir.join(&rendition.name);
    let mut changed = false;
    {
        let inner = rendition.lock();
        let in_window: BTreeSet<u64> = inner
            .segments
            .iter()
            .filter(|s| s.complete)
            .map(|s| s.msn)
            .collect();
        for segment in inner.segments.iter().filter(|s| s.complete) {
            for (letter, kind) in [(0u8, TrackKind::Video), (1, TrackKind::Audio)] {
                if let Some(media) = &segment.track(kind).init {
                    if state.inits.insert((letter, media.id)) {
                        let name = manifests::init_uri(rendition, kind, media.id);
                        writer.write(dir.join(name), vec![media.init.clone()]);
                    }
                }
            }
            if state.segments.contains(&segment.msn) {
                continue;
            }
            for kind in [TrackKind::Video, TrackKind::Audio] {
                let track = segment.track(kind);
                if !track.parts.is_empty() {
                    let pieces = track.parts.iter().flat_map(|p| p.pieces.iter().cloned());
                    let name = manifests::segment_uri(rendition, kind, segment.msn);
                    writer.write(dir.join(name), pieces.collect());
                }
            }
            if !segment.ts.is_empty() {
                let name = manifests::ts_segment_uri(rendition, segment.msn);
                writer.write(dir.join(name), segment.ts.clone());
            }
            state.segments.insert(segment.msn);
            changed = true;
        }
        let gone: Vec<u64> = state.segments.difference(&in_window).copied().collect();
        for msn in gone {
            for kind in [TrackKind::Video, TrackKind::Audio] {
                let name = manifests::segment_uri(rendition, kind, msn);
                writer.send(Job::Remove(dir.join(name)));
            }
            writer.send(Job::Remove(
                dir.join(manifests::ts_segment_uri(rendition, msn)),
            ));
            state.segments.remove(&msn);
        }
    }
    if !changed {
        return;
    }
    let text = |text: Option<String>| text.map(|t| vec![Bytes::from(t)]);
    let files = [
        (
            stream_dir.join("index.m3u8"),
            text(manifests::multivariant(ladder)),
        ),
        (
            stream_dir.join("manifest.mpd"),
            text(manifests::mpd(reference, ladder)),
        ),
        (
            dir.join("video.m3u8"),
            text(manifests::media_playlist_for_disk(
                rendition,
                TrackKind::Video,
            )),
        ),
        (
            dir.join("audio.m3u8"),
            text(manifests::media_playlist_for_disk(
                rendition,
                TrackKind::Audio,
            )),
        ),
        (dir.join("ts.m3u8"), text(manifests::ts_playlist(rendition))),
    ];
    // Segments are queued before the playlists that list them, and one thread
    // writes in order: a playlist on disk never names a missing segment.
    for (path, pieces) in files {
        if let Some(pieces) = pieces {
            writer.write(path, pieces);
        }
    }
}
