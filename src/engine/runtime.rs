use std::io;
use std::thread::JoinHandle;

use compio::driver::{DriverType, ProactorBuilder};
use compio::runtime::{Runtime, RuntimeBuilder};

use crate::config::EngineKind;

/// Capacity of each worker's queue of wakes from other threads.
const REMOTE_WAKE_QUEUE: usize = 16 * 1024;

/// The I/O mechanism the workers run on, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChoice {
    IoUring,
    Epoll,
}

impl std::fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::IoUring => "io_uring",
            Self::Epoll => "epoll",
        })
    }
}

fn proactor(choice: EngineChoice) -> ProactorBuilder {
    let mut builder = ProactorBuilder::new();
    builder.driver_type(match choice {
        EngineChoice::IoUring => DriverType::IoUring,
        EngineChoice::Epoll => DriverType::Poll,
    });
    builder
}

/// Builds one runtime to find out what this machine supports. `io_uring` asked for
/// explicitly but unavailable is an error; `auto` falls back to epoll.
pub fn probe_engine(kind: EngineKind) -> io::Result<EngineChoice> {
    let try_uring = || {
        RuntimeBuilder::new()
            .with_proactor(proactor(EngineChoice::IoUring))
            .build()
            .map(|rt| rt.driver_type() == DriverType::IoUring)
    };
    match kind {
        EngineKind::Epoll => Ok(EngineChoice::Epoll),
        EngineKind::IoUring => match try_uring() {
            Ok(true) => Ok(EngineChoice::IoUring),
            Ok(false) => Err(io::Error::other(
                "io_uring was asked for but the runtime chose another driver",
            )),
            Err(e) => Err(io::Error::other(format!(
                "io_uring was asked for but is unavailable: {e}"
            ))),
        },
        EngineKind::Auto => Ok(match try_uring() {
            Ok(true) => EngineChoice::IoUring,
            _ => EngineChoice::Epoll,
        }),
    }
}

/// A single-threaded runtime on the chosen engine, for threads that are not
/// workers (the admin server).
pub fn build_runtime(choice: EngineChoice) -> io::Result<Runtime> {
    RuntimeBuilder::new()
        .with_proactor(proactor(choice))
        .build()
}

/// The worker threads, one runtime each.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers; `run(index)` is the root task of each.
    pub fn start<F, Fut>(count: usize, choice: EngineChoice, run: F) -> io::Result<Self>
    where
        F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        let mut handles = Vec::with_capacity(count);
        for index in 0..count {
            let run = run.clone();
            let handle = std::thread::Builder::new()
                .name(format!("manifold-io-{index}"))
                .spawn(move || {
                    // Wakes from other cores go through a bounded queue; a full queue
                    // makes the waking thread (the publisher) yield until it drains.
                    // Size it for every output of a busy stream waking at once.
                    let runtime: Runtime = match RuntimeBuilder::new()
                        .with_proactor(proactor(choice))
                        .sync_queue_size(REMOTE_WAKE_QUEUE)
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            tracing::error!(worker = index, error = %e, "cannot start the I/O runtime");
                            return;
                        }
                    };
                    if choice == EngineChoice::IoUring
                        && let Err(e) = super::batch_sends_on_this_thread()
                    {
                        // The runtime's own ring opened; a second small one failing
                        // only costs the batching.
                        tracing::warn!(worker = index, error = %e, "sends are not batched: no io_uring for them");
                    }
                    runtime.block_on(run(index));
                })?;
            handles.push(handle);
        }
        Ok(Self { handles })
    }

    pub fn join(self) {
        for handle in self.handles {
            let _ = handle.join();
        }
    }
}
