//! The one FFI module: decoders, scalers and encoders of the system FFmpeg through
//! `ffmpeg-next`. Everything else in Manifold is safe Rust; the few raw calls here
//! (codec extradata, frame references, VA-API surfaces, CUDA frames and the
//! libavfilter chain that scales them) state their invariants.
#![allow(unsafe_code)]

mod audio;
mod avfilter_library;
mod cuda_scaler;
mod filter_graph;
mod hardware;
mod scaler;
mod video_decoder;
mod video_encoder;

pub use audio::{AudioDecoder, AudioEncoder, AudioTarget};
pub use cuda_scaler::{CudaScaler, UPLOAD_FORMAT as GPU_UPLOAD_FORMAT};
pub use ffmpeg_next::frame::{Audio as AudioFrame, Video as VideoFrame};
pub use scaler::Scaler;
pub use video_decoder::VideoDecoder;
pub use video_encoder::{VideoEncoder, VideoEncoderSettings};

use ffmpeg_next as ff;

/// Loads FFmpeg once per process and keeps its own log to errors (its info lines
/// would flood the server log once per rendition start).
pub fn init() -> Result<(), String> {
    static ONCE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        ff::init().map_err(|e| format!("FFmpeg did not initialise: {e}"))?;
        ff::util::log::set_level(ff::util::log::Level::Error);
        Ok(())
    })
    .clone()
}

/// The FFmpeg libraries this build runs against, for the startup banner.
pub fn version() -> String {
    let v = ff::codec::version();
    format!("libavcodec {}.{}.{}", v >> 16, (v >> 8) & 0xFF, v & 0xFF)
}

/// Whether this FFmpeg build has an encoder of that name at all.
pub fn has_encoder(name: &str) -> bool {
    ff::encoder::find_by_name(name).is_some()
}

/// A decoder context for `id`, configured with `extradata` (the track's decoder
/// record, when it has one) and the frames' timescale, not opened yet.
fn decoder_context(
    id: ff::codec::Id,
    extradata: &[u8],
    timescale: u32,
) -> Result<ff::decoder::Decoder, String> {
    init()?;
    let codec = ff::decoder::find(id).ok_or_else(|| format!("FFmpeg has no {id:?} decoder"))?;
    let mut context = ff::codec::Context::new_with_codec(codec);
    if !extradata.is_empty() {
        set_extradata(&mut context, extradata)?;
    }
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(ff::Rational::new(1, timescale.max(1) as i32));
    Ok(decoder)
}

/// A frame of the frame model as a packet for a decoder (the payload copied into
/// FFmpeg's padded buffer, which its bit readers need).
fn packet_of(frame: &protocol_parsers::media::Frame) -> ff::Packet {
    let mut packet = ff::Packet::copy(&frame.data);
    packet.set_dts(Some(frame.dts));
    packet.set_pts(Some(frame.pts()));
    if frame.is_keyframe() {
        packet.set_flags(ff::packet::Flags::KEY);
    }
    packet
}

/// Copies `data` into the context's extradata (the decoder configuration record).
fn set_extradata(context: &mut ff::codec::Context, data: &[u8]) -> Result<(), String> {
    let padding = ff::ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    let len = i32::try_from(data.len()).map_err(|_| "decoder configuration too large")?;
    // SAFETY: the context is not open yet, so nothing reads extradata concurrently;
    // the buffer comes from av_mallocz (FFmpeg frees it with the context) and holds
    // `len` bytes plus the zeroed padding FFmpeg's bit readers may over-read.
    unsafe {
        let raw = context.as_mut_ptr();
        let buffer = ff::ffi::av_mallocz(data.len() + padding).cast::<u8>();
        if buffer.is_null() {
            return Err("out of memory for the decoder configuration".into());
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buffer, data.len());
        ff::ffi::av_freep((&raw mut (*raw).extradata).cast());
        (*raw).extradata = buffer;
        (*raw).extradata_size = len;
    }
    Ok(())
}

/// The context's extradata, as an opened encoder wrote it (its global header).
fn extradata(context: &ff::codec::Context) -> Vec<u8> {
    // SAFETY: extradata/extradata_size are set together by avcodec_open2 and not
    // changed afterwards; a null pointer or non-positive size means none.
    unsafe {
        let raw = context.as_ptr();
        let size = usize::try_from((*raw).extradata_size).unwrap_or(0);
        if (*raw).extradata.is_null() || size == 0 {
            return Vec::new();
        }
        std::slice::from_raw_parts((*raw).extradata, size).to_vec()
    }
}

/// A new reference to the same picture buffers (no pixel copy), so a rendition can
/// set its own timestamp and picture type on a frame other renditions share.
pub fn reference(frame: &VideoFrame) -> Result<VideoFrame, String> {
    let mut out = VideoFrame::empty();
    // SAFETY: both pointers are valid AVFrames; av_frame_ref takes new references
    // to `frame`'s refcounted buffers and copies its properties into the empty `out`.
    let rc = unsafe { ff::ffi::av_frame_ref(out.as_mut_ptr(), frame.as_ptr()) };
    if rc < 0 {
        return Err(format!("av_frame_ref: {}", ff::Error::from(rc)));
    }
    Ok(out)
}

/// Whether nobody else holds a reference to the frame's buffers (safe to write).
fn is_writable(frame: &mut VideoFrame) -> bool {
    // SAFETY: a valid AVFrame; av_frame_is_writable only inspects buffer refcounts.
    unsafe { ff::ffi::av_frame_is_writable(frame.as_mut_ptr()) > 0 }
}

fn error(what: &str, e: ff::Error) -> String {
    format!("{what}: {e}")
}
