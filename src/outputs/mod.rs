//! Everything that consumes a stream: RTMP/RTMPS push to platforms, RTMP play.

mod control;
mod direct_push;
pub mod forwarder;
pub mod http;
pub mod http_stats;
pub(crate) mod latency;
mod manager;
pub mod player;
mod push_state;
mod push_target;
pub mod rtmp_push;
mod shared_burst;
pub mod srt_out;
mod unreported_stats;

pub use control::{Command, OutputControl};
pub use forwarder::{Forwarder, MediaSink};
pub use latency::LatencyHistogram;
pub use manager::{OutputEntry, OutputError, OutputManager};
pub use push_state::{OutputState, OutputStats};
pub use push_target::{PushTarget, PushTargetError};
