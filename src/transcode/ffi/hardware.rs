//! Hardware frame pools: a GPU device and a pool of pictures in its memory, which
//! pictures in system memory are uploaded into. h264_vaapi only takes VA surfaces
//! (NV12); NVENC's GPU path uploads the decoded picture into CUDA frames to scale it
//! there. (Quick Sync, and NVENC without GPU scaling, take system-memory pictures and
//! upload them themselves.)

use std::collections::HashMap;
use std::ffi::CString;
use std::ptr;
use std::sync::Mutex;

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
        let mut pool = Self {
            device: open_device(
                ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
                device,
                &format!("VA-API device {device}"),
            )?,
            frames: ptr::null_mut(),
            what: "VA-API surfaces",
        };
        // h264_vaapi wants its whole pool up front.
        pool.make_frames(
            ffi::AVPixelFormat::AV_PIX_FMT_VAAPI,
            ff::format::Pixel::NV12,
            (width, height),
            20,
        )?;
        Ok(pool)
    }

    /// A pool of `size` CUDA frames holding `sw_format` pictures on GPU `gpu`. The
    /// GPU's CUDA context is opened once and shared by every pool on it (each
    /// context costs GPU memory and start-up time); it stays open once used.
    pub fn cuda(gpu: u32, sw_format: ff::format::Pixel, size: (u32, u32)) -> Result<Self, String> {
        let mut pool = Self {
            device: shared_cuda_device(gpu)?,
            frames: ptr::null_mut(),
            what: "CUDA frames",
        };
        // CUDA pools grow as needed.
        pool.make_frames(ffi::AVPixelFormat::AV_PIX_FMT_CUDA, sw_format, size, 0)?;
        Ok(pool)
    }

    /// Opens GPU `gpu`'s shared CUDA context if it is not open yet (the map keeps
    /// it), without making a pool: to learn early whether the GPU is there.
    pub fn open_cuda_device(gpu: u32) -> Result<(), String> {
        let mut reference = shared_cuda_device(gpu)?;
        // SAFETY: a reference of our own; the map keeps the context alive.
        unsafe { ffi::av_buffer_unref(&mut reference) };
        Ok(())
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
    pub fn attach(&self, encoder: &mut ff::encoder::video::Video) -> Result<(), String> {
        attach_frames(encoder, self.frames, self.what)
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
            let rc = ffi::av_frame_copy_props(surface.as_mut_ptr(), picture.as_ptr());
            if rc < 0 {
                return Err(format!("upload to {}: {}", self.what, ff::Error::from(rc)));
            }
        }
        Ok(surface)
    }
}

/// Makes the (not yet opened) encoder take its pictures from the initialised pool
/// `frames` (borrowed; the encoder takes its own reference), in the pool's hardware
/// pixel format. `what` names the pool in messages.
pub fn attach_frames(
    encoder: &mut ff::encoder::video::Video,
    frames: *mut ffi::AVBufferRef,
    what: &str,
) -> Result<(), String> {
    if frames.is_null() {
        return Err(format!("no {what} to attach"));
    }
    // SAFETY: the encoder is not open yet; `frames` is a live, initialised frames
    // context, whose format is its hardware pixel format.
    unsafe {
        let raw = encoder.as_mut_ptr();
        let context = (*frames).data.cast::<ffi::AVHWFramesContext>();
        (*raw).pix_fmt = (*context).format;
        (*raw).hw_frames_ctx = ffi::av_buffer_ref(frames);
        if (*raw).hw_frames_ctx.is_null() {
            return Err(format!("out of memory attaching {what}"));
        }
    }
    Ok(())
}

/// Opens a device of `kind` at `device` (a path or a GPU index); `name` says which in
/// messages. The caller owns the returned reference.
fn open_device(
    kind: ffi::AVHWDeviceType,
    device: &str,
    name: &str,
) -> Result<*mut ffi::AVBufferRef, String> {
    let path = CString::new(device).map_err(|_| format!("{name}: NUL byte in its name"))?;
    let mut opened = ptr::null_mut();
    // SAFETY: the out-pointer is valid; on failure FFmpeg leaves it null.
    let rc = unsafe {
        ffi::av_hwdevice_ctx_create(&mut opened, kind, path.as_ptr(), ptr::null_mut(), 0)
    };
    if rc < 0 {
        return Err(format!("cannot open {name}: {}", ff::Error::from(rc)));
    }
    Ok(opened)
}

/// A new reference to GPU `gpu`'s CUDA context, opened on first use. A failure is
/// not remembered: a later rendition tries again.
fn shared_cuda_device(gpu: u32) -> Result<*mut ffi::AVBufferRef, String> {
    /// The open CUDA contexts by GPU index, one reference each.
    struct Devices(HashMap<u32, *mut ffi::AVBufferRef>);
    // SAFETY: AVBufferRef reference counting is atomic; the map is only touched
    // under its mutex and every user takes its own reference.
    unsafe impl Send for Devices {}
    static DEVICES: Mutex<Option<Devices>> = Mutex::new(None);
    let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
    let devices = &mut devices.get_or_insert_with(|| Devices(HashMap::new())).0;
    let device = match devices.get(&gpu) {
        Some(device) => *device,
        None => {
            // The map keeps this first reference for the process's life.
            let device = open_device(
                ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA,
                &gpu.to_string(),
                &format!("CUDA device {gpu}"),
            )?;
            devices.insert(gpu, device);
            device
        }
    };
    // SAFETY: `device` is a live reference held by the map.
    let reference = unsafe { ffi::av_buffer_ref(device) };
    if reference.is_null() {
        return Err(format!("out of memory referencing CUDA device {gpu}"));
    }
    Ok(reference)
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
