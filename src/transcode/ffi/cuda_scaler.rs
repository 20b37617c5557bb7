//! NVENC's GPU path: each NVENC rendition uploads the decoded picture into a CUDA
//! frame pool (on the GPU's one shared CUDA context), scales it there with
//! `scale_cuda` and hands it to h264_nvenc as a CUDA frame, so the rendition does no
//! scaling on the CPU and the encoder no copy of its own. (One upload per rung of a
//! 1080p30 picture is about 93 MB/s over PCIe; sharing one upload across the rungs
//! of a source is not done.)

use ff::ffi;
use ffmpeg_next as ff;

use super::VideoFrame;
use super::filter_graph::{FilterGraph, GraphInput, filter_available};
use super::hardware::{HwFramePool, attach_frames};

/// The software format pictures are uploaded in (what the decoder gives for 8-bit
/// 4:2:0 H.264, and what scale_cuda and NVENC take).
pub const UPLOAD_FORMAT: ff::format::Pixel = ff::format::Pixel::YUV420P;

pub struct CudaScaler {
    graph: FilterGraph,
    pool: HwFramePool,
    input_size: (u32, u32),
}

impl CudaScaler {
    /// Whether this FFmpeg can scale on an NVIDIA GPU at all (libavfilter loads
    /// and was built with CUDA); if not, why. Without it NVENC renditions scale
    /// with swscale, as x264's do. It loads libavfilter, so ask only once a CUDA
    /// device has opened (`open_gpu`).
    pub fn available() -> Result<(), String> {
        filter_available("scale_cuda")
    }

    /// Opens GPU `gpu`'s CUDA context (shared, kept for the process's life), the
    /// first thing an NVENC rendition needs.
    pub fn open_gpu(gpu: u32) -> Result<(), String> {
        HwFramePool::open_cuda_device(gpu)
    }

    /// Opens GPU `gpu` and a chain from `input`-sized pictures to `output`-sized
    /// ones, timestamps in 1/`timescale` s.
    pub fn open(
        gpu: u32,
        input: (u32, u32),
        output: (u32, u32),
        timescale: u32,
    ) -> Result<Self, String> {
        let pool = HwFramePool::cuda(gpu, UPLOAD_FORMAT, input)?;
        let graph = FilterGraph::new(
            &GraphInput {
                format: ffi::AVPixelFormat::AV_PIX_FMT_CUDA,
                width: input.0,
                height: input.1,
                timescale,
                hw_frames: pool.frames(),
            },
            &format!("scale_cuda=w={}:h={}", output.0, output.1),
        )?;
        if graph.output_hw_frames().is_null() {
            return Err("scale_cuda put out no CUDA frames".into());
        }
        Ok(Self {
            graph,
            pool,
            input_size: input,
        })
    }

    /// Makes the (not yet opened) encoder take the scaler's CUDA frames.
    pub fn attach(&self, encoder: &mut ff::encoder::video::Video) -> Result<(), String> {
        attach_frames(
            encoder,
            self.graph.output_hw_frames(),
            "scale_cuda's frames",
        )
    }

    /// Uploads `picture` (`UPLOAD_FORMAT`, the input size) and scales it on the GPU.
    pub fn scale(&mut self, picture: &VideoFrame) -> Result<VideoFrame, String> {
        let size = (picture.width(), picture.height());
        if picture.format() != UPLOAD_FORMAT || size != self.input_size {
            return Err(format!(
                "GPU scaler built for {}x{} {:?} got {}x{} {:?}",
                self.input_size.0,
                self.input_size.1,
                UPLOAD_FORMAT,
                size.0,
                size.1,
                picture.format()
            ));
        }
        let surface = self.pool.upload(picture)?;
        self.graph
            .run(surface)?
            .ok_or_else(|| "scale_cuda held a picture back".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine with an NVIDIA GPU (the device machine) a picture is uploaded,
    /// scaled by scale_cuda and comes back at its size; on one without (CI) opening
    /// fails with the reason, at open and not at the first picture.
    #[test]
    fn scales_on_the_gpu_or_says_why_not() {
        if let Err(why) = CudaScaler::available() {
            panic!("{why} (Debian 12's libavfilter8 has scale_cuda)");
        }
        let has_gpu = std::path::Path::new("/dev/nvidiactl").exists();
        match CudaScaler::open(0, (1280, 720), (640, 360), 1000) {
            Ok(mut scaler) => {
                assert!(has_gpu, "CUDA opened without /dev/nvidiactl");
                for n in 0..3 {
                    let mut picture = VideoFrame::new(UPLOAD_FORMAT, 1280, 720);
                    picture.set_pts(Some(n * 33));
                    let out = scaler.scale(&picture).expect("scaled on the GPU");
                    assert_eq!(out.format(), ff::format::Pixel::CUDA);
                    assert_eq!((out.width(), out.height()), (640, 360));
                    assert_eq!(out.pts(), Some(n * 33));
                    let mut back = VideoFrame::empty();
                    // SAFETY: `out` is a CUDA frame; `back` a fresh frame FFmpeg fills.
                    let rc = unsafe {
                        ffi::av_hwframe_transfer_data(back.as_mut_ptr(), out.as_ptr(), 0)
                    };
                    assert!(rc >= 0, "download: {}", ff::Error::from(rc));
                    assert_eq!((back.width(), back.height()), (640, 360));
                }
                let wrong = VideoFrame::new(UPLOAD_FORMAT, 640, 480);
                let error = scaler.scale(&wrong).err().expect("wrong size refused");
                assert!(error.contains("1280x720"), "{error}");
            }
            Err(error) => {
                assert!(!has_gpu, "an NVIDIA GPU is here, yet: {error}");
                assert!(error.starts_with("cannot open CUDA device 0: "), "{error}");
            }
        }
    }
}
