//! The I/O engine: one thread per core, each with its own completion-based runtime
//! (io_uring, or epoll where io_uring is unavailable), SO_REUSEPORT listeners per
//! core, and the one `pump` that drives every sans-IO session.
//!
//! `unsafe` is allowed here and in the FFI module only (each use states its invariant).

mod hyper_io;
mod listener;
mod pump;
mod runtime;
mod send_batch;
mod spawner;
mod tls;
mod transport;

pub use hyper_io::HyperIo;
pub use listener::{accept_loop, reuseport_listener, reuseport_udp};
pub use pump::{Pump, Wake};
pub use runtime::{EngineChoice, Workers, build_runtime, probe_engine};
pub use send_batch::{BatchedSend, batch_sends_on_this_thread, send_batch};
pub use spawner::{Job, JobQueue, Spawner};
pub use tls::{client_config, server_config};
pub use transport::{Transport, send_now, skip_written};

/// Random bytes for handshakes and backoff jitter; never used for secrets.
pub fn handshake_random() -> [u8; 1528] {
    let mut random = [0u8; 1528];
    fastrand::fill(&mut random);
    random
}
