//! The Media Playlist (RFC 8216 4.3.3; draft-pantos-hls-rfc8216bis 4.4.3-4.4.5): the
//! sliding window of one rendition's segments, with LL-HLS partial segments at the
//! live edge.

use std::fmt;

use super::attr::{Quoted, UriLine, seconds};
use super::low_latency::{Part, PreloadHint, RenditionReport, ServerControl, server_control};
use crate::text;

/// Decimals of EXTINF durations: millisecond precision, as `2.000` or `2.002`.
const EXTINF_PLACES: usize = 3;

/// A Media Playlist, filled by the server and written with [`MediaPlaylist::write`].
///
/// The writer writes what it is given (which segments carry parts, when the window
/// slides, what the preload hint names are the server's policy) and repairs only what
/// would make the playlist invalid: the version and the target duration are raised
/// when the content needs it, and URIs are sanitised.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// EXT-X-VERSION, as a floor: the written version is the larger of this and
    /// [`MediaPlaylist::min_version`], so 0 means "the least the content needs".
    pub version: u8,
    /// EXT-X-TARGETDURATION in seconds. Raised when a segment's duration, rounded to
    /// the nearest integer, exceeds it (RFC 8216 4.3.3.1 makes that invalid); keep
    /// it constant for the life of the stream, which LL-HLS clients rely on.
    pub target_duration: u32,
    /// EXT-X-MEDIA-SEQUENCE: the Media Sequence Number of the first segment,
    /// counting the segments an EXT-X-SKIP replaces.
    pub media_sequence: u64,
    /// EXT-X-DISCONTINUITY-SEQUENCE: discontinuities that slid out of the window.
    /// Written only when not 0 (its absence means 0).
    pub discontinuity_sequence: u64,
    /// EXT-X-INDEPENDENT-SEGMENTS: every segment starts with a keyframe.
    pub independent_segments: bool,
    /// EXT-X-MAP:URI for fMP4: the initialisation section of the first segment.
    /// Later changes (after a publisher reconnect) go in [`Segment::map_uri`].
    pub map_uri: Option<String>,
    /// EXT-X-PART-INF:PART-TARGET in seconds, when the playlist has partial segments.
    /// Every part's duration must not exceed it.
    pub part_target: Option<f64>,
    /// EXT-X-SERVER-CONTROL. When `part_target` is set, PART-HOLD-BACK is required;
    /// without one here, three part targets (the spec's recommended minimum) is written.
    pub server_control: Option<ServerControl>,
    /// For a Playlist Delta Update (`_HLS_skip=YES`, allowed when the server control
    /// has CAN-SKIP-UNTIL): how many of the oldest segments EXT-X-SKIP replaces. The
    /// server leaves those segments out of `segments` itself. 0 for a full playlist.
    pub skipped_segments: u64,
    /// The window, oldest first.
    pub segments: Vec<Segment>,
    /// EXT-X-PRELOAD-HINT: the next part, which the server will answer for as soon as
    /// it exists. Must be `None` once `ended` is set.
    pub preload_hint: Option<PreloadHint>,
    /// EXT-X-RENDITION-REPORT: one for every other rendition of the multivariant
    /// playlist, as up to date as this one.
    pub rendition_reports: Vec<RenditionReport>,
    /// EXT-X-ENDLIST: the stream is over.
    pub ended: bool,
}

/// A media segment of a [`MediaPlaylist`].
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub uri: String,
    /// EXTINF duration in seconds, written with millisecond precision.
    pub duration: f64,
    /// EXT-X-DISCONTINUITY before this segment (publisher reconnect, codec change).
    pub discontinuity: bool,
    /// EXT-X-PROGRAM-DATE-TIME: wall-clock time of the segment's first sample, as
    /// Unix milliseconds; written as ISO 8601 UTC with milliseconds.
    pub program_date_time_ms: Option<i64>,
    /// EXT-X-MAP:URI in force from this segment on. Written only where it differs from
    /// the one already in force, so it may be set on every segment.
    pub map_uri: Option<String>,
    /// The partial segments of this segment. The spec asks for them only near the
    /// live edge (removed once more than three target durations from the end).
    pub parts: Vec<Part>,
    /// `false` for the segment still being produced: only its parts are listed, with
    /// no EXTINF or URI line. An incomplete segment without parts is not written.
    pub complete: bool,
}

impl MediaPlaylist {
    /// The playlist text.
    pub fn write(&self) -> String {
        self.to_string()
    }

    /// The lowest EXT-X-VERSION the content requires (RFC 8216 7, rfc8216bis 8):
    /// 3 for decimal EXTINF durations, 6 for EXT-X-MAP outside an I-frame playlist,
    /// 9 for EXT-X-SKIP. The LL-HLS tags (parts, server control, preload hints,
    /// rendition reports) require no particular version.
    pub fn min_version(&self) -> u8 {
        let has_map = self.map_uri.is_some() || self.segments.iter().any(|s| s.map_uri.is_some());
        if self.skipped_segments > 0 {
            9
        } else if has_map {
            6
        } else {
            3
        }
    }

    /// The target duration written: at least every complete segment's duration
    /// rounded to the nearest integer.
    pub fn effective_target_duration(&self) -> u32 {
        self.segments
            .iter()
            .filter(|s| s.complete)
            // Saturating float-to-int conversion; a NaN duration counts as 0.
            .map(|s| s.duration.round() as u32)
            .fold(self.target_duration, u32::max)
    }
}

impl fmt::Display for MediaPlaylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("#EXTM3U\n")?;
        writeln!(f, "#EXT-X-VERSION:{}", self.version.max(self.min_version()))?;
        writeln!(
            f,
            "#EXT-X-TARGETDURATION:{}",
            self.effective_target_duration()
        )?;
        if let Some(control) = server_control(self.server_control.as_ref(), self.part_target) {
            writeln!(f, "#EXT-X-SERVER-CONTROL:{control}")?;
        }
        if let Some(target) = self.part_target {
            writeln!(f, "#EXT-X-PART-INF:PART-TARGET={}", seconds(target))?;
        }
        writeln!(f, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence)?;
        if self.discontinuity_sequence > 0 {
            writeln!(
                f,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            )?;
        }
        if self.independent_segments {
            f.write_str("#EXT-X-INDEPENDENT-SEGMENTS\n")?;
        }
        if self.skipped_segments > 0 {
            writeln!(f, "#EXT-X-SKIP:SKIPPED-SEGMENTS={}", self.skipped_segments)?;
        }
        // After the skip: the map applies to the segments that remain.
        let mut map = self.map_uri.as_deref();
        if let Some(uri) = map {
            writeln!(f, "#EXT-X-MAP:URI={}", Quoted(uri))?;
        }
        for segment in &self.segments {
            if !segment.complete && segment.parts.is_empty() {
                continue;
            }
            // Tags that apply to a parent segment apply to its first part too, so
            // they precede the parts (rfc8216bis 4.4.4.9).
            if segment.discontinuity {
                f.write_str("#EXT-X-DISCONTINUITY\n")?;
            }
            if let Some(uri) = segment.map_uri.as_deref() {
                if map != Some(uri) {
                    writeln!(f, "#EXT-X-MAP:URI={}", Quoted(uri))?;
                    map = Some(uri);
                }
            }
            if let Some(ms) = segment.program_date_time_ms {
                writeln!(f, "#EXT-X-PROGRAM-DATE-TIME:{}", text::iso8601_utc_ms(ms))?;
            }
            for part in &segment.parts {
                part.write_tag(f)?;
            }
            if segment.complete {
                writeln!(
                    f,
                    "#EXTINF:{},",
                    text::fixed(segment.duration, EXTINF_PLACES)
                )?;
                writeln!(f, "{}", UriLine(&segment.uri))?;
            }
        }
        if let Some(hint) = &self.preload_hint {
            hint.write_tag(f)?;
        }
        for report in &self.rendition_reports {
            report.write_tag(f)?;
        }
        if self.ended {
            f.write_str("#EXT-X-ENDLIST\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(uri: &str, duration: f64) -> Segment {
        Segment {
            uri: uri.into(),
            duration,
            discontinuity: false,
            program_date_time_ms: None,
            map_uri: None,
            parts: Vec::new(),
            complete: true,
        }
    }

    #[test]
    fn small_ts_playlist() {
        let playlist = MediaPlaylist {
            version: 3,
            target_duration: 2,
            media_sequence: 7,
            segments: vec![
                segment("seg-7.ts", 2.0),
                segment("seg-8.ts", 2.002),
                segment("seg-9.ts", 1.9995),
            ],
            ..MediaPlaylist::default()
        };
        assert_eq!(
            playlist.write(),
            "#EXTM3U\n\
             #EXT-X-VERSION:3\n\
             #EXT-X-TARGETDURATION:2\n\
             #EXT-X-MEDIA-SEQUENCE:7\n\
             #EXTINF:2.000,\n\
             seg-7.ts\n\
             #EXTINF:2.002,\n\
             seg-8.ts\n\
             #EXTINF:2.000,\n\
             seg-9.ts\n"
        );
    }

    #[test]
    fn fmp4_playlist_with_map_discontinuity_and_date() {
        // 2026-11-25T08:30:15.250Z, then the publisher reconnects with a new init.
        let start = 1_795_595_415_250;
        let playlist = MediaPlaylist {
            version: 7,
            target_duration: 4,
            media_sequence: 41,
            discontinuity_sequence: 2,
            independent_segments: true,
            map_uri: Some("init-0.mp4".into()),
            segments: vec![
                Segment {
                    program_date_time_ms: Some(start),
                    map_uri: Some("init-0.mp4".into()),
                    ..segment("seg-41.m4s", 4.0)
                },
                Segment {
                    map_uri: Some("init-0.mp4".into()),
                    ..segment("seg-42.m4s", 3.2)
                },
                Segment {
                    discontinuity: true,
                    program_date_time_ms: Some(start + 60_000),
                    map_uri: Some("init-1.mp4".into()),
                    ..segment("seg-43.m4s", 4.0)
                },
            ],
            ended: true,
            ..MediaPlaylist::default()
        };
        assert_eq!(
            playlist.write(),
            "#EXTM3U\n\
             #EXT-X-VERSION:7\n\
             #EXT-X-TARGETDURATION:4\n\
             #EXT-X-MEDIA-SEQUENCE:41\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:2\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-MAP:URI=\"init-0.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-25T08:30:15.250Z\n\
             #EXTINF:4.000,\n\
             seg-41.m4s\n\
             #EXTINF:3.200,\n\
             seg-42.m4s\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-MAP:URI=\"init-1.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-25T08:31:15.250Z\n\
             #EXTINF:4.000,\n\
             seg-43.m4s\n\
             #EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn version_is_raised_to_what_the_content_needs() {
        let mut playlist = MediaPlaylist {
            segments: vec![segment("a.ts", 2.0)],
            ..MediaPlaylist::default()
        };
        assert_eq!(playlist.min_version(), 3);
        assert!(playlist.write().contains("#EXT-X-VERSION:3\n"));
        playlist.segments[0].map_uri = Some("init.mp4".into());
        assert_eq!(playlist.min_version(), 6);
        playlist.version = 7;
        assert!(playlist.write().contains("#EXT-X-VERSION:7\n"));
        playlist.skipped_segments = 3;
        assert!(playlist.write().contains("#EXT-X-VERSION:9\n"));
    }

    #[test]
    fn target_duration_covers_every_rounded_segment() {
        let playlist = MediaPlaylist {
            target_duration: 2,
            segments: vec![segment("a.ts", 2.49), segment("b.ts", 2.5)],
            ..MediaPlaylist::default()
        };
        assert_eq!(playlist.effective_target_duration(), 3);
        assert!(playlist.write().contains("#EXT-X-TARGETDURATION:3\n"));
        let fits = MediaPlaylist {
            target_duration: 2,
            segments: vec![segment("a.ts", 2.49), segment("b.ts", f64::NAN)],
            ..MediaPlaylist::default()
        };
        assert_eq!(fits.effective_target_duration(), 2);
    }

    #[test]
    fn hostile_uris_cannot_inject_lines() {
        let playlist = MediaPlaylist {
            map_uri: Some("init\".mp4".into()),
            segments: vec![segment("a.ts\n#EXT-X-ENDLIST", 2.0)],
            ..MediaPlaylist::default()
        };
        let text = playlist.write();
        assert!(!text.contains("\n#EXT-X-ENDLIST"), "{text}");
        assert!(text.contains("#EXT-X-MAP:URI=\"init%22.mp4\"\n"));
        assert!(text.contains("\na.ts%0A#EXT-X-ENDLIST\n"));
    }

    #[test]
    fn empty_in_progress_segment_is_left_out() {
        let playlist = MediaPlaylist {
            target_duration: 2,
            segments: vec![
                segment("a.ts", 2.0),
                Segment {
                    complete: false,
                    discontinuity: true,
                    ..segment("b.ts", 0.0)
                },
            ],
            ..MediaPlaylist::default()
        };
        assert!(playlist.write().ends_with("#EXTINF:2.000,\na.ts\n"));
    }
}
