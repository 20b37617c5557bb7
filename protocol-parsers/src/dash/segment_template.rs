//! SegmentTemplate (ISO/IEC 23009-1 5.3.9.4) with an optional SegmentTimeline
//! (5.3.9.6): how a client computes segment URLs and times without listing them.

use std::fmt;

use super::xml::{attr, indent};

/// A SegmentTemplate. `$RepresentationID$`, `$Number$` and `$Time$` in `initialization`
/// and `media` are expanded by the client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentTemplate {
    /// Ticks per second of `presentation_time_offset`, `duration` and the timeline.
    pub timescale: u32,
    /// The initialisation segment, e.g. `$RepresentationID$/init.mp4`.
    pub initialization: String,
    /// Media segments, e.g. `$RepresentationID$/seg-$Number$.m4s`; a template with
    /// `$Time$` needs a `timeline`.
    pub media: String,
    /// `$Number$` of the first segment (of the first timeline entry). A DASH number
    /// is an xs:unsignedInt; larger values are written as given.
    pub start_number: u64,
    /// Media time (in `timescale` ticks) that maps to the start of the Period; the
    /// attribute is left out when 0, its default.
    pub presentation_time_offset: u64,
    /// SegmentTimeline entries, oldest first: the exact times of the segments that
    /// are available. `None` addresses segments by a constant `duration` instead.
    pub timeline: Option<Vec<TimelineEntry>>,
    /// Constant segment duration in ticks, used only when `timeline` is `None` (the
    /// two are exclusive).
    pub duration: Option<u64>,
}

/// One `S` element: `r + 1` consecutive segments of `d` ticks, the first at `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimelineEntry {
    pub t: u64,
    pub d: u64,
    /// Repeat count: how many more segments of the same duration follow.
    pub r: u32,
}

impl SegmentTemplate {
    pub(super) fn write_element(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        indent(f, depth)?;
        f.write_str("<SegmentTemplate")?;
        attr(f, "timescale", self.timescale)?;
        attr(f, "initialization", &self.initialization)?;
        attr(f, "media", &self.media)?;
        attr(f, "startNumber", self.start_number)?;
        if self.presentation_time_offset != 0 {
            attr(f, "presentationTimeOffset", self.presentation_time_offset)?;
        }
        let Some(timeline) = &self.timeline else {
            if let Some(duration) = self.duration {
                attr(f, "duration", duration)?;
            }
            return f.write_str("/>\n");
        };
        f.write_str(">\n")?;
        indent(f, depth + 1)?;
        if timeline.is_empty() {
            f.write_str("<SegmentTimeline/>\n")?;
        } else {
            f.write_str("<SegmentTimeline>\n")?;
            // `t` is written on the first entry and wherever the timeline does not
            // continue where the previous entry ended (a gap or an overlap).
            let mut next_t = None;
            for entry in timeline {
                indent(f, depth + 2)?;
                f.write_str("<S")?;
                if next_t != Some(entry.t) {
                    attr(f, "t", entry.t)?;
                }
                attr(f, "d", entry.d)?;
                if entry.r != 0 {
                    attr(f, "r", entry.r)?;
                }
                f.write_str("/>\n")?;
                next_t = entry
                    .d
                    .checked_mul(u64::from(entry.r) + 1)
                    .and_then(|span| entry.t.checked_add(span));
            }
            indent(f, depth + 1)?;
            f.write_str("</SegmentTimeline>\n")?;
        }
        indent(f, depth)?;
        f.write_str("</SegmentTemplate>\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct At<'a>(&'a SegmentTemplate);

    impl fmt::Display for At<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.0.write_element(f, 0)
        }
    }

    #[test]
    fn constant_duration() {
        let template = SegmentTemplate {
            timescale: 1000,
            initialization: "init-$RepresentationID$.mp4".into(),
            media: "seg-$RepresentationID$-$Number$.m4s".into(),
            start_number: 1,
            duration: Some(2000),
            ..SegmentTemplate::default()
        };
        assert_eq!(
            At(&template).to_string(),
            "<SegmentTemplate timescale=\"1000\" initialization=\"init-$RepresentationID$.mp4\" \
             media=\"seg-$RepresentationID$-$Number$.m4s\" startNumber=\"1\" duration=\"2000\"/>\n"
        );
    }

    #[test]
    fn timeline_writes_t_only_at_gaps() {
        let template = SegmentTemplate {
            timescale: 90_000,
            initialization: "init.mp4".into(),
            media: "$Time$.m4s".into(),
            start_number: 5,
            presentation_time_offset: 900_000,
            timeline: Some(vec![
                TimelineEntry {
                    t: 900_000,
                    d: 180_000,
                    r: 2,
                },
                TimelineEntry {
                    t: 1_440_000,
                    d: 90_000,
                    r: 0,
                },
                // A gap of one second.
                TimelineEntry {
                    t: 1_620_000,
                    d: 180_000,
                    r: 0,
                },
            ]),
            // Ignored: the timeline says it all.
            duration: Some(180_000),
        };
        assert_eq!(
            At(&template).to_string(),
            "<SegmentTemplate timescale=\"90000\" initialization=\"init.mp4\" media=\"$Time$.m4s\" \
             startNumber=\"5\" presentationTimeOffset=\"900000\">\n\
             \x20 <SegmentTimeline>\n\
             \x20   <S t=\"900000\" d=\"180000\" r=\"2\"/>\n\
             \x20   <S d=\"90000\"/>\n\
             \x20   <S t=\"1620000\" d=\"180000\"/>\n\
             \x20 </SegmentTimeline>\n\
             </SegmentTemplate>\n"
        );
    }

    #[test]
    fn overflowing_entry_keeps_the_next_t() {
        let template = SegmentTemplate {
            timeline: Some(vec![
                TimelineEntry {
                    t: u64::MAX - 1,
                    d: u64::MAX,
                    r: u32::MAX,
                },
                TimelineEntry { t: 0, d: 1, r: 0 },
            ]),
            ..SegmentTemplate::default()
        };
        assert!(At(&template).to_string().contains("<S t=\"0\" d=\"1\"/>"));
    }
}
