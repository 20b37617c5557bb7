//! Streams: who publishes, who subscribes, and the bounded queues between them.

mod burst_frames;
mod delivery;
mod fanout;
mod held_burst;
mod registry;
#[allow(clippy::module_inception)]
mod stream;

pub use burst_frames::BurstFrames;
pub use fanout::{DirectSink, QueueLimits, Staged, StreamItem, Subscriber, WaitingBytes};
pub use held_burst::HeldBurst;
pub use registry::{APP, PublishError, Registry, RegistryError};
pub use stream::{Burst, Origin, PublisherGuard, Stream, StreamSnapshot, ViewerGuard};
