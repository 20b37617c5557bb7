//! swscale from the decoded picture to one rendition's size and pixel format. The
//! scaler is rebuilt when the source's size or format changes mid-stream.

use ff::software::scaling::{Context, Flags};
use ffmpeg_next as ff;

use super::{VideoFrame, error, is_writable};

pub struct Scaler {
    context: Option<Context>,
    /// (format, width, height) of the source the context was built for.
    source: (ff::format::Pixel, u32, u32),
    width: u32,
    height: u32,
    format: ff::format::Pixel,
    output: VideoFrame,
}

// SAFETY: a swscale context has no thread affinity; the rendition that owns this
// scaler uses it from one thread at a time (it only moves with its owner).
unsafe impl Send for Scaler {}

impl Scaler {
    pub fn new(width: u32, height: u32, format: ff::format::Pixel) -> Self {
        Self {
            context: None,
            source: (ff::format::Pixel::None, 0, 0),
            width,
            height,
            format,
            output: VideoFrame::empty(),
        }
    }

    /// The picture at the rendition's size and format: a new reference to the
    /// decoded picture when nothing needs converting, otherwise scaled into a buffer
    /// of this scaler's own (reallocated only when an encoder still holds the last).
    pub fn scale(&mut self, input: &VideoFrame) -> Result<VideoFrame, String> {
        let source = (input.format(), input.width(), input.height());
        if source == (self.format, self.width, self.height) {
            return super::reference(input);
        }
        if self.context.is_none() || self.source != source {
            // swscale asserts (aborting the whole process) on a format it has no
            // descriptor for, so a picture without one is refused here.
            if source.0.descriptor().is_none() {
                return Err(format!(
                    "swscale: the picture has no pixel format ({:?})",
                    source.0
                ));
            }
            // Bicubic, as the ffmpeg CLI's scale filter uses by default.
            let context = Context::get(
                source.0,
                source.1,
                source.2,
                self.format,
                self.width,
                self.height,
                Flags::BICUBIC,
            )
            .map_err(|e| error("swscale", e))?;
            self.context = Some(context);
            self.source = source;
        }
        if self.output.width() != self.width || !is_writable(&mut self.output) {
            self.output = VideoFrame::new(self.format, self.width, self.height);
        }
        let context = self.context.as_mut().ok_or("swscale context missing")?;
        context
            .run(input, &mut self.output)
            .map_err(|e| error("swscale", e))?;
        let mut out = super::reference(&self.output)?;
        out.set_pts(input.pts());
        Ok(out)
    }
}
