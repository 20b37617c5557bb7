//! Everything that consumes a stream: RTMP/RTMPS push to platforms, RTMP play.

pub mod forwarder;
mod latency;
mod push_state;
mod push_target;
pub mod rtmp_push;

pub use forwarder::{Forwarder, MediaSink};
pub use latency::LatencyHistogram;
pub use push_state::{OutputState, OutputStats};
pub use push_target::{PushTarget, PushTargetError};
