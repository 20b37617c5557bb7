//! The MPD of a live presentation (ISO/IEC 23009-1 5.3.1, `type="dynamic"`, the
//! isoff-live profile) and its Periods (5.3.2), following the DASH-IF IOP for live
//! services: every timing attribute present, segments addressed by SegmentTemplate.

use std::fmt;

use super::AdaptationSet;
use super::duration::Duration;
use super::xml::{attr, indent};
use crate::text;

const NAMESPACE: &str = "urn:mpeg:dash:schema:mpd:2011";
const LIVE_PROFILE: &str = "urn:mpeg:dash:profile:isoff-live:2011";
/// UTCTiming by an HTTP GET whose body is an ISO 8601 time.
const UTC_TIMING_HTTP_ISO: &str = "urn:mpeg:dash:utc:http-iso:2014";

/// A dynamic MPD, written with [`Mpd::write`]. Times are Unix milliseconds and
/// durations seconds; the server supplies both (nothing here reads a clock).
#[derive(Debug, Clone, PartialEq)]
pub struct Mpd {
    /// `availabilityStartTime`: the wall-clock time of media time 0 of the first
    /// Period, as Unix milliseconds. Constant for the life of the presentation.
    pub availability_start_time_ms: i64,
    /// `publishTime`: when this version of the MPD was generated, as Unix ms.
    pub publish_time_ms: i64,
    /// `minimumUpdatePeriod`: how often clients re-fetch the MPD, in seconds.
    pub minimum_update_period: f64,
    /// `minBufferTime`, seconds.
    pub min_buffer_time: f64,
    /// `suggestedPresentationDelay`: distance behind the live edge clients play at.
    pub suggested_presentation_delay: f64,
    /// `timeShiftBufferDepth`: how far back segments stay available, seconds.
    pub time_shift_buffer_depth: f64,
    /// `maxSegmentDuration`, seconds.
    pub max_segment_duration: f64,
    /// URL for `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014">`, which
    /// lets clients correct their clock against the server's (DASH-IF IOP recommends
    /// one for every live MPD).
    pub utc_timing: Option<String>,
    /// Periods in order; a new one starts after a publisher reconnect or a codec
    /// change.
    pub periods: Vec<Period>,
}

/// A Period: a stretch of the presentation with one set of tracks and timelines.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    /// Unique within the MPD and stable across updates (required for dynamic MPDs).
    pub id: String,
    /// Start in seconds after `availabilityStartTime`.
    pub start: f64,
    pub adaptation_sets: Vec<AdaptationSet>,
}

impl Mpd {
    /// The MPD document.
    pub fn write(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Mpd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD")?;
        attr(f, "xmlns", NAMESPACE)?;
        attr(f, "profiles", LIVE_PROFILE)?;
        attr(f, "type", "dynamic")?;
        attr(
            f,
            "availabilityStartTime",
            text::iso8601_utc_ms(self.availability_start_time_ms),
        )?;
        attr(f, "publishTime", text::iso8601_utc_ms(self.publish_time_ms))?;
        attr(
            f,
            "minimumUpdatePeriod",
            Duration(self.minimum_update_period),
        )?;
        attr(f, "minBufferTime", Duration(self.min_buffer_time))?;
        attr(
            f,
            "suggestedPresentationDelay",
            Duration(self.suggested_presentation_delay),
        )?;
        attr(
            f,
            "timeShiftBufferDepth",
            Duration(self.time_shift_buffer_depth),
        )?;
        attr(f, "maxSegmentDuration", Duration(self.max_segment_duration))?;
        f.write_str(">\n")?;
        for period in &self.periods {
            period.write_element(f, 1)?;
        }
        // Schema order: UTCTiming follows the Periods.
        if let Some(url) = &self.utc_timing {
            indent(f, 1)?;
            f.write_str("<UTCTiming")?;
            attr(f, "schemeIdUri", UTC_TIMING_HTTP_ISO)?;
            attr(f, "value", url)?;
            f.write_str("/>\n")?;
        }
        f.write_str("</MPD>\n")
    }
}

impl Period {
    fn write_element(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        indent(f, depth)?;
        f.write_str("<Period")?;
        attr(f, "id", &self.id)?;
        attr(f, "start", Duration(self.start))?;
        f.write_str(">\n")?;
        for (id, set) in self.adaptation_sets.iter().enumerate() {
            set.write_element(f, depth + 1, id)?;
        }
        indent(f, depth)?;
        f.write_str("</Period>\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::{ContentType, Representation, SegmentTemplate, TimelineEntry, xml};

    fn video(
        id: &str,
        bandwidth: u64,
        height: u32,
        timeline: Vec<TimelineEntry>,
    ) -> Representation {
        Representation {
            id: id.into(),
            codecs: "avc1.640028".into(),
            bandwidth,
            width: Some(height * 16 / 9),
            height: Some(height),
            frame_rate: Some("30".into()),
            audio_sampling_rate: None,
            audio_channels: None,
            template: SegmentTemplate {
                timescale: 90_000,
                initialization: "$RepresentationID$/init.mp4".into(),
                media: "$RepresentationID$/seg-$Number$.m4s".into(),
                start_number: 1,
                presentation_time_offset: 0,
                timeline: Some(timeline),
                duration: None,
            },
        }
    }

    fn audio(timeline: Vec<TimelineEntry>) -> AdaptationSet {
        AdaptationSet {
            content_type: ContentType::Audio,
            mime_type: "audio/mp4".into(),
            segment_alignment: true,
            representations: vec![Representation {
                id: "audio".into(),
                codecs: "mp4a.40.2".into(),
                bandwidth: 128_000,
                width: None,
                height: None,
                frame_rate: None,
                audio_sampling_rate: Some(48_000),
                audio_channels: Some(2),
                template: SegmentTemplate {
                    timescale: 48_000,
                    initialization: "$RepresentationID$/init.mp4".into(),
                    media: "$RepresentationID$/seg-$Number$.m4s".into(),
                    start_number: 1,
                    presentation_time_offset: 0,
                    timeline: Some(timeline),
                    duration: None,
                },
            }],
        }
    }

    /// The publisher streamed 10 s from 2026-11-25T08:30:15.250Z, dropped, and came
    /// back 12.5 s after the start with a new encoder whose timestamps start at 0.
    fn two_periods() -> Mpd {
        let first_video = vec![
            TimelineEntry {
                t: 0,
                d: 180_000,
                r: 3,
            },
            TimelineEntry {
                t: 720_000,
                d: 180_000,
                r: 0,
            },
        ];
        let second_video = vec![TimelineEntry {
            t: 0,
            d: 180_000,
            r: 1,
        }];
        let mut second = video("720p", 2_500_000, 720, second_video);
        second.template.start_number = 6;
        Mpd {
            availability_start_time_ms: 1_795_595_415_250,
            publish_time_ms: 1_795_595_431_250,
            minimum_update_period: 2.0,
            min_buffer_time: 2.0,
            suggested_presentation_delay: 6.0,
            time_shift_buffer_depth: 30.0,
            max_segment_duration: 2.0,
            utc_timing: Some("https://example.com/time?fmt=iso&ms=1".into()),
            periods: vec![
                Period {
                    id: "p0".into(),
                    start: 0.0,
                    adaptation_sets: vec![
                        AdaptationSet {
                            content_type: ContentType::Video,
                            mime_type: "video/mp4".into(),
                            segment_alignment: true,
                            representations: vec![
                                video("1080p", 6_000_000, 1080, first_video.clone()),
                                video("720p", 2_500_000, 720, first_video),
                            ],
                        },
                        audio(vec![TimelineEntry {
                            t: 0,
                            d: 96_000,
                            r: 4,
                        }]),
                    ],
                },
                Period {
                    id: "p1".into(),
                    start: 12.5,
                    adaptation_sets: vec![
                        AdaptationSet {
                            content_type: ContentType::Video,
                            mime_type: "video/mp4".into(),
                            segment_alignment: true,
                            representations: vec![second],
                        },
                        audio(vec![TimelineEntry {
                            t: 0,
                            d: 96_000,
                            r: 1,
                        }]),
                    ],
                },
            ],
        }
    }

    const GOLDEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="dynamic" availabilityStartTime="2026-11-25T08:30:15.250Z" publishTime="2026-11-25T08:30:31.250Z" minimumUpdatePeriod="PT2S" minBufferTime="PT2S" suggestedPresentationDelay="PT6S" timeShiftBufferDepth="PT30S" maxSegmentDuration="PT2S">
  <Period id="p0" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="1080p" codecs="avc1.640028" bandwidth="6000000" width="1920" height="1080" frameRate="30">
        <SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="0" d="180000" r="3"/>
            <S d="180000"/>
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
      <Representation id="720p" codecs="avc1.640028" bandwidth="2500000" width="1280" height="720" frameRate="30">
        <SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="0" d="180000" r="3"/>
            <S d="180000"/>
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="audio" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
        <SegmentTemplate timescale="48000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="0" d="96000" r="4"/>
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
  <Period id="p1" start="PT12.5S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="720p" codecs="avc1.640028" bandwidth="2500000" width="1280" height="720" frameRate="30">
        <SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number$.m4s" startNumber="6">
          <SegmentTimeline>
            <S t="0" d="180000" r="1"/>
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="audio" codecs="mp4a.40.2" bandwidth="128000" audioSamplingRate="48000">
        <AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="2"/>
        <SegmentTemplate timescale="48000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number$.m4s" startNumber="1">
          <SegmentTimeline>
            <S t="0" d="96000" r="1"/>
          </SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
  <UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="https://example.com/time?fmt=iso&amp;ms=1"/>
</MPD>
"#;

    #[test]
    fn two_periods_with_timelines() {
        assert_eq!(two_periods().write(), GOLDEN);
    }

    #[test]
    fn written_mpd_is_well_formed() {
        let elements = xml::parse(&two_periods().write()).unwrap();
        let count = |name: &str| elements.iter().filter(|(n, _)| n == name).count();
        assert_eq!(count("MPD"), 1);
        assert_eq!(count("Period"), 2);
        assert_eq!(count("AdaptationSet"), 4);
        assert_eq!(count("Representation"), 5);
        assert_eq!(count("S"), 7);
        let (_, utc) = elements.iter().find(|(n, _)| n == "UTCTiming").unwrap();
        assert_eq!(
            utc[1],
            (
                "value".into(),
                "https://example.com/time?fmt=iso&ms=1".into()
            )
        );
    }

    #[test]
    fn hostile_strings_stay_attribute_values() {
        let mut mpd = two_periods();
        mpd.periods[0].id = "p\"/><Period id=\"x".into();
        mpd.periods[0].adaptation_sets[0].representations[0].id = "a&b<c>\n".into();
        mpd.utc_timing = Some("'\u{0}".into());
        let elements = xml::parse(&mpd.write()).unwrap();
        let period = elements.iter().find(|(n, _)| n == "Period").unwrap();
        assert_eq!(period.1[0].1, "p\"/><Period id=\"x");
        let rep = elements
            .iter()
            .find(|(n, _)| n == "Representation")
            .unwrap();
        assert_eq!(rep.1[0].1, "a&b<c>\n");
        assert_eq!(elements.iter().filter(|(n, _)| n == "Period").count(), 2);
    }

    #[test]
    fn constant_duration_template_and_no_utc_timing() {
        let mut mpd = two_periods();
        mpd.utc_timing = None;
        mpd.periods.truncate(1);
        for set in &mut mpd.periods[0].adaptation_sets {
            for rep in &mut set.representations {
                rep.template.timeline = None;
                rep.template.duration = Some(2 * u64::from(rep.template.timescale));
            }
        }
        let text = mpd.write();
        assert!(!text.contains("UTCTiming") && !text.contains("SegmentTimeline"));
        assert!(text.contains("startNumber=\"1\" duration=\"180000\"/>\n"));
        xml::parse(&text).unwrap();
    }
}
