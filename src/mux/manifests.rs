//! HLS playlists and the DASH MPD of a rendition, written from its segment window
//! by the sans-IO writers in `protocol_parsers::{hls, dash}`.

use protocol_parsers::dash::{
    AdaptationSet, ContentType, Mpd, Period, Representation, SegmentTemplate, TimelineEntry,
};
use protocol_parsers::hls::{
    Media, MediaPlaylist, MultivariantPlaylist, Part, PreloadHint, PreloadHintType,
    RenditionReport, Segment, ServerControl, Variant, codec_string,
};
use protocol_parsers::media::{CodecConfig, TrackKind};

use super::rendition::{Inner, Rendition, SegmentRec};

/// Parts are listed for this many of the newest segments (RFC 8216bis asks for at
/// least those within the last three target durations).
const SEGMENTS_WITH_PARTS: usize = 3;

fn letter(kind: TrackKind) -> &'static str {
    match kind {
        TrackKind::Video => "v",
        TrackKind::Audio => "a",
    }
}

pub fn init_uri(rendition: &Rendition, kind: TrackKind, id: u32) -> String {
    format!("init-{}-{}-{id}.mp4", letter(kind), rendition.generation)
}

pub fn segment_uri(rendition: &Rendition, kind: TrackKind, msn: u64) -> String {
    format!("seg-{}-{}-{msn}.m4s", letter(kind), rendition.generation)
}

pub fn part_uri(rendition: &Rendition, kind: TrackKind, msn: u64, index: usize) -> String {
    format!(
        "part-{}-{}-{msn}-{index}.m4s",
        letter(kind),
        rendition.generation
    )
}

fn part_target(inner: &Inner) -> Option<f64> {
    let part_ms = inner.config.part_ms?;
    // Advertise at least what was produced, rounded up to the millisecond.
    let target = (part_ms as f64 / 1000.0).max(inner.max_part_seconds);
    Some((target * 1000.0).ceil() / 1000.0)
}

fn target_duration(inner: &Inner) -> u32 {
    let target = (inner.config.segment_ms as f64 / 1000.0).max(inner.max_segment_seconds);
    target.ceil().max(1.0) as u32
}

fn has(inner: &Inner, kind: TrackKind) -> bool {
    match kind {
        TrackKind::Video => inner.video.is_some(),
        TrackKind::Audio => inner.audio.is_some(),
    }
}

/// Average bits per second of a track over the complete segments in the window
/// (the peak segment's, which is what BANDWIDTH must cover).
fn bandwidth(inner: &Inner, kind: TrackKind) -> u64 {
    inner
        .segments
        .iter()
        .filter(|s| s.complete)
        .map(|s| {
            let track = s.track(kind);
            let bytes: usize = track
                .parts
                .iter()
                .flat_map(|p| &p.pieces)
                .map(|b| b.len())
                .sum();
            let seconds = track.seconds();
            if seconds > 0.0 {
                (bytes as f64 * 8.0 / seconds) as u64
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
}

/// `index.m3u8`: one variant per rendition of the ladder (its video playlist, with
/// its own audio group), or the source alone.
pub fn multivariant(renditions: &[std::sync::Arc<Rendition>]) -> Option<String> {
    let mut variants = Vec::new();
    let mut media = Vec::new();
    let single = renditions.len() == 1;
    for rendition in renditions {
        let inner = rendition.lock();
        let prefix = &rendition.name;
        let video = inner.video.as_ref();
        let audio = inner.audio.as_ref();
        let mut codecs = Vec::new();
        let mut resolution = None;
        for track in [video, audio].into_iter().flatten() {
            codecs.extend(codec_string(&track.track.config));
            if let CodecConfig::Video { width, height, .. } = track.track.config {
                resolution = Some((width, height));
            }
        }
        let bandwidth = bandwidth(&inner, TrackKind::Video) + bandwidth(&inner, TrackKind::Audio);
        // One rendition keeps the group name players already know ("audio").
        let group = if single {
            "audio".to_owned()
        } else {
            format!("audio-{prefix}")
        };
        let (uri, audio_group) = match (video, audio) {
            (Some(_), Some(_)) => (
                format!("{prefix}/video.m3u8"),
                Some(format!("{prefix}/audio.m3u8")),
            ),
            (Some(_), None) => (format!("{prefix}/video.m3u8"), None),
            (None, Some(_)) => (format!("{prefix}/audio.m3u8"), None),
            (None, None) => continue,
        };
        variants.push(Variant {
            uri,
            // Before the first segment completes, a nominal figure; players
            // only use it to choose between variants.
            bandwidth: match bandwidth {
                0 => rendition.nominal_bandwidth.unwrap_or(1_000_000),
                measured => measured,
            },
            average_bandwidth: None,
            codecs: codecs.join(","),
            resolution,
            frame_rate: None,
            audio: audio_group.as_ref().map(|_| group.clone()),
        });
        if let Some(uri) = audio_group {
            media.push(Media {
                group_id: group,
                name: rendition.name.clone(),
                uri,
                default: true,
                channels: audio.and_then(|m| match m.track.config {
                    CodecConfig::Audio { channels, .. } => Some(channels.to_string()),
                    _ => None,
                }),
            });
        }
    }
    if variants.is_empty() {
        return None;
    }
    // In the ladder's order: players that start on the first variant start on
    // the one the operator listed first.
    let playlist = MultivariantPlaylist {
        independent_segments: true,
        variants,
        media,
    };
    Some(playlist.write())
}

/// RENDITION-REPORTs for a low-latency playlist of `kind`: where each other
/// rendition of the ladder is, so a player switching to it can ask for the right
/// part at once.
pub fn rendition_reports(
    this: &Rendition,
    ladder: &[std::sync::Arc<Rendition>],
    kind: TrackKind,
) -> Vec<RenditionReport> {
    let file = match kind {
        TrackKind::Video => "video.m3u8",
        TrackKind::Audio => "audio.m3u8",
    };
    ladder
        .iter()
        .filter(|r| r.name != this.name)
        .filter_map(|r| {
            let inner = r.lock();
            if !has(&inner, kind) {
                return None;
            }
            // The newest part: of the last segment, or of the one before when the
            // last has none yet (LAST-PART is required where there are parts).
            let last = inner.segments.back()?;
            let parts = last.track(kind).parts.len();
            let (last_msn, last_part) = match parts.checked_sub(1) {
                Some(index) => (last.msn, Some(index as u64)),
                // Without parts (not low latency) a complete segment is the newest.
                None if last.complete => (last.msn, None),
                None => {
                    let previous = inner.segments.iter().rev().nth(1)?;
                    let count = previous.track(kind).parts.len();
                    (previous.msn, count.checked_sub(1).map(|i| i as u64))
                }
            };
            Some(RenditionReport {
                uri: format!("../{}/{file}", r.name),
                last_msn,
                last_part: inner.config.part_ms.and(last_part),
            })
        })
        .collect()
}

/// `video.m3u8` / `audio.m3u8`: the fMP4 media playlist of one track.
pub fn media_playlist(
    rendition: &Rendition,
    kind: TrackKind,
    reports: Vec<RenditionReport>,
) -> Option<String> {
    playlist_of(rendition, kind, false, reports)
}

/// The same playlist for files on disk (`hls.directory`): complete segments only,
/// no parts, hints or blocking (a plain file server cannot hold requests).
pub fn media_playlist_for_disk(rendition: &Rendition, kind: TrackKind) -> Option<String> {
    playlist_of(rendition, kind, true, Vec::new())
}

fn playlist_of(
    rendition: &Rendition,
    kind: TrackKind,
    for_disk: bool,
    rendition_reports: Vec<RenditionReport>,
) -> Option<String> {
    let inner = rendition.lock();
    if !has(&inner, kind) {
        return None;
    }
    let parts_from = inner.segments.len().saturating_sub(SEGMENTS_WITH_PARTS);
    let part_target = part_target(&inner).filter(|_| !for_disk);
    let mut map = None;
    let listed: Vec<&SegmentRec> = inner
        .segments
        .iter()
        .filter(|s| !for_disk || s.complete)
        .collect();
    let first = listed.first()?;
    let segments: Vec<Segment> = listed
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let track = s.track(kind);
            let segment_map = track.init.as_ref().map(|m| init_uri(rendition, kind, m.id));
            let map_uri = if segment_map != map {
                map.clone_from(&segment_map);
                segment_map
            } else {
                None
            };
            Segment {
                uri: segment_uri(rendition, kind, s.msn),
                duration: track.seconds(),
                discontinuity: s.discontinuity && i > 0,
                program_date_time_ms: Some(s.wall_ms),
                map_uri,
                parts: if part_target.is_some() && i >= parts_from {
                    track
                        .parts
                        .iter()
                        .enumerate()
                        .map(|(index, p)| Part {
                            uri: part_uri(rendition, kind, s.msn, index),
                            duration: p.duration as f64 / f64::from(track.timescale()),
                            independent: p.independent,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                complete: s.complete,
            }
        })
        .collect();
    let last = listed.last()?;
    let preload_hint = part_target.map(|_| {
        let (msn, index) = if last.complete {
            (last.msn + 1, 0)
        } else {
            (last.msn, last.track(kind).parts.len())
        };
        PreloadHint {
            kind: PreloadHintType::Part,
            uri: part_uri(rendition, kind, msn, index),
            byterange_start: None,
            byterange_length: None,
        }
    });
    let target = target_duration(&inner);
    let playlist = MediaPlaylist {
        // EXT-X-MAP needs version 6; the writer raises it where a feature needs more.
        version: 6,
        target_duration: target,
        media_sequence: first.msn,
        discontinuity_sequence: inner.discontinuity_sequence,
        independent_segments: true,
        map_uri: None,
        part_target,
        server_control: (!for_disk).then(|| ServerControl {
            can_block_reload: true,
            part_hold_back: part_target.map(|t| t * 3.0),
            hold_back: Some(f64::from(target) * 3.0),
            can_skip_until: None,
        }),
        skipped_segments: 0,
        segments,
        preload_hint,
        rendition_reports: if for_disk {
            Vec::new()
        } else {
            rendition_reports
        },
        ended: false,
    };
    Some(playlist.write())
}

/// The complete segments in the window, grouped by period.
fn periods(inner: &Inner) -> Vec<Vec<&SegmentRec>> {
    let mut periods: Vec<Vec<&SegmentRec>> = Vec::new();
    for segment in inner.segments.iter().filter(|s| s.complete) {
        match periods.last_mut() {
            Some(period) if period.first().is_some_and(|f| f.period == segment.period) => {
                period.push(segment);
            }
            _ => periods.push(vec![segment]),
        }
    }
    periods
}

/// `manifest.mpd`: a dynamic MPD, one period per publisher session (or codec
/// change) of `reference` (the source), a video and an audio adaptation set over
/// the same CMAF segments, with one representation per rendition of the ladder.
pub fn mpd(reference: &Rendition, ladder: &[std::sync::Arc<Rendition>]) -> Option<String> {
    let inner = reference.lock();
    let availability_start = inner.availability_start_ms?;
    let segment_seconds = inner.config.segment_ms as f64 / 1000.0;
    let single = ladder.len() <= 1;
    // Other renditions' windows, read once (each lock taken alone, never nested
    // with a sibling's).
    let others: Vec<(&Rendition, Vec<SegmentView>)> = ladder
        .iter()
        .filter(|r| !std::ptr::eq(r.as_ref(), reference))
        .map(|r| {
            let view = r
                .lock()
                .segments
                .iter()
                .filter(|s| s.complete)
                .map(SegmentView::of)
                .collect();
            (r.as_ref(), view)
        })
        .collect();
    let reference_listed = ladder.iter().any(|r| std::ptr::eq(r.as_ref(), reference));
    let mut out_periods = Vec::new();
    for segments in periods(&inner) {
        let Some(first) = segments.first() else {
            continue;
        };
        let (period_msn, period_wall, period_media_ms) = first.period;
        let start = (period_wall - availability_start) as f64 / 1000.0;
        let own: Vec<SegmentView> = segments.iter().map(|s| SegmentView::of(s)).collect();
        let mut adaptation_sets = Vec::new();
        for kind in [TrackKind::Video, TrackKind::Audio] {
            let mut members: Vec<(&Rendition, Vec<&SegmentView>, u64)> = Vec::new();
            if reference_listed || others.is_empty() {
                members.push((reference, own.iter().collect(), bandwidth(&inner, kind)));
            }
            for (rendition, view) in &others {
                // The same publisher session of a rendition: its period began
                // within a few seconds of the source's (it starts a little later).
                let matching: Vec<&SegmentView> = view
                    .iter()
                    .filter(|v| (v.period.1 - period_wall).abs() < 10_000)
                    .collect();
                let rate = view_bandwidth(&matching, kind);
                members.push((rendition, matching, rate));
            }
            let mut representations = Vec::new();
            let mut content = None;
            for (rendition, views, rate) in members {
                let Some(media) = views.iter().find_map(|v| v.init(kind)) else {
                    continue;
                };
                let timescale = media.track.timescale.max(1);
                // Every rendition keeps the source's timestamps, so one offset
                // (the period's first media time) serves them all.
                let offset = period_media_ms * i64::from(timescale) / 1000;
                let mut timeline: Vec<TimelineEntry> = Vec::new();
                let timings: Vec<(u64, u64)> =
                    views.iter().filter_map(|v| v.timing(kind)).collect();
                for (index, &(t, own)) in timings.iter().enumerate() {
                    // `t` is a presentation time, `own` a sum of decode durations:
                    // with a composition offset that varies by a tick (66/67 ms at
                    // 29.97 fps) they disagree. The distance to the next segment's
                    // `t` keeps the timeline gapless; a real gap (more than a tenth
                    // off) keeps the segment's own duration and shows as a new `t`.
                    let d = match timings.get(index + 1) {
                        Some(&(next, _)) if next > t && (next - t).abs_diff(own) <= own / 10 => {
                            next - t
                        }
                        _ => own,
                    };
                    match timeline.last_mut() {
                        Some(last)
                            if last.d == d && last.t + last.d * (u64::from(last.r) + 1) == t =>
                        {
                            last.r += 1;
                        }
                        _ => timeline.push(TimelineEntry { t, d, r: 0 }),
                    }
                }
                let Some(start_number) = views.first().map(|v| v.msn) else {
                    continue;
                };
                let (width, height, audio_sampling_rate, audio_channels) = match media.track.config
                {
                    CodecConfig::Video { width, height, .. } => {
                        (Some(width), Some(height), None, None)
                    }
                    CodecConfig::Audio {
                        sample_rate,
                        channels,
                        ..
                    } => (None, None, Some(sample_rate), Some(channels)),
                    _ => (None, None, None, None),
                };
                content.get_or_insert(kind);
                let prefix = &rendition.name;
                representations.push(Representation {
                    id: if single {
                        letter(kind).to_owned()
                    } else {
                        format!("{}-{prefix}", letter(kind))
                    },
                    codecs: codec_string(&media.track.config).unwrap_or_default(),
                    bandwidth: rate.max(1),
                    width,
                    height,
                    frame_rate: None,
                    audio_sampling_rate,
                    audio_channels,
                    template: SegmentTemplate {
                        timescale,
                        initialization: format!("{prefix}/{}", init_uri(rendition, kind, media.id)),
                        media: format!(
                            "{prefix}/seg-{}-{}-$Number$.m4s",
                            letter(kind),
                            rendition.generation
                        ),
                        start_number,
                        presentation_time_offset: u64::try_from(offset).unwrap_or(0),
                        timeline: Some(timeline),
                        duration: None,
                    },
                });
            }
            if content.is_none() {
                continue;
            }
            adaptation_sets.push(AdaptationSet {
                content_type: match kind {
                    TrackKind::Video => ContentType::Video,
                    TrackKind::Audio => ContentType::Audio,
                },
                mime_type: match kind {
                    TrackKind::Video => "video/mp4".to_owned(),
                    TrackKind::Audio => "audio/mp4".to_owned(),
                },
                segment_alignment: true,
                representations,
            });
        }
        out_periods.push(Period {
            id: format!("p{period_msn}"),
            start: start.max(0.0),
            adaptation_sets,
        });
    }
    if out_periods.is_empty() {
        return None;
    }
    let mpd = Mpd {
        availability_start_time_ms: availability_start,
        publish_time_ms: super::unix_ms(),
        minimum_update_period: segment_seconds,
        min_buffer_time: segment_seconds,
        suggested_presentation_delay: segment_seconds * 2.0,
        time_shift_buffer_depth: segment_seconds * inner.window as f64,
        max_segment_duration: inner.max_segment_seconds.max(segment_seconds),
        utc_timing: Some("/time".to_owned()),
        periods: out_periods,
    };
    Some(mpd.write())
}

/// What the MPD needs of one complete segment, copied out of its rendition's lock.
struct SegmentView {
    msn: u64,
    period: (u64, i64, i64),
    video: TrackView,
    audio: TrackView,
}

struct TrackView {
    init: Option<std::sync::Arc<super::rendition::TrackMedia>>,
    earliest_pts: Option<i64>,
    duration: i64,
    bytes: usize,
    seconds: f64,
}

impl SegmentView {
    fn of(segment: &SegmentRec) -> Self {
        let track = |kind| {
            let t = segment.track(kind);
            TrackView {
                init: t.init.clone(),
                earliest_pts: t.earliest_pts,
                duration: t.duration(),
                bytes: t
                    .parts
                    .iter()
                    .flat_map(|p| &p.pieces)
                    .map(|b| b.len())
                    .sum(),
                seconds: t.seconds(),
            }
        };
        Self {
            msn: segment.msn,
            period: segment.period,
            video: track(TrackKind::Video),
            audio: track(TrackKind::Audio),
        }
    }

    fn track(&self, kind: TrackKind) -> &TrackView {
        match kind {
            TrackKind::Video => &self.video,
            TrackKind::Audio => &self.audio,
        }
    }

    fn init(&self, kind: TrackKind) -> Option<std::sync::Arc<super::rendition::TrackMedia>> {
        self.track(kind).init.clone()
    }

    /// SegmentTimeline `t` (the segment's earliest presentation time, as DASH
    /// defines it: a B-frame delay after its first decode time) and `d`.
    fn timing(&self, kind: TrackKind) -> Option<(u64, u64)> {
        let track = self.track(kind);
        let t = u64::try_from(track.earliest_pts?).unwrap_or(0);
        Some((t, u64::try_from(track.duration).unwrap_or(0)))
    }
}

/// The peak segment bitrate of a track over `views` (what `bandwidth` is for the
/// reference rendition).
fn view_bandwidth(views: &[&SegmentView], kind: TrackKind) -> u64 {
    views
        .iter()
        .map(|v| {
            let t = v.track(kind);
            if t.seconds > 0.0 {
                (t.bytes as f64 * 8.0 / t.seconds) as u64
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0)
}

pub fn ts_segment_uri(rendition: &Rendition, msn: u64) -> String {
    format!("seg-t-{}-{msn}.ts", rendition.generation)
}

/// `ts.m3u8`: the MPEG-TS variant for players without fMP4 (no parts).
pub fn ts_playlist(rendition: &Rendition) -> Option<String> {
    let inner = rendition.lock();
    let complete: Vec<&SegmentRec> = inner
        .segments
        .iter()
        .filter(|s| s.complete && !s.ts.is_empty())
        .collect();
    let first = complete.first()?;
    let segments = complete
        .iter()
        .enumerate()
        .map(|(i, s)| Segment {
            uri: ts_segment_uri(rendition, s.msn),
            duration: s.seconds(),
            discontinuity: s.discontinuity && i > 0,
            program_date_time_ms: Some(s.wall_ms),
            map_uri: None,
            parts: Vec::new(),
            complete: true,
        })
        .collect();
    let playlist = MediaPlaylist {
        version: 3,
        target_duration: target_duration(&inner),
        media_sequence: first.msn,
        discontinuity_sequence: inner.discontinuity_sequence,
        independent_segments: true,
        map_uri: None,
        part_target: None,
        server_control: None,
        skipped_segments: 0,
        segments,
        preload_hint: None,
        rendition_reports: Vec::new(),
        ended: false,
    };
    Some(playlist.write())
}
