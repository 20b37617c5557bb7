//! A one-input, one-output libavfilter chain (`buffer` → FILTERS → `buffersink`),
//! for pictures in system memory or in a hardware frame pool. Manifold scales with
//! swscale on the CPU; this exists for the GPU's scaler (`scale_cuda`), which only
//! libavfilter offers.

use std::ffi::CString;
use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

use super::VideoFrame;
use super::avfilter_library::{AvFilterLibrary, avfilter};

/// What the graph's input carries.
pub struct GraphInput {
    pub format: ffi::AVPixelFormat,
    pub width: u32,
    pub height: u32,
    /// The pts unit, 1/`timescale` s.
    pub timescale: u32,
    /// The frame pool input pictures come from, for hardware formats (borrowed:
    /// the graph takes its own reference).
    pub hw_frames: *mut ffi::AVBufferRef,
}

pub struct FilterGraph {
    library: &'static AvFilterLibrary,
    graph: *mut ffi::AVFilterGraph,
    source: *mut ffi::AVFilterContext,
    sink: *mut ffi::AVFilterContext,
}

// SAFETY: the graph and its filters are owned by this value and used by one
// rendition thread at a time; FFmpeg's graphs have no thread affinity.
unsafe impl Send for FilterGraph {}

/// Whether libavfilter loads and has a filter of that name; if not, why.
pub fn filter_available(name: &str) -> Result<(), String> {
    let library = avfilter()?;
    let c_name = CString::new(name).map_err(|_| "filter name contains a NUL byte")?;
    // SAFETY: a lookup in FFmpeg's static filter table by a NUL-terminated name.
    if unsafe { (library.get_by_name)(c_name.as_ptr()) }.is_null() {
        return Err(format!("this libavfilter has no {name} filter"));
    }
    Ok(())
}

impl FilterGraph {
    /// Builds and configures `buffer` → `filters` (libavfilter's chain syntax, e.g.
    /// `scale_cuda=w=1280:h=720`) → `buffersink` for `input`.
    pub fn new(input: &GraphInput, filters: &str) -> Result<Self, String> {
        super::init()?;
        let library = avfilter()?;
        let spec = CString::new(filters).map_err(|_| "filter chain contains a NUL byte")?;
        // SAFETY: every pointer is checked before use; on any failure `Drop` frees
        // the graph, which owns every filter context created in it.
        unsafe {
            let mut this = Self {
                library,
                graph: (library.graph_alloc)(),
                source: ptr::null_mut(),
                sink: ptr::null_mut(),
            };
            if this.graph.is_null() {
                return Err("cannot allocate a filter graph".into());
            }
            // No slice-thread pool: libavfilter would start one per graph (a thread
            // per core) that a one-picture-at-a-time GPU scaler never uses.
            (*this.graph).nb_threads = 1;
            this.source = (library.graph_alloc_filter)(
                this.graph,
                (library.get_by_name)(c"buffer".as_ptr()),
                c"in".as_ptr(),
            );
            if this.source.is_null() {
                return Err("cannot create the filter chain's buffer source".into());
            }
            let params = (library.buffersrc_parameters_alloc)();
            if params.is_null() {
                return Err("cannot allocate buffer source parameters".into());
            }
            (*params).format = input.format as i32;
            (*params).width = i32::try_from(input.width).unwrap_or(i32::MAX);
            (*params).height = i32::try_from(input.height).unwrap_or(i32::MAX);
            (*params).time_base = ffi::AVRational {
                num: 1,
                den: i32::try_from(input.timescale.max(1)).unwrap_or(i32::MAX),
            };
            (*params).sample_aspect_ratio = ffi::AVRational { num: 1, den: 1 };
            // The source takes its own reference to the pool.
            (*params).hw_frames_ctx = input.hw_frames;
            let rc = (library.buffersrc_parameters_set)(this.source, params);
            ffi::av_free(params.cast());
            check(rc, "buffer source parameters")?;
            check(
                (library.init_str)(this.source, ptr::null()),
                "buffer source",
            )?;
            check(
                (library.graph_create_filter)(
                    &mut this.sink,
                    (library.get_by_name)(c"buffersink".as_ptr()),
                    c"out".as_ptr(),
                    ptr::null(),
                    ptr::null_mut(),
                    this.graph,
                ),
                "buffer sink",
            )?;
            // The chain between them, linked by name: [in] FILTERS [out].
            let mut outputs = (library.inout_alloc)();
            let mut inputs = (library.inout_alloc)();
            if outputs.is_null() || inputs.is_null() {
                (library.inout_free)(&mut outputs);
                (library.inout_free)(&mut inputs);
                return Err("cannot allocate filter pads".into());
            }
            (*outputs).name = ffi::av_strdup(c"in".as_ptr());
            (*inputs).name = ffi::av_strdup(c"out".as_ptr());
            if (*outputs).name.is_null() || (*inputs).name.is_null() {
                (library.inout_free)(&mut outputs);
                (library.inout_free)(&mut inputs);
                return Err("out of memory naming filter pads".into());
            }
            (*outputs).filter_ctx = this.source;
            (*outputs).pad_idx = 0;
            (*outputs).next = ptr::null_mut();
            (*inputs).filter_ctx = this.sink;
            (*inputs).pad_idx = 0;
            (*inputs).next = ptr::null_mut();
            let rc = (library.graph_parse_ptr)(
                this.graph,
                spec.as_ptr(),
                &mut inputs,
                &mut outputs,
                ptr::null_mut(),
            );
            (library.inout_free)(&mut outputs);
            (library.inout_free)(&mut inputs);
            check(rc, &format!("filter chain {filters:?}"))?;
            check(
                (library.graph_config)(this.graph, ptr::null_mut()),
                &format!("configuring {filters:?}"),
            )?;
            Ok(this)
        }
    }

    /// The frame pool output pictures come from, when the chain ends on hardware
    /// frames (borrowed from the graph; take a reference to keep it).
    pub fn output_hw_frames(&self) -> *mut ffi::AVBufferRef {
        // SAFETY: the sink is configured; the getter only reads its input link.
        unsafe { (self.library.buffersink_get_hw_frames_ctx)(self.sink) }
    }

    /// Runs one picture through the chain. Scaling filters put out exactly one
    /// picture per picture in; `None` when this one is held back (not expected).
    pub fn run(&mut self, picture: VideoFrame) -> Result<Option<VideoFrame>, String> {
        let mut picture = picture;
        // SAFETY: the source takes the picture's reference (and resets the frame,
        // which `picture` then drops empty); the sink fills a fresh frame.
        unsafe {
            check(
                (self.library.buffersrc_add_frame_flags)(self.source, picture.as_mut_ptr(), 0),
                "feeding the filter chain",
            )?;
            let mut out = VideoFrame::empty();
            let rc = (self.library.buffersink_get_frame)(self.sink, out.as_mut_ptr());
            if rc == ffi::AVERROR(ffi::EAGAIN) {
                return Ok(None);
            }
            check(rc, "reading the filter chain")?;
            Ok(Some(out))
        }
    }
}

impl Drop for FilterGraph {
    fn drop(&mut self) {
        // SAFETY: the graph owns its filter contexts; freeing it frees them all.
        unsafe { (self.library.graph_free)(&mut self.graph) }
    }
}

fn check(rc: i32, what: &str) -> Result<(), String> {
    if rc < 0 {
        return Err(format!("{what}: {}", ff::Error::from(rc)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The graph plumbing on the CPU (`scale`): the same code path as the GPU's
    /// `scale_cuda`, less the hardware pool.
    #[test]
    fn a_scaling_chain_puts_out_each_picture_at_its_size_with_its_pts() {
        let input = GraphInput {
            format: ffi::AVPixelFormat::AV_PIX_FMT_YUV420P,
            width: 1280,
            height: 720,
            timescale: 1000,
            hw_frames: ptr::null_mut(),
        };
        let mut graph = FilterGraph::new(&input, "scale=w=640:h=360").expect("graph");
        assert!(graph.output_hw_frames().is_null());
        for n in 0..5 {
            let mut picture = VideoFrame::new(ff::format::Pixel::YUV420P, 1280, 720);
            picture.set_pts(Some(n * 33));
            let out = graph.run(picture).expect("run").expect("one picture out");
            assert_eq!((out.width(), out.height()), (640, 360));
            assert_eq!(out.format(), ff::format::Pixel::YUV420P);
            assert_eq!(out.pts(), Some(n * 33));
        }
    }

    #[test]
    fn an_unknown_filter_is_a_clear_error() {
        let input = GraphInput {
            format: ffi::AVPixelFormat::AV_PIX_FMT_YUV420P,
            width: 64,
            height: 64,
            timescale: 1000,
            hw_frames: ptr::null_mut(),
        };
        let error = FilterGraph::new(&input, "no_such_filter=1")
            .err()
            .expect("refused");
        assert!(error.contains("no_such_filter"), "{error}");
        assert_eq!(filter_available("scale"), Ok(()));
        let missing = filter_available("no_such_filter").expect_err("not there");
        assert!(missing.contains("no no_such_filter filter"), "{missing}");
    }
}
