//! Hardware frame pools: a GPU device and a pool of pictures in its memory, which
//! pictures in system memory are uploaded into. h264_vaapi only takes VA surfaces
//! (NV12); NVENC's GPU path uploads the decoded picture into CUDA frames to scale it
//! there. (Quick Sync, and NVENC without GPU scaling, take system-memory pictures and
//! upload them themselves.)

use std::ffi::CString;
use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

use super::VideoFrame;

/// A device and a pool of pictures of one size on it.
pub struct HwFramePool {
    device: *mut ffi::AVBufferRef,
    frames: *mut ffi::AVBufferRef,
    /// What the pool holds, for messages ("VA-API surfaces", "CUDA frames").
    what: &'static str,
}

// SAFETY: the buffers are refcounted FFmpeg objects used by one rendition thread at a
// time; moving the owner between threads is what FFmpeg's own tools do.
unsafe impl Send for HwFramePool {}

impl HwFramePool {
    /// Opens `device` (a DRM render node such as /dev/dri/renderD128) and a surface
    /// pool for `width`x`height` NV12 pictures.
    pub fn vaapi(device: &str, width: u32, height: u32) -> Result<Self, String> {
        if !std::path::Path::new(device).exists() {
            return Err(format!(
                "VA-API device {device} does not exist (no GPU render node; see README: hardware encoders)"
            ));
        }
        let mut pool = Self::device(
            ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
            device,
            &format!("VA-API device {device}"),
            "VA-API surfaces",
        )?;
        // h264_vaapi wants its whole pool up front.
        pool.make_frames(
            ffi::AVPixelFormat::AV_PIX_FMT_VAAPI,
            ff::format::Pixel::NV12,
            (width, height),
            20,
        )?;
        Ok(pool)
    }

    /// Opens CUDA device `gpu` and a pool of `size` CUDA frames holding `sw_format`
    /// pictures.
    pub fn cuda(gpu: u32, sw_format: ff::format::Pixel, size: (u32, u32)) -> Result<Self, String> {
        let mut pool = Self::device(
            ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
            &gpu.to_string(),
            &format!("CUDA device {gpu}"),
            "CUDA frames",
        )?;
        // CUDA pools grow as needed.
        pool.make_frames(ffi::AVPixelFormat::AV_PIX_FMT_CUDA, sw_format, size, 0)?;
        Ok(pool)
    }

    fn device(
        kind: ffi::AVHWDeviceType,
        device: &str,
        name: &str,
        what: &'static str,
    ) -> Result<Self, String> {
        let path = CString::new(device).map_err(|_| format!("{name}: NUL byte in its name"))?;
        let mut pool = Self {
            device: ptr::null_mut(),
            frames: ptr::null_mut(),
            what,
        };
        // SAFETY: the out-pointer is valid; on failure FFmpeg leaves it null.
        let rc = unsafe {
            ffi::av_hwdevice_ctx_create(&mut pool.device, kind, path.as_ptr(), ptr::null_mut(), 0)
        };
        if rc < 0 {
            return Err(format!("cannot open {name}: {}", ff::Error::from(rc)));
        }
        Ok(pool)
    }

    fn make_frames(
        &mut self,
        format: ffi::AVPixelFormat,
        sw_format: ff::format::Pixel,
        (width, height): (u32, u32),
        initial_pool_size: i32,
    ) -> Result<(), String> {
        // SAFETY: `device` is an open device; the frames context is configured
        // before its one init, and Drop frees it on failure.
        unsafe {
            self.frames = ffi::av_hwframe_ctx_alloc(self.device);
            if self.frames.is_null() {
                return Err(format!("cannot allocate {}", self.what));
            }
            let context = (*self.frames).data.cast::<ffi::AVHWFramesContext>();
            (*context).format = format;
            (*context).sw_format = sw_format.into();
            (*context).width = i32::try_from(width).unwrap_or(i32::MAX);
            (*context).height = i32::try_from(height).unwrap_or(i32::MAX);
            (*context).initial_pool_size = initial_pool_size;
            let rc = ffi::av_hwframe_ctx_init(self.frames);
            if rc < 0 {
                return Err(format!(
                    "cannot create {} of {width}x{height}: {}",
                    self.what,
                    ff::Error::from(rc)
                ));
            }
        }
        Ok(())
    }

    /// The pool (borrowed: whoever keeps it takes a reference).
    pub fn frames(&self) -> *mut ffi::AVBufferRef {
        self.frames
    }

    /// Makes the (not yet opened) encoder take pictures from this pool.
    pub fn attach(&self, encoder: &mut ff::encoder::video::Video) {
        // SAFETY: the encoder is not open yet; it gets its own reference to the pool,
        // whose frames context says its hardware pixel format.
        unsafe {
            let raw = encoder.as_mut_ptr();
            let context = (*self.frames).data.cast::<ffi::AVHWFramesContext>();
            (*raw).pix_fmt = (*context).format;
            (*raw).hw_frames_ctx = ffi::av_buffer_ref(self.frames);
        }
    }

    /// A picture of the pool holding `picture` (the pool's size and software
    /// format), with its properties.
    pub fn upload(&self, picture: &VideoFrame) -> Result<VideoFrame, String> {
        let mut surface = VideoFrame::empty();
        // SAFETY: `surface` is a fresh AVFrame filled from the pool; the transfer
        // reads `picture`, whose size and format the caller matched to the pool.
        unsafe {
            let rc = ffi::av_hwframe_get_buffer(self.frames, surface.as_mut_ptr(), 0);
            if rc < 0 {
                return Err(format!("no free {}: {}", self.what, ff::Error::from(rc)));
            }
            let rc = ffi::av_hwframe_transfer_data(surface.as_mut_ptr(), picture.as_ptr(), 0);
            if rc < 0 {
                return Err(format!("upload to {}: {}", self.what, ff::Error::from(rc)));
            }
            ffi::av_frame_copy_props(surface.as_mut_ptr(), picture.as_ptr());
        }
        Ok(surface)
    }
}

impl Drop for HwFramePool {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or a reference this struct owns; whatever
        // else uses the pool (an encoder, a filter graph) holds its own reference.
        unsafe {
            ffi::av_buffer_unref(&mut self.frames);
            ffi::av_buffer_unref(&mut self.device);
        }
    }
}
