//! Finding 188-byte packets in a byte stream cut anywhere (SRT datagrams, TCP reads,
//! files): sync on 0x47, and after a loss of sync trust a candidate 0x47 only when the
//! bytes one and two packets later are sync bytes too.

use crate::mpegts::{PACKET_LEN, SYNC_BYTE};

/// Carries at most three packets' worth of bytes between calls: packets waiting for
/// the sync bytes after them.
#[derive(Debug, Default)]
pub(super) struct Framer {
    carry: Vec<u8>,
    synced: bool,
    /// Bytes were skipped since sync was last held.
    lost: bool,
    pub(super) resyncs: u64,
    pub(super) skipped_bytes: u64,
}

impl Framer {
    /// Hands every whole packet of `carry ++ data` to `on_packet`, keeping what is left.
    pub(super) fn push(&mut self, data: &[u8], on_packet: &mut impl FnMut(&[u8; PACKET_LEN])) {
        let mut carry = std::mem::take(&mut self.carry);
        let consumed = self.scan(
            Joined {
                head: &carry,
                tail: data,
            },
            false,
            on_packet,
        );
        // `scan` leaves at most three packets' worth, so `data` is short in the second arm.
        match consumed.checked_sub(carry.len()) {
            Some(in_data) => {
                carry.clear();
                carry.extend_from_slice(data.get(in_data..).unwrap_or_default());
            }
            None => {
                carry.drain(..consumed);
                carry.extend_from_slice(data);
            }
        }
        debug_assert!(
            carry.len() <= 3 * PACKET_LEN,
            "carry grew to {}",
            carry.len()
        );
        self.carry = carry;
    }

    /// End of input: a last packet is taken without a successor to confirm it, and a
    /// trailing partial packet is dropped.
    pub(super) fn flush(&mut self, on_packet: &mut impl FnMut(&[u8; PACKET_LEN])) {
        let carry = std::mem::take(&mut self.carry);
        let view = Joined {
            head: &carry,
            tail: &[],
        };
        let consumed = self.scan(view, true, on_packet);
        self.skip(carry.len().saturating_sub(consumed));
    }

    /// Returns how many bytes of `view` were used up (as packets or skipped).
    ///
    /// Every decision waits for the byte one packet further on (unless `at_end`), so
    /// how the input was cut never changes what comes out.
    fn scan(
        &mut self,
        view: Joined<'_>,
        at_end: bool,
        on_packet: &mut impl FnMut(&[u8; PACKET_LEN]),
    ) -> usize {
        let len = view.len();
        let mut scratch = [0u8; PACKET_LEN];
        let mut pos = 0;
        loop {
            if self.synced && pos + PACKET_LEN <= len && view.byte(pos) == Some(SYNC_BYTE) {
                match next_packet(view, pos, at_end) {
                    Next::Wait => return pos,
                    Next::Here => {
                        if let Some(packet) = view.packet(pos, &mut scratch) {
                            on_packet(packet);
                        }
                        pos += PACKET_LEN;
                    }
                    Next::At(real) => {
                        self.skip(real - pos);
                        self.acquire();
                        pos = real;
                    }
                }
                continue;
            }
            if self.synced && pos + PACKET_LEN > len {
                return pos;
            }
            self.synced = false;
            let Some(candidate) = view.find_sync(pos) else {
                self.skip(len - pos);
                return len;
            };
            self.skip(candidate - pos);
            pos = candidate;
            match confirmed(view, candidate, at_end) {
                Some(true) => self.acquire(),
                Some(false) => {
                    self.skip(1);
                    pos += 1;
                }
                None => return pos,
            }
        }
    }

    fn skip(&mut self, n: usize) {
        if n > 0 {
            self.lost = true;
            self.skipped_bytes += n as u64;
        }
    }

    fn acquire(&mut self) {
        if self.lost {
            self.resyncs += 1;
            self.lost = false;
        }
        self.synced = true;
    }
}

/// Where the packet is, in sync, at a sync byte.
enum Next {
    /// Right here: the next packet starts with a sync byte too.
    Here,
    /// Here is garbage that starts with 0x47; the real packet starts further on.
    At(usize),
    /// The bytes that decide it have not arrived.
    Wait,
}

/// Checks the packet at `pos` against the sync byte after it. When that is missing,
/// either garbage follows the packet (which is then fine) or the packet is garbage
/// beginning with 0x47 and the stream resumes inside it: a confirmed sync byte within
/// says which.
fn next_packet(view: Joined<'_>, pos: usize, at_end: bool) -> Next {
    match view.byte(pos + PACKET_LEN) {
        Some(SYNC_BYTE) => return Next::Here,
        Some(_) => {}
        None if at_end => return Next::Here,
        None => return Next::Wait,
    }
    for candidate in pos + 1..pos + PACKET_LEN {
        if view.byte(candidate) != Some(SYNC_BYTE) {
            continue;
        }
        match confirmed(view, candidate, at_end) {
            Some(true) => return Next::At(candidate),
            Some(false) => {}
            None => return Next::Wait,
        }
    }
    Next::Here
}

/// Sync bytes after a candidate that make it trusted: with one, random data passes
/// one time in 256; with two, one time in 65536.
const CONFIRMATIONS: usize = 2;

/// Whether the sync byte at `at` starts a packet: the packet is whole and the next
/// [`CONFIRMATIONS`] packets start with sync bytes too. `None` until the bytes that
/// decide it are in; at the end of input, packets that never came count as confirming.
fn confirmed(view: Joined<'_>, at: usize, at_end: bool) -> Option<bool> {
    if at + PACKET_LEN > view.len() {
        return if at_end { Some(false) } else { None };
    }
    for k in 1..=CONFIRMATIONS {
        match view.byte(at + k * PACKET_LEN) {
            Some(SYNC_BYTE) => {}
            Some(_) => return Some(false),
            None if at_end => return Some(true),
            None => return None,
        }
    }
    Some(true)
}

/// Two byte slices read as one, so a packet split across calls is only copied when it
/// straddles the seam.
#[derive(Clone, Copy)]
struct Joined<'a> {
    head: &'a [u8],
    tail: &'a [u8],
}

impl<'a> Joined<'a> {
    fn len(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    fn byte(&self, at: usize) -> Option<u8> {
        match at.checked_sub(self.head.len()) {
            None => self.head.get(at).copied(),
            Some(at) => self.tail.get(at).copied(),
        }
    }

    fn find_sync(&self, from: usize) -> Option<usize> {
        let find = |s: &[u8]| s.iter().position(|&b| b == SYNC_BYTE);
        let head = self.head.len();
        if let Some(i) = self.head.get(from..).and_then(find) {
            return Some(from + i);
        }
        let from = from.saturating_sub(head);
        self.tail
            .get(from..)
            .and_then(find)
            .map(|i| head + from + i)
    }

    fn packet<'s>(
        &self,
        at: usize,
        scratch: &'s mut [u8; PACKET_LEN],
    ) -> Option<&'s [u8; PACKET_LEN]>
    where
        'a: 's,
    {
        let head = self.head.len();
        if let Some(at) = at.checked_sub(head) {
            return self.tail.get(at..)?.first_chunk();
        }
        let first = self.head.get(at..)?;
        if let Some(whole) = first.first_chunk() {
            return Some(whole);
        }
        let second = self.tail.get(..PACKET_LEN - first.len())?;
        let (a, b) = scratch.split_at_mut(first.len());
        a.copy_from_slice(first);
        b.copy_from_slice(second);
        Some(scratch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(tag: u8) -> Vec<u8> {
        let mut p = vec![tag; PACKET_LEN];
        p[0] = SYNC_BYTE;
        p
    }

    /// The tags (second byte) of the packets found, fed in `chunk`-byte pieces.
    fn run(input: &[u8], chunk: usize) -> (Vec<u8>, Framer) {
        let mut framer = Framer::default();
        let mut tags = Vec::new();
        let mut on = |p: &[u8; PACKET_LEN]| tags.push(p[1]);
        for piece in input.chunks(chunk) {
            framer.push(piece, &mut on);
        }
        framer.flush(&mut on);
        (tags, framer)
    }

    #[test]
    fn any_chunking_finds_every_packet() {
        let input: Vec<u8> = (1..=9).flat_map(packet).collect();
        for chunk in [1, 2, 187, 188, 189, 7 * 188, 5000] {
            let (tags, framer) = run(&input, chunk);
            assert_eq!(tags, (1..=9).collect::<Vec<_>>(), "chunk {chunk}");
            assert_eq!((framer.resyncs, framer.skipped_bytes), (0, 0));
        }
    }

    #[test]
    fn garbage_between_packets_is_skipped_once() {
        let mut input: Vec<u8> = (1..=3).flat_map(packet).collect();
        // Garbage with false sync bytes whose successors are not ones.
        input.extend([0x00, 0x47, 0x12, 0x47, 0x99]);
        input.extend((4..=6).flat_map(packet));
        for chunk in [1, 3, 188, 1000] {
            let (tags, framer) = run(&input, chunk);
            assert_eq!(tags, [1, 2, 3, 4, 5, 6], "chunk {chunk}");
            assert_eq!((framer.resyncs, framer.skipped_bytes), (1, 5));
        }
    }

    #[test]
    fn garbage_that_starts_with_a_sync_byte() {
        let mut input: Vec<u8> = (1..=3).flat_map(packet).collect();
        // Where the next packet is due: a sync byte, but the stream resumes 3 bytes on.
        input.extend([0x47, 0x00, 0x47]);
        input.extend((4..=6).flat_map(packet));
        // And after the last packet, where nothing confirms it.
        input.extend([0x47, 0x47]);
        for chunk in [1, 2, 188, 1000] {
            let (tags, framer) = run(&input, chunk);
            assert_eq!(tags, [1, 2, 3, 4, 5, 6], "chunk {chunk}");
            assert_eq!(
                (framer.resyncs, framer.skipped_bytes),
                (1, 5),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn one_coincidental_sync_byte_does_not_make_a_packet() {
        let mut input: Vec<u8> = (1..=3).flat_map(packet).collect();
        input.extend([0x00, 0x47, 0x11, 0x11]);
        // The candidate at garbage byte 1 finds 0x47 one packet on, in packet 4's
        // payload, but not two packets on.
        let mut fourth = packet(4);
        fourth[185] = SYNC_BYTE;
        input.extend(fourth);
        input.extend((5..=6).flat_map(packet));
        for chunk in [1, 188, 1000] {
            let (tags, framer) = run(&input, chunk);
            assert_eq!(tags, [1, 2, 3, 4, 5, 6], "chunk {chunk}");
            assert_eq!((framer.resyncs, framer.skipped_bytes), (1, 4));
        }
    }

    #[test]
    fn leading_garbage_and_trailing_partial_packet() {
        let mut input = vec![0xAA; 10];
        input.extend(packet(1));
        input.extend(packet(2));
        input.extend(&packet(3)[..100]);
        let (tags, framer) = run(&input, 50);
        assert_eq!(tags, [1, 2]);
        assert_eq!((framer.resyncs, framer.skipped_bytes), (1, 110));
    }

    #[test]
    fn no_sync_byte_at_all_keeps_nothing() {
        let mut framer = Framer::default();
        let mut count = 0;
        for _ in 0..100 {
            framer.push(&[0u8; 1000], &mut |_| count += 1);
            assert!(framer.carry.is_empty());
        }
        assert_eq!(count, 0);
        assert_eq!(framer.skipped_bytes, 100_000);
    }
}
