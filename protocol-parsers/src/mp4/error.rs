/// Why an MP4 box could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mp4Error {
    #[error("codec {0} cannot be carried in CMAF by this writer")]
    UnsupportedCodec(&'static str),
    #[error("a fragment needs at least one sample")]
    EmptyFragment,
    #[error("{what} does not fit its field ({value})")]
    TooLarge { what: &'static str, value: u64 },
    #[error("OpusHead is malformed")]
    BadOpusHead,
}
