//! VA-API: h264_vaapi only takes pictures in VA surfaces, so a rendition opens the
//! DRM render node, keeps a pool of NV12 surfaces and uploads each scaled picture.
//! (NVENC and Quick Sync accept system-memory pictures and upload them themselves.)

use std::ffi::CString;
use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

use super::VideoFrame;

/// A VA-API device and a pool of surfaces of one size.
pub struct VaapiFrames {
    device: *mut ffi::AVBufferRef,
    frames: *mut ffi::AVBufferRef,
}

// SAFETY: the buffers are refcounted FFmpeg objects used by one rendition thread at a
// time; moving the owner between threads is what FFmpeg's own tools do.
unsafe impl Send for VaapiFrames {}

impl VaapiFrames {
    /// Opens `device` (a DRM render node such as /dev/dri/renderD128) and a surface
    /// pool for `width`x`height` NV12 pictures.
    pub fn open(device: &str, width: u32, height: u32) -> Result<Self, String> {
        if !std::path::Path::new(device).exists() {
            return Err(format!(
                "VA-API device {device} does not exist (no GPU render node; see README: hardware encoders)"
            ));
        }
        let path = CString::new(device).map_err(|_| "VA-API device path contains a NUL byte")?;
        let mut this = Self {
            device: ptr::null_mut(),
            frames: ptr::null_mut(),
        };
        // SAFETY: out-pointers are valid; on failure FFmpeg leaves them null and Drop
        // frees whatever was created.
        unsafe {
            let rc = ffi::av_hwdevice_ctx_create(
                &mut this.device,
                ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
                path.as_ptr(),
                ptr::null_mut(),
                0,
            );
            if rc < 0 {
                return Err(format!(
                    "cannot open VA-API device {device}: {}",
                    ff::Error::from(rc)
                ));
            }
            this.frames = ffi::av_hwframe_ctx_alloc(this.device);
            if this.frames.is_null() {
                return Err("cannot allocate VA-API surfaces".into());
            }
            let context = (*this.frames).data.cast::<ffi::AVHWFramesContext>();
            (*context).format = ffi::AVPixelFormat::AV_PIX_FMT_VAAPI;
            (*context).sw_format = ffi::AVPixelFormat::AV_PIX_FMT_NV12;
            (*context).width = i32::try_from(width).unwrap_or(i32::MAX);
            (*context).height = i32::try_from(height).unwrap_or(i32::MAX);
            (*context).initial_pool_size = 20;
            let rc = ffi::av_hwframe_ctx_init(this.frames);
            if rc < 0 {
                return Err(format!(
                    "cannot create VA-API surfaces of {width}x{height}: {}",
                    ff::Error::from(rc)
                ));
            }
        }
        Ok(this)
    }

    /// Makes the (not yet opened) encoder take pictures from this pool.
    pub fn attach(&self, encoder: &mut ff::encoder::video::Video) {
        // SAFETY: the encoder is not open yet; it gets its own reference to the pool.
        unsafe {
            let raw = encoder.as_mut_ptr();
            (*raw).pix_fmt = ffi::AVPixelFormat::AV_PIX_FMT_VAAPI;
            (*raw).hw_frames_ctx = ffi::av_buffer_ref(self.frames);
        }
    }

    /// A VA surface holding `picture` (NV12, the pool's size), with its properties.
    pub fn upload(&self, picture: &VideoFrame) -> Result<VideoFrame, String> {
        let mut surface = VideoFrame::empty();
        // SAFETY: `surface` is a fresh AVFrame filled from the pool; the transfer
        // reads `picture`, whose size and format match the pool's sw_format.
        unsafe {
            let rc = ffi::av_hwframe_get_buffer(self.frames, surface.as_mut_ptr(), 0);
            if rc < 0 {
                return Err(format!("no free VA-API surface: {}", ff::Error::from(rc)));
            }
            let rc = ffi::av_hwframe_transfer_data(surface.as_mut_ptr(), picture.as_ptr(), 0);
            if rc < 0 {
                return Err(format!("VA-API upload: {}", ff::Error::from(rc)));
            }
            ffi::av_frame_copy_props(surface.as_mut_ptr(), picture.as_ptr());
        }
        Ok(surface)
    }
}

impl Drop for VaapiFrames {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or a reference this struct owns.
        unsafe {
            ffi::av_buffer_unref(&mut self.frames);
            ffi::av_buffer_unref(&mut self.device);
        }
    }
}
