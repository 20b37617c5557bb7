#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| protocol_parsers::fuzzing::h264_annexb(data));
