//! The stateless half of the caller-listener handshake: induction answered with a
//! SYN cookie, a conclusion checked against it. Nothing is stored for a caller until
//! its conclusion carries a valid cookie, so a flood of inductions costs no memory.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Handshake;
use super::handshake::{
    Extension, HandshakeKind, RejectReason, SRT_MAGIC, SrtOptions, ext_flag, srt_flag,
};
use super::packet::{Control, ControlPacket};
use super::stream_id::{StreamRequest, parse_stream_id};

/// The lowest SRT version with the HSv5 handshake.
const MIN_HSV5_VERSION: u32 = 0x0001_0300;
/// Cookies change every minute; the previous minute's is still accepted.
const COOKIE_PERIOD: Duration = Duration::from_secs(60);

/// What the listener does with one handshake packet addressed to socket 0.
#[derive(Debug)]
pub enum ListenerOutput {
    /// Send this datagram back (an induction response or a rejection).
    Reply(Bytes),
    /// A conclusion with a valid cookie: the application decides.
    Request(Box<ConnectRequest>),
    /// Dropped without an answer (bad cookie, not a handshake, wrong phase).
    Ignore(&'static str),
}

#[derive(Debug)]
pub struct Listener {
    secret: [u8; 32],
    start: Instant,
}

/// A caller's conclusion that passed the cookie and format checks.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub peer: SocketAddr,
    pub handshake: Handshake,
    pub options: SrtOptions,
    /// The caller's clock at the conclusion (microseconds since its start).
    pub timestamp: u32,
    /// The parsed stream id, or the reason it cannot be served.
    pub stream: Result<StreamRequest, RejectReason>,
    /// The time the listener measures its own timestamps from.
    pub listener_start: Instant,
}

impl Listener {
    /// `secret` keys the SYN cookies; it must be random and never leave the process.
    pub fn new(secret: [u8; 32], now: Instant) -> Self {
        Self { secret, start: now }
    }

    pub fn handle(&self, now: Instant, from: SocketAddr, packet: &ControlPacket) -> ListenerOutput {
        let Control::Handshake(hs) = &packet.control else {
            return ListenerOutput::Ignore("not a handshake");
        };
        match hs.kind {
            HandshakeKind::Induction => {
                ListenerOutput::Reply(self.induction_response(now, from, hs))
            }
            HandshakeKind::Conclusion => {
                let minute = self.minute(now);
                let valid = hs.cookie == self.cookie(from, minute)
                    || (minute > 0 && hs.cookie == self.cookie(from, minute - 1));
                if !valid {
                    return ListenerOutput::Ignore("conclusion with a stale or forged cookie");
                }
                match self.check_conclusion(hs) {
                    Ok(options) => ListenerOutput::Request(Box::new(ConnectRequest {
                        peer: from,
                        handshake: hs.clone(),
                        options,
                        timestamp: packet.timestamp,
                        stream: hs
                            .stream_id()
                            .map_or(Err(RejectReason::BadRequest), parse_stream_id),
                        listener_start: self.start,
                    })),
                    Err(reason) => ListenerOutput::Reply(rejection(now, self.start, hs, reason)),
                }
            }
            _ => ListenerOutput::Ignore("handshake phase a listener does not answer"),
        }
    }

    fn minute(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs() / COOKIE_PERIOD.as_secs()
    }

    fn cookie(&self, from: SocketAddr, minute: u64) -> u32 {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return 0;
        };
        mac.update(from.to_string().as_bytes());
        mac.update(&minute.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let mut four = [0u8; 4];
        for (slot, byte) in four.iter_mut().zip(digest.iter()) {
            *slot = *byte;
        }
        // 0 means "no cookie" in an induction request.
        u32::from_be_bytes(four).max(1)
    }

    fn induction_response(&self, now: Instant, from: SocketAddr, hs: &Handshake) -> Bytes {
        // libsrt echoes the request, changing only version, type word and cookie.
        let mut response = hs.clone();
        response.version = 5;
        response.encryption = 0;
        response.extension_field = SRT_MAGIC;
        response.extensions.clear();
        response.cookie = self.cookie(from, self.minute(now));
        encode(now, self.start, hs.socket_id, response)
    }

    fn check_conclusion(&self, hs: &Handshake) -> Result<SrtOptions, RejectReason> {
        if hs.version != 5 {
            return Err(RejectReason::Version);
        }
        if hs.extension_field == 0 || hs.mss < 76 || hs.flow_window < 2 {
            return Err(RejectReason::Rogue);
        }
        let options = match hs.extensions.iter().find_map(|e| match e {
            Extension::HsReq(o) => Some(*o),
            _ => None,
        }) {
            Some(o) => o,
            None => return Err(RejectReason::Rogue),
        };
        if options.version < MIN_HSV5_VERSION {
            return Err(RejectReason::Version);
        }
        if options.flags & srt_flag::STREAM != 0 {
            return Err(RejectReason::MessageApi);
        }
        if hs.extension_field & ext_flag::KMREQ != 0 && hs.key_material().is_none() {
            return Err(RejectReason::Rogue);
        }
        for ext in &hs.extensions {
            match ext {
                Extension::Congestion(name) if name.as_slice() != b"live" => {
                    return Err(RejectReason::Congestion);
                }
                Extension::Filter(_) => return Err(RejectReason::Filter),
                _ => {}
            }
        }
        Ok(options)
    }
}

impl ConnectRequest {
    /// The caller's socket id, which every packet to it is addressed to.
    pub fn caller_socket(&self) -> u32 {
        self.handshake.socket_id
    }

    /// The rejection datagram for this caller.
    pub fn reject(&self, now: Instant, reason: RejectReason) -> Bytes {
        rejection(now, self.listener_start, &self.handshake, reason)
    }
}

/// The received conclusion echoed with the Handshake Type set to 1000 + reason.
fn rejection(now: Instant, start: Instant, hs: &Handshake, reason: RejectReason) -> Bytes {
    let mut response = hs.clone();
    response.kind = HandshakeKind::Rejection(reason.code());
    response.extensions.clear();
    encode(now, start, hs.socket_id, response)
}

/// Microseconds since `start`, as the 32-bit wrapping SRT timestamp.
pub(super) fn timestamp(now: Instant, start: Instant) -> u32 {
    now.saturating_duration_since(start).as_micros() as u32
}

pub(super) fn encode(now: Instant, start: Instant, dest: u32, hs: Handshake) -> Bytes {
    ControlPacket {
        timestamp: timestamp(now, start),
        dest,
        control: Control::Handshake(hs),
    }
    .encode()
}
