//! The CMAF writer (`protocol_parsers::mp4`) against ffprobe: the test clip's FLV
//! tags are demuxed into frames, written as an init segment plus one fragment per
//! GOP, and ffprobe must read back every packet of the source with the same size,
//! keyframe flag, dts and pts, and the right codecs and dimensions.

mod common;

use common::{ffprobe, test_media};
use protocol_parsers::media::{Frame, Track, TrackId};
use protocol_parsers::mp4::{self, Sample, TrackFragment};

#[path = "../protocol-parsers/tests/support/flv_file.rs"]
mod flv_file;
use flv_file::demux_flv;

/// Samples of one track from `frames`, durations from the next frame's dts (the
/// last one repeats the previous duration).
fn samples(frames: &[&Frame], next_dts: Option<i64>) -> Vec<Sample> {
    frames
        .iter()
        .enumerate()
        .map(|(i, frame)| {
            let next = frames.get(i + 1).map(|f| f.dts).or(next_dts);
            let duration = match next {
                Some(next) => next - frame.dts,
                None if i > 0 => frame.dts - frames[i - 1].dts,
                None => 0,
            };
            Sample {
                duration: duration as u32,
                cts: frame.cts,
                keyframe: frame.track == TrackId::AUDIO || frame.is_keyframe(),
                data: frame.data.clone(),
            }
        })
        .collect()
}

/// The test clip written as an init segment plus one fragment per GOP: its tracks,
/// its frames, the file, and where each fragment's `moof` starts in it.
struct Written {
    tracks: Vec<Track>,
    frames: Vec<Frame>,
    file: Vec<u8>,
    moof_offsets: Vec<usize>,
}

fn write_clip() -> Written {
    let clip = test_media(5);
    let (tracks, frames) = demux_flv(&clip);
    assert_eq!(tracks.len(), 2, "video and audio tracks");
    let refs: Vec<&Track> = tracks.iter().collect();
    let mut file: Vec<u8> = mp4::init_segment(&refs).expect("init segment").to_vec();
    let mut moof_offsets = Vec::new();

    // One fragment per GOP: cut at every video keyframe.
    let cuts: Vec<i64> = frames
        .iter()
        .filter(|f| f.track == TrackId::VIDEO && f.is_keyframe())
        .map(|f| f.dts)
        .collect();
    assert!(cuts.len() >= 2, "the clip has several GOPs");
    let mut pieces_total = 0;
    for (n, start) in cuts.iter().enumerate() {
        let end = cuts.get(n + 1).copied();
        let in_gop = |f: &&Frame| f.dts >= *start && end.is_none_or(|e| f.dts < e);
        let mut fragments = Vec::new();
        let mut all_samples = Vec::new();
        for track in &tracks {
            let own: Vec<&Frame> = frames
                .iter()
                .filter(|f| f.track == track.id)
                .filter(in_gop)
                .collect();
            if own.is_empty() {
                continue;
            }
            let next = frames
                .iter()
                .filter(|f| f.track == track.id)
                .map(|f| f.dts)
                .find(|d| end.is_some_and(|e| *d >= e));
            all_samples.push((track.id, own[0].dts, samples(&own, next)));
        }
        for (id, base, samples) in &all_samples {
            fragments.push(TrackFragment {
                track_id: mp4::track_id(*id),
                base_decode_time: *base as u64,
                samples,
            });
        }
        if n == 0 {
            file.extend_from_slice(&mp4::segment_type());
        }
        let pieces = mp4::fragment(n as u32 + 1, &fragments).expect("fragment");
        // The payloads are the frames' own buffers, not copies.
        let first_payload = &pieces[1];
        assert_eq!(first_payload.as_ptr(), all_samples[0].2[0].data.as_ptr());
        pieces_total += pieces.len();
        moof_offsets.push(file.len());
        for piece in pieces {
            file.extend_from_slice(&piece);
        }
    }
    assert_eq!(pieces_total, frames.len() + cuts.len());
    Written {
        tracks,
        frames,
        file,
        moof_offsets,
    }
}

#[test]
fn ffprobe_reads_back_every_frame_of_the_clip_from_init_and_fragments() {
    let clip = test_media(5);
    let Written { file, .. } = write_clip();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, &file).expect("write mp4");

    let info = ffprobe::streams(path.to_str().unwrap());
    assert_eq!(info.video_codec.as_deref(), Some("h264"));
    assert_eq!(info.audio_codec.as_deref(), Some("aac"));
    assert_eq!((info.width, info.height), (1920, 1080));

    let source = ffprobe::file_packets(&clip);
    let written = ffprobe::file_packets(&path);
    let key = |p: &ffprobe::Packet| (p.video, p.dts, p.pts, p.size, p.keyframe || !p.video);
    let mut want: Vec<_> = source.iter().map(key).collect();
    let mut got: Vec<_> = written.iter().map(key).collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len(), "packet count");
    let first_difference = got.iter().zip(&want).position(|(g, w)| g != w);
    assert_eq!(
        first_difference,
        None,
        "first differing packet: {:?}",
        first_difference.map(|i| (got[i], want[i]))
    );
}

/// ISO/IEC 14496-12 sample flags: `sample_is_non_sync_sample`.
const NON_SYNC: u32 = 0x0001_0000;

#[test]
fn an_independent_mp4_parser_reads_the_init_segment_and_every_fragment() {
    use independent_mp4::{Mp4Reader, TrackType};

    let Written {
        tracks,
        frames,
        file,
        moof_offsets,
    } = write_clip();
    let reader = Mp4Reader::read_header(std::io::Cursor::new(&file), file.len() as u64)
        .expect("the mp4 crate parses init + fragments");
    assert!(reader.is_fragmented());
    assert_eq!(reader.ftyp.major_brand.to_string(), "iso6", "CMAF brand");
    assert_eq!(reader.tracks().len(), 2);
    for track in &tracks {
        let parsed = reader
            .tracks()
            .get(&mp4::track_id(track.id))
            .expect("every track in moov");
        assert_eq!(
            parsed.timescale(),
            track.timescale,
            "timescale of track {:?}",
            track.id
        );
        match parsed.track_type().expect("track type") {
            TrackType::Video => {
                assert_eq!((parsed.width(), parsed.height()), (1920, 1080));
                assert_eq!(parsed.media_type().expect("media").to_string(), "h264");
            }
            TrackType::Audio => {
                assert_eq!(parsed.media_type().expect("media").to_string(), "aac");
            }
            other => panic!("unexpected track type {other:?}"),
        }
    }
    assert_eq!(reader.moofs.len(), moof_offsets.len(), "one moof per GOP");
    let mut seen = 0;
    for ((n, moof), moof_start) in reader.moofs.iter().enumerate().zip(&moof_offsets) {
        assert_eq!(moof.mfhd.sequence_number, n as u32 + 1);
        for traf in &moof.trafs {
            let id = tracks
                .iter()
                .find(|t| mp4::track_id(t.id) == traf.tfhd.track_id)
                .expect("traf of a known track")
                .id;
            let trun = traf.trun.as_ref().expect("trun");
            let base = traf.tfdt.as_ref().expect("tfdt").base_media_decode_time as i64;
            let own: Vec<&Frame> = frames
                .iter()
                .filter(|f| f.track == id && f.dts >= base)
                .take(trun.sample_count as usize)
                .collect();
            assert_eq!(own.len(), trun.sample_count as usize);
            assert_eq!(own[0].dts, base, "tfdt is the first sample's dts");
            // Payloads: from the moof's start plus the trun's data offset, in order.
            let mut at = moof_start + trun.data_offset.expect("data offset") as usize;
            let mut dts = base;
            for (i, frame) in own.iter().enumerate() {
                let size = trun.sample_sizes[i] as usize;
                assert_eq!(size, frame.data.len(), "sample size");
                assert_eq!(&file[at..at + size], &frame.data[..], "sample bytes");
                at += size;
                assert_eq!(dts, frame.dts, "durations add up to the next dts");
                dts += i64::from(trun.sample_durations[i]);
                // Video carries per-sample composition offsets (B-frames); audio none.
                match trun.sample_cts.get(i) {
                    Some(cts) => assert_eq!(*cts as i32, frame.cts, "composition offset"),
                    None => assert_eq!(frame.cts, 0, "a composition offset went missing"),
                }
                let flags = match (i, trun.first_sample_flags) {
                    (0, Some(first)) => first,
                    _ => trun
                        .sample_flags
                        .get(i)
                        .copied()
                        .or(traf.tfhd.default_sample_flags)
                        .unwrap_or(0),
                };
                let sync = flags & NON_SYNC == 0;
                assert_eq!(
                    sync,
                    frame.track == TrackId::AUDIO || frame.is_keyframe(),
                    "sync flag"
                );
                seen += 1;
            }
        }
    }
    assert_eq!(seen, frames.len(), "every frame in some fragment");
}
