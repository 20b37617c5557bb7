//! The Multivariant (master) Playlist (RFC 8216 4.3.4; rfc8216bis 4.4.6): one
//! EXT-X-STREAM-INF per rendition of the ladder, each carrying its own audio.

use std::fmt;

use super::attr::{Quoted, UriLine};
use crate::text;

/// A Multivariant Playlist, written with [`MultivariantPlaylist::write`]. It carries
/// no EXT-X-VERSION: none of its tags or attributes needs more than version 1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultivariantPlaylist {
    /// EXT-X-MEDIA renditions (demuxed audio), written before the variants.
    pub media: Vec<Media>,
    pub variants: Vec<Variant>,
    /// EXT-X-INDEPENDENT-SEGMENTS: every segment of every variant starts with a
    /// keyframe.
    pub independent_segments: bool,
}

/// One EXT-X-STREAM-INF and its media playlist URI.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Variant {
    pub uri: String,
    /// BANDWIDTH: peak bits per second over any segment, all tracks together.
    pub bandwidth: u64,
    /// AVERAGE-BANDWIDTH: mean bits per second.
    pub average_bandwidth: Option<u64>,
    /// CODECS: comma-separated RFC 6381 strings of every track (see
    /// [`super::codec_string`]); left out when empty, though the spec asks for it.
    pub codecs: String,
    /// RESOLUTION: width × height in pixels.
    pub resolution: Option<(u32, u32)>,
    /// FRAME-RATE: frames per second, written with three decimals.
    pub frame_rate: Option<f64>,
    /// AUDIO: the GROUP-ID of the EXT-X-MEDIA audio renditions this variant plays with.
    pub audio: Option<String>,
}

/// One EXT-X-MEDIA:TYPE=AUDIO rendition (the audio of CMAF content, whose tracks
/// are separate playlists).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Media {
    pub group_id: String,
    pub name: String,
    pub uri: String,
    pub default: bool,
    /// CHANNELS, e.g. "2".
    pub channels: Option<String>,
}

impl MultivariantPlaylist {
    /// The playlist text.
    pub fn write(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for MultivariantPlaylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("#EXTM3U\n")?;
        if self.independent_segments {
            f.write_str("#EXT-X-INDEPENDENT-SEGMENTS\n")?;
        }
        for media in &self.media {
            write!(
                f,
                "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID={},NAME={},DEFAULT={},AUTOSELECT=YES",
                Quoted(&media.group_id),
                Quoted(&media.name),
                if media.default { "YES" } else { "NO" }
            )?;
            if let Some(channels) = &media.channels {
                write!(f, ",CHANNELS={}", Quoted(channels))?;
            }
            writeln!(f, ",URI={}", Quoted(&media.uri))?;
        }
        for variant in &self.variants {
            write!(f, "#EXT-X-STREAM-INF:BANDWIDTH={}", variant.bandwidth)?;
            if let Some(average) = variant.average_bandwidth {
                write!(f, ",AVERAGE-BANDWIDTH={average}")?;
            }
            if !variant.codecs.is_empty() {
                write!(f, ",CODECS={}", Quoted(&variant.codecs))?;
            }
            if let Some((width, height)) = variant.resolution {
                write!(f, ",RESOLUTION={width}x{height}")?;
            }
            if let Some(rate) = variant.frame_rate {
                write!(f, ",FRAME-RATE={}", text::fixed(rate, 3))?;
            }
            if let Some(group) = &variant.audio {
                write!(f, ",AUDIO={}", Quoted(group))?;
            }
            writeln!(f, "\n{}", UriLine(&variant.uri))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demuxed_audio_is_an_ext_x_media_group() {
        let playlist = MultivariantPlaylist {
            independent_segments: false,
            media: vec![Media {
                group_id: "audio".into(),
                name: "source".into(),
                uri: "source/audio.m3u8".into(),
                default: true,
                channels: Some("2".into()),
            }],
            variants: vec![Variant {
                uri: "source/video.m3u8".into(),
                bandwidth: 5_000_000,
                codecs: "avc1.640028,mp4a.40.2".into(),
                audio: Some("audio".into()),
                ..Variant::default()
            }],
        };
        assert_eq!(
            playlist.write(),
            "#EXTM3U\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"source\",DEFAULT=YES,AUTOSELECT=YES,\
             CHANNELS=\"2\",URI=\"source/audio.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=5000000,CODECS=\"avc1.640028,mp4a.40.2\",AUDIO=\"audio\"\n\
             source/video.m3u8\n"
        );
    }

    #[test]
    fn ladder() {
        let playlist = MultivariantPlaylist {
            media: Vec::new(),
            independent_segments: true,
            variants: vec![
                Variant {
                    uri: "source/index.m3u8".into(),
                    bandwidth: 6_628_000,
                    average_bandwidth: Some(5_128_000),
                    codecs: "avc1.640028,mp4a.40.2".into(),
                    resolution: Some((1920, 1080)),
                    frame_rate: Some(29.97003),
                    audio: None,
                },
                Variant {
                    uri: "720p/index.m3u8".into(),
                    bandwidth: 2_756_000,
                    average_bandwidth: None,
                    codecs: "avc1.64001f,mp4a.40.2".into(),
                    resolution: Some((1280, 720)),
                    frame_rate: Some(30.0),
                    audio: None,
                },
                Variant {
                    uri: "audio/index.m3u8".into(),
                    bandwidth: 132_000,
                    codecs: "mp4a.40.2".into(),
                    ..Variant::default()
                },
            ],
        };
        assert_eq!(
            playlist.write(),
            "#EXTM3U\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=6628000,AVERAGE-BANDWIDTH=5128000,\
             CODECS=\"avc1.640028,mp4a.40.2\",RESOLUTION=1920x1080,FRAME-RATE=29.970\n\
             source/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2756000,CODECS=\"avc1.64001f,mp4a.40.2\",\
             RESOLUTION=1280x720,FRAME-RATE=30.000\n\
             720p/index.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=132000,CODECS=\"mp4a.40.2\"\n\
             audio/index.m3u8\n"
        );
    }

    #[test]
    fn empty_codecs_are_left_out() {
        let playlist = MultivariantPlaylist {
            media: Vec::new(),
            variants: vec![Variant {
                uri: "a.m3u8".into(),
                bandwidth: 1,
                ..Variant::default()
            }],
            independent_segments: false,
        };
        assert_eq!(
            playlist.write(),
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n"
        );
    }
}
