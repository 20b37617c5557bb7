//! The RTMP handshake: C0/C1/C2 from the client, S0/S1/S2 from the server.
//!
//! C0/S0 is the version byte (3). C1/S1/S2/C2 are [`HANDSHAKE_SIZE`] bytes each:
//! time (4), a zero or version field (4), random (1528). Each side echoes the other's
//! C1/S1 as its C2/S2 (Adobe RTMP spec §5.2). On top of that, Flash Player, ffmpeg
//! and OBS sign C1 with an HMAC ([`digest`]); the server answers such a C1 with a
//! signed S1 and S2, because some players reject a server that does not.
//!
//! Both state machines buffer at most one handshake packet; the bytes that follow
//! C2/S2 in the same read belong to the chunk stream and come back in
//! [`HandshakeStatus::Done`].

mod digest;

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use digest::SERVER_KEY_PARTIAL;

/// Length of C1, C2, S1 and S2.
pub const HANDSHAKE_SIZE: usize = 1536;

/// Random part of C1/S1: everything after the time and version fields.
pub const RANDOM_SIZE: usize = HANDSHAKE_SIZE - 8;

/// The C0/S0 version byte of plain RTMP. 6 would be RTMPE (encrypted RTMP).
pub const RTMP_VERSION: u8 = 3;

/// Bytes one side sends or receives during the whole handshake: C0 + C1 + C2.
const HANDSHAKE_TOTAL: usize = 1 + 2 * HANDSHAKE_SIZE;

/// Version field of a signed S1. The value nginx-rtmp and SRS send; ffmpeg only
/// checks the S1 digest when the first byte is at least 3.
const SERVER_VERSION: [u8; 4] = [0x0D, 0x0E, 0x0A, 0x0D];

/// Progress reported by `handle_input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeStatus {
    /// More handshake bytes are needed.
    InProgress,
    /// The handshake is complete. `remaining` holds the bytes of this input that
    /// followed C2/S2: they are the start of the chunk stream.
    Done { remaining: Bytes },
}

/// Why the handshake failed. The connection should be closed.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// C0/S0 named a version other than [`RTMP_VERSION`]; 6 is RTMPE, which is not
    /// supported.
    #[error("unsupported RTMP version {0} (only 3, plain RTMP, is supported)")]
    UnsupportedVersion(u8),
    /// `handle_input` was called after it returned [`HandshakeStatus::Done`].
    #[error("handshake already finished; further bytes belong to the chunk stream")]
    AlreadyDone,
}

/// A handshake packet that may arrive split across any number of reads. It is the
/// only buffer either state machine keeps, which is what bounds their memory.
#[derive(Debug)]
struct Packet {
    buf: Box<[u8; HANDSHAKE_SIZE]>,
    filled: usize,
}

impl Packet {
    fn new() -> Self {
        Self {
            buf: Box::new([0; HANDSHAKE_SIZE]),
            filled: 0,
        }
    }

    /// Takes as much of `data` as the packet still lacks and returns the rest.
    fn fill<'a>(&mut self, data: &'a [u8]) -> &'a [u8] {
        let missing = HANDSHAKE_SIZE.saturating_sub(self.filled);
        let (head, rest) = data.split_at_checked(missing).unwrap_or((data, &[]));
        let end = self.filled.saturating_add(head.len());
        if let Some(slot) = self.buf.get_mut(self.filled..end) {
            slot.copy_from_slice(head);
            self.filled = end;
        }
        rest
    }

    fn complete(&self) -> Option<&[u8; HANDSHAKE_SIZE]> {
        (self.filled == HANDSHAKE_SIZE).then_some(&*self.buf)
    }
}

/// Consumes up to `*left` bytes of `data` without keeping them and returns the rest.
/// C2 and S2 are only counted: validating them would reject encoders that fill them
/// with garbage, which nginx-rtmp and SRS accept.
fn skip<'a>(left: &mut usize, data: &'a [u8]) -> &'a [u8] {
    let n = (*left).min(data.len());
    *left -= n;
    data.get(n..).unwrap_or_default()
}

/// Builds C1/S1: time, version, random.
fn packet(time: u32, version: [u8; 4], random: &[u8; RANDOM_SIZE]) -> [u8; HANDSHAKE_SIZE] {
    let mut out = [0; HANDSHAKE_SIZE];
    let fields = time.to_be_bytes().into_iter().chain(version);
    for (dst, src) in out.iter_mut().zip(fields.chain(random.iter().copied())) {
        *dst = src;
    }
    out
}

fn with_version_byte(capacity: usize) -> BytesMut {
    let mut out = BytesMut::with_capacity(capacity);
    out.put_u8(RTMP_VERSION);
    out
}

#[derive(Debug)]
enum ServerState {
    AwaitC0,
    AwaitC1(Packet),
    AwaitC2 { left: usize },
    Done,
    Failed(HandshakeError),
}

/// The server side: reads C0+C1, answers S0+S1+S2 at once, then skips C2.
#[derive(Debug)]
pub struct ServerHandshake {
    state: ServerState,
    random: Box<[u8; RANDOM_SIZE]>,
    epoch_ms: u32,
    transmit: Option<Bytes>,
    used_digest: bool,
}

impl ServerHandshake {
    /// `random` fills S1/S2 (the caller supplies randomness: sans-IO); `epoch_ms` is
    /// S1's time field.
    pub fn new(random: [u8; RANDOM_SIZE], epoch_ms: u32) -> Self {
        Self {
            state: ServerState::AwaitC0,
            random: Box::new(random),
            epoch_ms,
            transmit: None,
            used_digest: false,
        }
    }

    /// Feeds bytes from the client, in any split. After an error every later call
    /// returns the same error.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        let mut rest = data;
        loop {
            match &mut self.state {
                ServerState::AwaitC0 => {
                    let Some((&version, tail)) = rest.split_first() else {
                        return Ok(HandshakeStatus::InProgress);
                    };
                    if version != RTMP_VERSION {
                        let error = HandshakeError::UnsupportedVersion(version);
                        self.state = ServerState::Failed(error.clone());
                        return Err(error);
                    }
                    rest = tail;
                    self.state = ServerState::AwaitC1(Packet::new());
                }
                ServerState::AwaitC1(c1) => {
                    rest = c1.fill(rest);
                    let Some(c1) = c1.complete() else {
                        return Ok(HandshakeStatus::InProgress);
                    };
                    let (reply, used_digest) = server_reply(c1, &self.random, self.epoch_ms);
                    self.transmit = Some(reply);
                    self.used_digest = used_digest;
                    self.state = ServerState::AwaitC2 {
                        left: HANDSHAKE_SIZE,
                    };
                }
                ServerState::AwaitC2 { left } => {
                    rest = skip(left, rest);
                    if *left > 0 {
                        return Ok(HandshakeStatus::InProgress);
                    }
                    self.state = ServerState::Done;
                    return Ok(HandshakeStatus::Done {
                        remaining: Bytes::copy_from_slice(rest),
                    });
                }
                ServerState::Done => return Err(HandshakeError::AlreadyDone),
                ServerState::Failed(error) => return Err(error.clone()),
            }
        }
    }

    /// S0+S1+S2, once C0+C1 have arrived.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.take()
    }

    /// Whether the client signed C1 and got a signed S1/S2 back.
    pub fn used_digest(&self) -> bool {
        self.used_digest
    }
}

/// S0+S1+S2 for `c1`, and whether it is the digest variant.
fn server_reply(
    c1: &[u8; HANDSHAKE_SIZE],
    random: &[u8; RANDOM_SIZE],
    epoch_ms: u32,
) -> (Bytes, bool) {
    let mut out = with_version_byte(HANDSHAKE_TOTAL);
    let Some(found) = digest::find_client_digest(c1) else {
        out.put_slice(&packet(epoch_ms, [0; 4], random));
        out.put_slice(c1);
        return (out.freeze(), false);
    };
    let mut s1 = packet(epoch_ms, SERVER_VERSION, random);
    // Same scheme as the client: it is the one the client is known to parse.
    digest::imprint(&mut s1, found.scheme, SERVER_KEY_PARTIAL);
    out.put_slice(&s1);
    // Reusing S1's random bytes as S2 filler is fine: the filler is opaque and the
    // trailing signature is what clients check.
    out.put_slice(&digest::digest_s2(&found.digest, random.as_slice()));
    (out.freeze(), true)
}

#[derive(Debug)]
enum ClientState {
    AwaitS0,
    AwaitS1(Packet),
    AwaitS2 { left: usize },
    Done,
    Failed(HandshakeError),
}

/// The client side: sends C0+C1 at once, echoes S1 as C2, then skips S2.
///
/// C1 is plain (version field zero): nginx-rtmp, YouTube, Twitch and Facebook all
/// accept it, and only Flash-era servers insist on the digest variant.
#[derive(Debug)]
pub struct ClientHandshake {
    state: ClientState,
    /// At most two entries: C0+C1, then C2.
    transmit: VecDeque<Bytes>,
}

impl ClientHandshake {
    /// Queues C0+C1 (take it with `poll_transmit` right away). `random` fills C1;
    /// `epoch_ms` is its time field.
    pub fn new(random: [u8; RANDOM_SIZE], epoch_ms: u32) -> Self {
        let mut c0c1 = with_version_byte(1 + HANDSHAKE_SIZE);
        c0c1.put_slice(&packet(epoch_ms, [0; 4], &random));
        Self {
            state: ClientState::AwaitS0,
            transmit: VecDeque::from([c0c1.freeze()]),
        }
    }

    /// Feeds bytes from the server, in any split. C2 is queued as soon as S1 is
    /// complete, which the spec allows and which spares a round trip with servers
    /// that hold S2 back; `Done` comes once S2 has arrived too. After an error every
    /// later call returns the same error.
    pub fn handle_input(&mut self, data: &[u8]) -> Result<HandshakeStatus, HandshakeError> {
        let mut rest = data;
        loop {
            match &mut self.state {
                ClientState::AwaitS0 => {
                    let Some((&version, tail)) = rest.split_first() else {
                        return Ok(HandshakeStatus::InProgress);
                    };
                    if version != RTMP_VERSION {
                        let error = HandshakeError::UnsupportedVersion(version);
                        self.state = ClientState::Failed(error.clone());
                        return Err(error);
                    }
                    rest = tail;
                    self.state = ClientState::AwaitS1(Packet::new());
                }
                ClientState::AwaitS1(s1) => {
                    rest = s1.fill(rest);
                    let Some(s1) = s1.complete() else {
                        return Ok(HandshakeStatus::InProgress);
                    };
                    self.transmit.push_back(Bytes::copy_from_slice(s1));
                    self.state = ClientState::AwaitS2 {
                        left: HANDSHAKE_SIZE,
                    };
                }
                ClientState::AwaitS2 { left } => {
                    rest = skip(left, rest);
                    if *left > 0 {
                        return Ok(HandshakeStatus::InProgress);
                    }
                    self.state = ClientState::Done;
                    return Ok(HandshakeStatus::Done {
                        remaining: Bytes::copy_from_slice(rest),
                    });
                }
                ClientState::Done => return Err(HandshakeError::AlreadyDone),
                ClientState::Failed(error) => return Err(error.clone()),
            }
        }
    }

    /// C0+C1 after `new`, then C2 once S1 has arrived.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::digest::{DIGEST_LEN, Scheme, client_c1, find_digest, s2_signature};
    use super::*;

    const RANDOM: [u8; RANDOM_SIZE] = [0x5A; RANDOM_SIZE];

    fn plain_c1() -> Vec<u8> {
        let mut c1 = vec![0; HANDSHAKE_SIZE];
        c1[..4].copy_from_slice(&1234u32.to_be_bytes());
        for (i, b) in c1[8..].iter_mut().enumerate() {
            *b = i as u8;
        }
        c1
    }

    fn c0c1c2(c1: &[u8]) -> Vec<u8> {
        let mut data = vec![RTMP_VERSION];
        data.extend_from_slice(c1);
        data.extend_from_slice(&[0xEE; HANDSHAKE_SIZE]);
        data
    }

    fn done(remaining: &[u8]) -> HandshakeStatus {
        HandshakeStatus::Done {
            remaining: Bytes::copy_from_slice(remaining),
        }
    }

    /// Splits a server reply into S1 and S2 after checking S0.
    fn split_reply(reply: &[u8]) -> (&[u8], &[u8]) {
        assert_eq!(reply.len(), HANDSHAKE_TOTAL);
        assert_eq!(reply[0], RTMP_VERSION);
        reply[1..].split_at(HANDSHAKE_SIZE)
    }

    #[test]
    fn server_plain_in_one_call() {
        let c1 = plain_c1();
        let mut server = ServerHandshake::new(RANDOM, 77);
        assert_eq!(server.handle_input(&c0c1c2(&c1)), Ok(done(&[])));
        let reply = server.poll_transmit().expect("S0+S1+S2");
        let (s1, s2) = split_reply(&reply);
        assert_eq!(s1[..8], [0, 0, 0, 77, 0, 0, 0, 0]);
        assert_eq!(s1[8..], RANDOM);
        assert_eq!(s2, c1);
        assert!(!server.used_digest());
        assert_eq!(server.poll_transmit(), None);
    }

    #[test]
    fn server_plain_byte_by_byte() {
        let data = c0c1c2(&plain_c1());
        let mut server = ServerHandshake::new(RANDOM, 0);
        for (i, byte) in data.iter().enumerate() {
            let status = server.handle_input(std::slice::from_ref(byte));
            let reply = server.poll_transmit();
            assert_eq!(reply.is_some(), i == HANDSHAKE_SIZE, "reply at byte {i}");
            if i + 1 == data.len() {
                assert_eq!(status, Ok(done(&[])));
            } else {
                assert_eq!(status, Ok(HandshakeStatus::InProgress), "byte {i}");
            }
        }
        assert_eq!(server.handle_input(&[]), Err(HandshakeError::AlreadyDone));
    }

    #[test]
    fn server_signs_s1_and_s2_for_a_digest_c1() {
        for scheme in [Scheme::Zero, Scheme::One] {
            let c1 = client_c1(scheme, 0x33);
            let client_digest = digest::find_client_digest(&c1).expect("digest").digest;
            let mut server = ServerHandshake::new(RANDOM, 5);
            assert_eq!(server.handle_input(&c0c1c2(&c1)), Ok(done(&[])));
            assert!(server.used_digest());

            let reply = server.poll_transmit().expect("S0+S1+S2");
            let (s1, s2) = split_reply(&reply);
            assert_eq!(s1[4..8], SERVER_VERSION);
            let s1: &[u8; HANDSHAKE_SIZE] = s1.try_into().expect("S1 size");
            let found = find_digest(s1, SERVER_KEY_PARTIAL).expect("S1 digest");
            assert_eq!(found.scheme, scheme);

            let (head, signature) = s2.split_at(HANDSHAKE_SIZE - DIGEST_LEN);
            assert_eq!(signature, s2_signature(&client_digest, head));
        }
    }

    #[test]
    fn damaged_digest_falls_back_to_plain() {
        let mut c1 = client_c1(Scheme::One, 0x33);
        c1[HANDSHAKE_SIZE - 1] ^= 0xFF;
        let mut server = ServerHandshake::new(RANDOM, 0);
        assert_eq!(server.handle_input(&c0c1c2(&c1)), Ok(done(&[])));
        assert!(!server.used_digest());
        let reply = server.poll_transmit().expect("S0+S1+S2");
        assert_eq!(split_reply(&reply).1, c1);
    }

    #[test]
    fn bytes_after_c2_are_returned() {
        let mut data = c0c1c2(&plain_c1());
        data.extend_from_slice(b"\x03chunk");
        let mut server = ServerHandshake::new(RANDOM, 0);
        let (first, second) = data.split_at(HANDSHAKE_SIZE + 100);
        assert_eq!(server.handle_input(first), Ok(HandshakeStatus::InProgress));
        assert_eq!(server.handle_input(second), Ok(done(b"\x03chunk")));
        assert_eq!(
            server.handle_input(b"more"),
            Err(HandshakeError::AlreadyDone)
        );
    }

    #[test]
    fn wrong_version_is_rejected_and_sticks() {
        let mut data = c0c1c2(&plain_c1());
        data[0] = 6;
        let mut server = ServerHandshake::new(RANDOM, 0);
        let rtmpe = Err(HandshakeError::UnsupportedVersion(6));
        assert_eq!(server.handle_input(&data), rtmpe);
        assert_eq!(server.handle_input(&data[1..]), rtmpe);
        assert_eq!(server.poll_transmit(), None);

        let mut client = ClientHandshake::new(RANDOM, 0);
        assert_eq!(
            client.handle_input(&[0x10]),
            Err(HandshakeError::UnsupportedVersion(0x10))
        );
    }

    #[test]
    fn client_sends_plain_c1_and_echoes_s1() {
        let mut client = ClientHandshake::new(RANDOM, 9);
        let c0c1 = client.poll_transmit().expect("C0+C1");
        assert_eq!(c0c1[..9], [RTMP_VERSION, 0, 0, 0, 9, 0, 0, 0, 0]);
        assert_eq!(c0c1[9..], RANDOM);
        assert_eq!(client.poll_transmit(), None);

        let s1 = [0x42; HANDSHAKE_SIZE];
        let mut reply = vec![RTMP_VERSION];
        reply.extend_from_slice(&s1);
        let (start, rest) = reply.split_at(700);
        assert_eq!(client.handle_input(start), Ok(HandshakeStatus::InProgress));
        assert_eq!(client.poll_transmit(), None);
        assert_eq!(client.handle_input(rest), Ok(HandshakeStatus::InProgress));
        assert_eq!(client.poll_transmit().as_deref(), Some(&s1[..]));

        let mut s2 = vec![0; HANDSHAKE_SIZE];
        s2.extend_from_slice(b"after");
        assert_eq!(client.handle_input(&s2), Ok(done(b"after")));
        assert_eq!(client.handle_input(&[]), Err(HandshakeError::AlreadyDone));
    }

    #[test]
    fn client_queues_c2_behind_unsent_c0c1() {
        let mut client = ClientHandshake::new(RANDOM, 0);
        let mut reply = vec![RTMP_VERSION];
        reply.extend_from_slice(&[1; 2 * HANDSHAKE_SIZE]);
        assert_eq!(client.handle_input(&reply), Ok(done(&[])));
        assert_eq!(
            client.poll_transmit().map(|b| b.len()),
            Some(1 + HANDSHAKE_SIZE)
        );
        assert_eq!(
            client.poll_transmit().map(|b| b.len()),
            Some(HANDSHAKE_SIZE)
        );
        assert_eq!(client.poll_transmit(), None);
    }

    #[test]
    fn client_and_server_complete_against_each_other() {
        let mut client = ClientHandshake::new([0x11; RANDOM_SIZE], 1);
        let mut server = ServerHandshake::new([0x22; RANDOM_SIZE], 2);
        let (mut client_done, mut server_done) = (false, false);
        for _ in 0..4 {
            while let Some(bytes) = client.poll_transmit() {
                let status = server.handle_input(&bytes).expect("server");
                server_done |= status == done(&[]);
            }
            while let Some(bytes) = server.poll_transmit() {
                let status = client.handle_input(&bytes).expect("client");
                client_done |= status == done(&[]);
            }
        }
        assert!(client_done && server_done);
        assert!(!server.used_digest());
    }
}

/// Writes the `fuzz/corpus/handshake` seeds. Regenerate with
/// `MANIFOLD_HANDSHAKE_SEEDS=fuzz/corpus/handshake cargo test -p protocol-parsers
/// write_handshake_seeds -- --ignored` from the repository root.
#[cfg(test)]
mod seeds {
    use super::digest::{Scheme, client_c1};
    use super::*;

    #[test]
    #[ignore = "writes files; run by hand to regenerate the corpus"]
    fn write_handshake_seeds() {
        let dir = std::path::PathBuf::from(
            std::env::var("MANIFOLD_HANDSHAKE_SEEDS").expect("MANIFOLD_HANDSHAKE_SEEDS"),
        );
        let mut plain = vec![RTMP_VERSION];
        plain.extend_from_slice(&packet(1000, [0; 4], &[0x5A; RANDOM_SIZE]));
        plain.extend_from_slice(&[0xC2; HANDSHAKE_SIZE]);
        let mut digest = vec![RTMP_VERSION];
        digest.extend_from_slice(&client_c1(Scheme::One, 0x37));
        // xorshift32: deterministic noise without an RNG dependency.
        let mut state = 0x2545_F491_u32;
        let random: Vec<u8> = (0..4000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state.to_le_bytes()[0]
            })
            .collect();
        let seeds: [(&str, &[u8]); 4] = [
            ("plain_c0c1c2", &plain),
            ("digest_scheme1_c0c1", &digest),
            ("random_4000", &random),
            ("truncated_c0c1", &plain[..700]),
        ];
        for (name, data) in seeds {
            std::fs::write(dir.join(name), data).expect("write seed");
        }
    }
}
