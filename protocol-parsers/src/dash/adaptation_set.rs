//! AdaptationSet (ISO/IEC 23009-1 5.3.3) and Representation (5.3.5): the switchable
//! encodings of one media component, e.g. the video renditions of a ladder.

use std::fmt;

use super::SegmentTemplate;
use super::xml::{attr, indent};

/// The `contentType` of an adaptation set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    Video,
    Audio,
}

impl ContentType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Audio => "audio",
        }
    }
}

/// An AdaptationSet. Its `id` is its index within the Period (the schema wants an
/// unsigned integer); keep the order of sets the same across Periods so a client can
/// follow a set from one Period into the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdaptationSet {
    pub content_type: ContentType,
    /// `video/mp4` or `audio/mp4` for CMAF.
    pub mime_type: String,
    /// `segmentAlignment="true"`: segments of all representations start and end at
    /// the same times, so a client can switch at any segment boundary.
    pub segment_alignment: bool,
    pub representations: Vec<Representation>,
}

/// A Representation: one encoding, addressed by its SegmentTemplate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    /// Expanded into `$RepresentationID$`; must not contain whitespace (the schema's
    /// StringNoWhitespaceType).
    pub id: String,
    /// RFC 6381 codec string, e.g. from [`crate::hls::codec_string`].
    pub codecs: String,
    /// Bits per second.
    pub bandwidth: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// `frameRate`: an integer or a ratio, e.g. `30` or `30000/1001`.
    pub frame_rate: Option<String>,
    /// `audioSamplingRate` in Hz.
    pub audio_sampling_rate: Option<u32>,
    /// Channel count, written as an AudioChannelConfiguration (ISO/IEC 23001-8
    /// channel configuration scheme), which the DASH-IF guidelines require for audio.
    pub audio_channels: Option<u8>,
    pub template: SegmentTemplate,
}

/// The scheme whose value is the plain channel count.
const CHANNEL_CONFIGURATION_SCHEME: &str = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";

impl AdaptationSet {
    pub(super) fn write_element(
        &self,
        f: &mut fmt::Formatter<'_>,
        depth: usize,
        id: usize,
    ) -> fmt::Result {
        indent(f, depth)?;
        f.write_str("<AdaptationSet")?;
        attr(f, "id", id)?;
        attr(f, "contentType", self.content_type.as_str())?;
        attr(f, "mimeType", &self.mime_type)?;
        if self.segment_alignment {
            attr(f, "segmentAlignment", "true")?;
        }
        // Every CMAF segment the server writes starts with a keyframe whose
        // presentation time is the segment's earliest (SAP type 1).
        attr(f, "startWithSAP", 1)?;
        f.write_str(">\n")?;
        for representation in &self.representations {
            representation.write_element(f, depth + 1)?;
        }
        indent(f, depth)?;
        f.write_str("</AdaptationSet>\n")
    }
}

impl Representation {
    fn write_element(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        indent(f, depth)?;
        f.write_str("<Representation")?;
        attr(f, "id", &self.id)?;
        attr(f, "codecs", &self.codecs)?;
        attr(f, "bandwidth", self.bandwidth)?;
        if let Some(width) = self.width {
            attr(f, "width", width)?;
        }
        if let Some(height) = self.height {
            attr(f, "height", height)?;
        }
        if let Some(rate) = &self.frame_rate {
            attr(f, "frameRate", rate)?;
        }
        if let Some(rate) = self.audio_sampling_rate {
            attr(f, "audioSamplingRate", rate)?;
        }
        f.write_str(">\n")?;
        // Schema order: AudioChannelConfiguration (RepresentationBaseType) comes before
        // the SegmentTemplate.
        if let Some(channels) = self.audio_channels {
            indent(f, depth + 1)?;
            f.write_str("<AudioChannelConfiguration")?;
            attr(f, "schemeIdUri", CHANNEL_CONFIGURATION_SCHEME)?;
            attr(f, "value", channels)?;
            f.write_str("/>\n")?;
        }
        self.template.write_element(f, depth + 1)?;
        indent(f, depth)?;
        f.write_str("</Representation>\n")
    }
}
