//! libavfilter, loaded on first use instead of linked. Only NVENC renditions that
//! scale on the GPU need it (it is first asked for once a CUDA device has opened),
//! but linking it maps some thirty more libraries into every Manifold process (Debian's build pulls in speech-synthesis voices, LAPACK,
//! Vulkan, librsvg...), whose relocated data cost about 17 MiB of resident memory
//! in a server that only relays. The types still come from `ffmpeg-sys-next`'s
//! bindings of the same headers; the functions are looked up here with `dlsym`.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

use ffmpeg_next::ffi::{
    AVBufferRef, AVBufferSrcParameters, AVFilter, AVFilterContext, AVFilterGraph, AVFilterInOut,
    AVFrame, LIBAVFILTER_VERSION_MAJOR,
};

/// The libavfilter functions the filter graph calls, with the C signatures of
/// FFmpeg 5.1's headers (as in the bindings).
pub struct AvFilterLibrary {
    pub get_by_name: unsafe extern "C" fn(*const c_char) -> *const AVFilter,
    pub graph_alloc: unsafe extern "C" fn() -> *mut AVFilterGraph,
    pub graph_alloc_filter: unsafe extern "C" fn(
        *mut AVFilterGraph,
        *const AVFilter,
        *const c_char,
    ) -> *mut AVFilterContext,
    pub graph_create_filter: unsafe extern "C" fn(
        *mut *mut AVFilterContext,
        *const AVFilter,
        *const c_char,
        *const c_char,
        *mut c_void,
        *mut AVFilterGraph,
    ) -> c_int,
    pub graph_parse_ptr: unsafe extern "C" fn(
        *mut AVFilterGraph,
        *const c_char,
        *mut *mut AVFilterInOut,
        *mut *mut AVFilterInOut,
        *mut c_void,
    ) -> c_int,
    pub graph_config: unsafe extern "C" fn(*mut AVFilterGraph, *mut c_void) -> c_int,
    pub graph_free: unsafe extern "C" fn(*mut *mut AVFilterGraph),
    pub init_str: unsafe extern "C" fn(*mut AVFilterContext, *const c_char) -> c_int,
    pub inout_alloc: unsafe extern "C" fn() -> *mut AVFilterInOut,
    pub inout_free: unsafe extern "C" fn(*mut *mut AVFilterInOut),
    pub buffersrc_parameters_alloc: unsafe extern "C" fn() -> *mut AVBufferSrcParameters,
    pub buffersrc_parameters_set:
        unsafe extern "C" fn(*mut AVFilterContext, *mut AVBufferSrcParameters) -> c_int,
    pub buffersrc_add_frame_flags:
        unsafe extern "C" fn(*mut AVFilterContext, *mut AVFrame, c_int) -> c_int,
    pub buffersink_get_frame: unsafe extern "C" fn(*mut AVFilterContext, *mut AVFrame) -> c_int,
    pub buffersink_get_hw_frames_ctx:
        unsafe extern "C" fn(*const AVFilterContext) -> *mut AVBufferRef,
}

/// The library, loaded once per process (and never unloaded: graphs may live as
/// long as the process). The error names the file and says why.
pub fn avfilter() -> Result<&'static AvFilterLibrary, String> {
    static LIBRARY: OnceLock<Result<AvFilterLibrary, String>> = OnceLock::new();
    LIBRARY.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<AvFilterLibrary, String> {
    // The major version of the headers the bindings came from: the ABI they describe.
    let file = format!("libavfilter.so.{LIBAVFILTER_VERSION_MAJOR}");
    let c_file = CString::new(file.as_str()).map_err(|_| "library name contains a NUL byte")?;
    // SAFETY: dlopen takes a NUL-terminated name; RTLD_LOCAL keeps its symbols out
    // of the global namespace. libavfilter's initialisers only set up static tables.
    let handle = unsafe { libc::dlopen(c_file.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return Err(format!("cannot load {file}: {}", last_dl_error()));
    }
    macro_rules! symbol {
        ($name:literal) => {{
            // SAFETY: a lookup by NUL-terminated name in the handle opened above.
            let address = unsafe { libc::dlsym(handle, concat!($name, "\0").as_ptr().cast()) };
            if address.is_null() {
                return Err(format!("{file} has no {}", $name));
            }
            // SAFETY: the symbol is the C function of that name, whose signature
            // is the field's type (copied from FFmpeg's headers via the bindings).
            unsafe { function_pointer(address) }
        }};
    }
    Ok(AvFilterLibrary {
        get_by_name: symbol!("avfilter_get_by_name"),
        graph_alloc: symbol!("avfilter_graph_alloc"),
        graph_alloc_filter: symbol!("avfilter_graph_alloc_filter"),
        graph_create_filter: symbol!("avfilter_graph_create_filter"),
        graph_parse_ptr: symbol!("avfilter_graph_parse_ptr"),
        graph_config: symbol!("avfilter_graph_config"),
        graph_free: symbol!("avfilter_graph_free"),
        init_str: symbol!("avfilter_init_str"),
        inout_alloc: symbol!("avfilter_inout_alloc"),
        inout_free: symbol!("avfilter_inout_free"),
        buffersrc_parameters_alloc: symbol!("av_buffersrc_parameters_alloc"),
        buffersrc_parameters_set: symbol!("av_buffersrc_parameters_set"),
        buffersrc_add_frame_flags: symbol!("av_buffersrc_add_frame_flags"),
        buffersink_get_frame: symbol!("av_buffersink_get_frame"),
        buffersink_get_hw_frames_ctx: symbol!("av_buffersink_get_hw_frames_ctx"),
    })
}

/// `address` as a function pointer of type `F`.
///
/// # Safety
/// `F` must be an `extern "C"` function pointer type matching the function at
/// `address`.
unsafe fn function_pointer<F: Copy>(address: *mut c_void) -> F {
    // A data pointer and a function pointer have one size on the targets FFmpeg runs on.
    assert_eq!(size_of::<F>(), size_of::<*mut c_void>());
    // SAFETY: same size, and the caller vouches for the type.
    unsafe { std::mem::transmute_copy(&address) }
}

fn last_dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message owned by libc, read
    // at once on this thread.
    unsafe {
        let message = libc::dlerror();
        if message.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_finds_a_filter() {
        let library = avfilter().expect("libavfilter loads");
        // SAFETY: a lookup in libavfilter's static table by a NUL-terminated name.
        let scale = unsafe { (library.get_by_name)(c"scale".as_ptr()) };
        assert!(!scale.is_null());
    }
}
