//! The Low-Latency HLS tags of draft-pantos-hls-rfc8216bis: partial segments
//! (EXT-X-PART, 4.4.4.9), delivery directives the server supports
//! (EXT-X-SERVER-CONTROL, 4.4.3.8), the hint of the next part (EXT-X-PRELOAD-HINT,
//! 4.4.5.3) and the live edge of the other renditions (EXT-X-RENDITION-REPORT,
//! 4.4.5.4).

use std::fmt;

use super::attr::{Quoted, seconds};

/// A partial segment (a CMAF chunk) of a [`super::Segment`].
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub uri: String,
    /// Seconds; at most the playlist's `part_target`, and at least 85 % of it except
    /// for independent parts and the last part of a segment.
    pub duration: f64,
    /// INDEPENDENT=YES: the part starts with a keyframe.
    pub independent: bool,
}

impl Part {
    pub(super) fn write_tag(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#EXT-X-PART:DURATION={},URI={}",
            seconds(self.duration),
            Quoted(&self.uri)
        )?;
        if self.independent {
            f.write_str(",INDEPENDENT=YES")?;
        }
        f.write_str("\n")
    }
}

/// EXT-X-SERVER-CONTROL: which delivery directives the server honours.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerControl {
    /// CAN-BLOCK-RELOAD=YES: the server holds `_HLS_msn`/`_HLS_part` requests until
    /// the playlist has that segment or part. LL-HLS requires it.
    pub can_block_reload: bool,
    /// HOLD-BACK in seconds: where a normal-latency client starts, from the end of
    /// the playlist. At least three target durations; absent means exactly that.
    pub hold_back: Option<f64>,
    /// PART-HOLD-BACK in seconds: where a low-latency client starts. At least two,
    /// better three part targets; required with partial segments.
    pub part_hold_back: Option<f64>,
    /// CAN-SKIP-UNTIL in seconds (the Skip Boundary, at least six target durations):
    /// the server answers `_HLS_skip=YES` with a delta update (see
    /// [`super::MediaPlaylist::skipped_segments`]).
    pub can_skip_until: Option<f64>,
}

/// The attribute list of EXT-X-SERVER-CONTROL, or `None` when there is nothing to say.
/// With partial segments and no PART-HOLD-BACK, three part targets are written, since
/// the attribute is required (4.4.3.8) and three is the recommended minimum.
pub(super) fn server_control(
    control: Option<&ServerControl>,
    part_target: Option<f64>,
) -> Option<String> {
    let default = ServerControl::default();
    let control = control.unwrap_or(&default);
    let mut attributes = Vec::new();
    if control.can_block_reload {
        attributes.push("CAN-BLOCK-RELOAD=YES".to_owned());
    }
    if let Some(until) = control.can_skip_until {
        attributes.push(format!("CAN-SKIP-UNTIL={}", seconds(until)));
    }
    if let Some(hold_back) = control.hold_back {
        attributes.push(format!("HOLD-BACK={}", seconds(hold_back)));
    }
    if let Some(part_hold_back) = control
        .part_hold_back
        .or_else(|| part_target.map(|target| 3.0 * target))
    {
        attributes.push(format!("PART-HOLD-BACK={}", seconds(part_hold_back)));
    }
    (!attributes.is_empty()).then(|| attributes.join(","))
}

/// What an EXT-X-PRELOAD-HINT announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreloadHintType {
    /// TYPE=PART: the next partial segment.
    #[default]
    Part,
    /// TYPE=MAP: the next initialisation section.
    Map,
}

/// EXT-X-PRELOAD-HINT: a resource clients may request before it exists; the server
/// answers once it is complete.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreloadHint {
    pub kind: PreloadHintType,
    /// Must be the URI the part will have once listed as an EXT-X-PART.
    pub uri: String,
    /// BYTERANGE-START, when the part is a byte range of a larger resource.
    pub byterange_start: Option<u64>,
    /// BYTERANGE-LENGTH; omit it when the length is not yet known.
    pub byterange_length: Option<u64>,
}

impl PreloadHint {
    pub(super) fn write_tag(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            PreloadHintType::Part => "PART",
            PreloadHintType::Map => "MAP",
        };
        write!(
            f,
            "#EXT-X-PRELOAD-HINT:TYPE={kind},URI={}",
            Quoted(&self.uri)
        )?;
        if let Some(start) = self.byterange_start {
            write!(f, ",BYTERANGE-START={start}")?;
        }
        if let Some(length) = self.byterange_length {
            write!(f, ",BYTERANGE-LENGTH={length}")?;
        }
        f.write_str("\n")
    }
}

/// EXT-X-RENDITION-REPORT: the live edge of another rendition, so a client switching
/// to it can issue a blocking request at once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenditionReport {
    /// The other rendition's media playlist, relative to this playlist's URI.
    pub uri: String,
    /// LAST-MSN: Media Sequence Number of its last segment, or of the segment its
    /// last part belongs to.
    pub last_msn: u64,
    /// LAST-PART: index of its last part within `last_msn`; required when that
    /// rendition has parts.
    pub last_part: Option<u64>,
}

impl RenditionReport {
    pub(super) fn write_tag(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#EXT-X-RENDITION-REPORT:URI={},LAST-MSN={}",
            Quoted(&self.uri),
            self.last_msn
        )?;
        if let Some(part) = self.last_part {
            write!(f, ",LAST-PART={part}")?;
        }
        f.write_str("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::{MediaPlaylist, Segment};

    const PART_TARGET: f64 = 0.5;

    fn parts(msn: u64, count: u64) -> Vec<Part> {
        (0..count)
            .map(|i| Part {
                uri: format!("part-{msn}.{i}.m4s"),
                duration: PART_TARGET,
                independent: i == 0,
            })
            .collect()
    }

    fn segment(msn: u64, with_parts: bool) -> Segment {
        Segment {
            uri: format!("seg-{msn}.m4s"),
            duration: 2.0,
            discontinuity: false,
            program_date_time_ms: None,
            map_uri: None,
            parts: if with_parts {
                parts(msn, 4)
            } else {
                Vec::new()
            },
            complete: true,
        }
    }

    /// Six 2 s segments (MSN 100..=105), parts on the last three, segment 106 in
    /// progress with two parts, the third hinted.
    fn live_edge() -> MediaPlaylist {
        let mut segments: Vec<Segment> = (100..106).map(|msn| segment(msn, msn >= 103)).collect();
        segments[0].program_date_time_ms = Some(1_795_595_415_250);
        segments.push(Segment {
            complete: false,
            duration: 0.0,
            parts: parts(106, 2),
            ..segment(106, false)
        });
        MediaPlaylist {
            target_duration: 2,
            media_sequence: 100,
            independent_segments: true,
            map_uri: Some("init.mp4".into()),
            part_target: Some(PART_TARGET),
            server_control: Some(ServerControl {
                can_block_reload: true,
                hold_back: Some(6.0),
                part_hold_back: Some(1.5),
                can_skip_until: Some(12.0),
            }),
            segments,
            preload_hint: Some(PreloadHint {
                uri: "part-106.2.m4s".into(),
                ..PreloadHint::default()
            }),
            rendition_reports: vec![
                RenditionReport {
                    uri: "../720p/index.m3u8".into(),
                    last_msn: 106,
                    last_part: Some(1),
                },
                RenditionReport {
                    uri: "../audio/index.m3u8".into(),
                    last_msn: 106,
                    last_part: Some(1),
                },
            ],
            ..MediaPlaylist::default()
        }
    }

    #[test]
    fn low_latency_playlist() {
        let expected = "\
#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12,HOLD-BACK=6,PART-HOLD-BACK=1.5
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI=\"init.mp4\"
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T08:30:15.250Z
#EXTINF:2.000,
seg-100.m4s
#EXTINF:2.000,
seg-101.m4s
#EXTINF:2.000,
seg-102.m4s
#EXT-X-PART:DURATION=0.5,URI=\"part-103.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part-103.1.m4s\"
#EXT-X-PART:DURATION=0.5,URI=\"part-103.2.m4s\"
#EXT-X-PART:DURATION=0.5,URI=\"part-103.3.m4s\"
#EXTINF:2.000,
seg-103.m4s
#EXT-X-PART:DURATION=0.5,URI=\"part-104.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part-104.1.m4s\"
#EXT-X-PART:DURATION=0.5,URI=\"part-104.2.m4s\"
#EXT-X-PART:DURATION=0.5,URI=\"part-104.3.m4s\"
#EXTINF:2.000,
seg-104.m4s
#EXT-X-PART:DURATION=0.5,URI=\"part-105.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part-105.1.m4s\"
#EXT-X-PART:DURATION=0.5,URI=\"part-105.2.m4s\"
#EXT-X-PART:DURATION=0.5,URI=\"part-105.3.m4s\"
#EXTINF:2.000,
seg-105.m4s
#EXT-X-PART:DURATION=0.5,URI=\"part-106.0.m4s\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI=\"part-106.1.m4s\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-106.2.m4s\"
#EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=106,LAST-PART=1
#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8\",LAST-MSN=106,LAST-PART=1
";
        assert_eq!(live_edge().write(), expected);
    }

    #[test]
    fn delta_update_skips_old_segments() {
        let mut playlist = live_edge();
        playlist.segments.drain(..2);
        playlist.skipped_segments = 2;
        let text = playlist.write();
        assert!(text.starts_with("#EXTM3U\n#EXT-X-VERSION:9\n"), "{text}");
        assert!(text.contains(
            "#EXT-X-MEDIA-SEQUENCE:100\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-SKIP:SKIPPED-SEGMENTS=2\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:2.000,\n\
             seg-102.m4s\n"
        ));
    }

    #[test]
    fn part_hold_back_defaults_to_three_part_targets() {
        assert_eq!(
            server_control(None, Some(0.33334)).as_deref(),
            Some("PART-HOLD-BACK=1.00002")
        );
        let blocking = ServerControl {
            can_block_reload: true,
            ..ServerControl::default()
        };
        assert_eq!(
            server_control(Some(&blocking), Some(1.0)).as_deref(),
            Some("CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3")
        );
        assert_eq!(server_control(None, None), None);
        assert_eq!(server_control(Some(&ServerControl::default()), None), None);
    }

    #[test]
    fn hint_byte_range_and_map() {
        let playlist = MediaPlaylist {
            preload_hint: Some(PreloadHint {
                kind: PreloadHintType::Map,
                uri: "init-2.mp4".into(),
                byterange_start: Some(0),
                byterange_length: Some(812),
            }),
            rendition_reports: vec![RenditionReport {
                uri: "../360p/index.m3u8".into(),
                last_msn: 9,
                last_part: None,
            }],
            ..MediaPlaylist::default()
        };
        assert!(playlist.write().ends_with(
            "#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"init-2.mp4\",BYTERANGE-START=0,BYTERANGE-LENGTH=812\n\
             #EXT-X-RENDITION-REPORT:URI=\"../360p/index.m3u8\",LAST-MSN=9\n"
        ));
    }
}
