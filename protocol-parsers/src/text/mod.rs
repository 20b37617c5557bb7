//! Text building blocks shared by the HLS playlist and DASH manifest writers: numbers
//! and wall-clock dates written without a clock or a date-time dependency.

mod date_time;
mod decimal;

pub(crate) use date_time::iso8601_utc_ms;
pub(crate) use decimal::{fixed, trimmed};
