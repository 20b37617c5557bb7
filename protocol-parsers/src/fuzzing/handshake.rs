//! Arbitrary bytes into both handshake roles, split several ways.

use bytes::Bytes;

use crate::rtmp::handshake::{
    ClientHandshake, HANDSHAKE_SIZE, HandshakeError, HandshakeStatus, RANDOM_SIZE, RTMP_VERSION,
    ServerHandshake,
};

/// Read sizes: byte by byte, odd pieces, exactly C0+C1, everything at once.
const SPLITS: [usize; 4] = [1, 7, 1 + HANDSHAKE_SIZE, usize::MAX];

/// Each role consumes C0/S0 plus two packets before handing over to the chunk stream.
const CONSUMED: usize = 1 + 2 * HANDSHAKE_SIZE;

trait Role {
    fn input(&mut self, data: &[u8]) -> Result<HandshakeStatus, HandshakeError>;
    fn output(&mut self) -> Option<Bytes>;
}

impl Role for ServerHandshake {
    fn input(&mut self, data: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        self.handle_input(data)
    }
    fn output(&mut self) -> Option<Bytes> {
        self.poll_transmit()
    }
}

impl Role for ClientHandshake {
    fn input(&mut self, data: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        self.handle_input(data)
    }
    fn output(&mut self) -> Option<Bytes> {
        self.poll_transmit()
    }
}

/// Feeds `data` in pieces of `split` bytes and checks that the role hands back
/// exactly the bytes past the handshake and never sends more than a handshake's worth.
fn drive(role: &mut impl Role, data: &[u8], split: usize) {
    let mut fed = 0;
    let mut sent = 0;
    for piece in data.chunks(split) {
        fed += piece.len();
        let status = role.input(piece);
        while let Some(out) = role.output() {
            sent += out.len();
        }
        assert!(sent <= CONSUMED, "sent {sent} handshake bytes");
        match status {
            Ok(HandshakeStatus::InProgress) => {}
            Ok(HandshakeStatus::Done { remaining }) => {
                assert_eq!(data.get(CONSUMED..fed), Some(remaining.as_ref()));
                assert_eq!(role.input(&[]), Err(HandshakeError::AlreadyDone));
                return;
            }
            Err(_) => return,
        }
    }
}

pub fn handshake(data: &[u8]) {
    // A valid C0 in front lets random bytes reach C1 parsing without the fuzzer
    // first having to discover the version byte.
    let mut versioned = Vec::with_capacity(data.len().saturating_add(1));
    versioned.push(RTMP_VERSION);
    versioned.extend_from_slice(data);
    for input in [data, &versioned] {
        for split in SPLITS {
            drive(
                &mut ServerHandshake::new([0x5A; RANDOM_SIZE], 0),
                input,
                split,
            );
            drive(
                &mut ClientHandshake::new([0xA5; RANDOM_SIZE], 0),
                input,
                split,
            );
        }
    }
}
