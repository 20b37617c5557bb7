//! DASH manifest writer: a dynamic MPD (ISO/IEC 23009-1, isoff-live profile, DASH-IF
//! IOP live guidelines) over the same CMAF segments HLS serves.
//!
//! The types are plain data the server fills; writing is pure text formatting, with
//! no clock (times come in as Unix milliseconds) and no XML dependency.

mod adaptation_set;
mod duration;
mod mpd;
mod segment_template;
mod xml;

pub use adaptation_set::{AdaptationSet, ContentType, Representation};
pub use mpd::{Mpd, Period};
pub use segment_template::{SegmentTemplate, TimelineEntry};

/// An xs:dateTime in UTC with milliseconds, e.g. for the `http-iso` UTCTiming
/// endpoint the MPD points clients at.
pub fn date_time(unix_ms: i64) -> String {
    crate::text::iso8601_utc_ms(unix_ms)
}
