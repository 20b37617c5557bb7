use crate::Limits;
use crate::rtmp::chunk::ChunkDecoder;

/// Feeds arbitrary bytes to a chunk decoder in two splits; it must never panic and
/// must respect its limits.
pub fn chunk_decoder(data: &[u8]) {
    let limits = Limits::default();
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (first, second) = data.split_at(split);
    let mut decoder = ChunkDecoder::new(&limits);
    for part in [first, second] {
        decoder.push(part);
        while let Ok(Some(message)) = decoder.decode() {
            assert!(message.payload.len() <= limits.rtmp_max_message_len as usize);
        }
    }
}
