//! One established SRT connection in live mode (draft-sharabayko-srt 4.5-4.8): the
//! receiving side (ACK every 10 ms, light ACKs, ACKACK round-trip times, immediate
//! and periodic NAKs, too-late drop) and the sending side (retransmission on NAK,
//! too-late drop with drop requests), keepalive, peer idle timeout and shutdown.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::cipher::{Cipher, KeyIndex};
use super::handshake::{
    Extension, Handshake, HandshakeKind, SrtOptions, ext_flag, peer_ip_words, srt_flag,
};
use super::key_material::KeyMaterial;
use super::key_schedule::{KeyAction, KeyRefresh, KeySchedule};
use super::listener::{ConnectRequest, encode, timestamp};
use super::packet::user_subtype;
use super::packet::{Ack, AckInfo, Control, ControlPacket, DataPacket, KeyField, Packet};
use super::receiver::{ReceiveStats, Receiver};
use super::sender::{Dropped, SendStats, Sender};
use super::{RejectReason, SeqNo, SrtError};
use crate::session::{Session, Transmit};

/// The SRT version this implementation speaks (HSv5, live mode).
pub const SRT_VERSION: u32 = 0x0001_0501;
/// Full ACK period (the SYN interval).
const ACK_PERIOD: Duration = Duration::from_millis(10);
/// A light ACK is sent after this many packets between full ACKs.
const LIGHT_ACK_PACKETS: u32 = 64;
const KEEPALIVE_PERIOD: Duration = Duration::from_secs(1);
const MIN_NAK_PERIOD: Duration = Duration::from_millis(20);
/// ACKs remembered for matching ACKACKs.
const ACK_HISTORY: usize = 256;

#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// This side's socket id (what the peer addresses its packets to).
    pub socket_id: u32,
    /// The latency this side wants when receiving.
    pub latency: Duration,
    pub idle_timeout: Duration,
    /// Packets this side can hold for reordering (and what it advertises).
    pub flow_window: u32,
    pub mss: u32,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            socket_id: 1,
            latency: Duration::from_millis(120),
            idle_timeout: Duration::from_secs(5),
            flow_window: 8192,
            mss: 1500,
        }
    }
}

/// The keys of an encrypted connection and the passphrase they were unwrapped with
/// (needed again when the peer refreshes its keys).
#[derive(Debug)]
pub struct Encryption {
    pub cipher: Cipher,
    pub passphrase: String,
    /// When this side sends: its key refresh schedule ([`Encryption::refresh_keys`]).
    schedule: Option<KeySchedule>,
}

impl Encryption {
    /// Decides encryption for a caller: both sides have a passphrase or neither
    /// (libsrt's enforced encryption), and the caller's keys unwrap with ours.
    pub fn negotiate(
        request: &ConnectRequest,
        passphrase: Option<&str>,
    ) -> Result<Option<Self>, RejectReason> {
        match (passphrase, request.handshake.key_material()) {
            (None, None) => Ok(None),
            (Some(_), None) | (None, Some(_)) => Err(RejectReason::Unsecure),
            (Some(passphrase), Some(km)) => {
                let km = KeyMaterial::parse(km).map_err(|_| RejectReason::Rogue)?;
                match Cipher::from_key_material(&km, passphrase) {
                    Ok(cipher) => Ok(Some(Self {
                        cipher,
                        passphrase: passphrase.to_owned(),
                        schedule: None,
                    })),
                    Err(super::KmError::BadSecret) => Err(RejectReason::BadSecret),
                    Err(_) => Err(RejectReason::Rogue),
                }
            }
        }
    }

    /// Makes the payloads this side sends change keys on `refresh`'s schedule
    /// (without it they stay under the caller's key for the whole session).
    pub fn refresh_keys(mut self, refresh: &KeyRefresh) -> Self {
        let active = if self.cipher.has_key(KeyIndex::Even) {
            KeyIndex::Even
        } else {
            KeyIndex::Odd
        };
        self.schedule = Some(KeySchedule::new(refresh, active));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    PeerShutdown,
    PeerIdle(Duration),
    Local,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerShutdown => f.write_str("peer sent shutdown"),
            Self::PeerIdle(d) => write!(f, "peer silent for {} s", d.as_secs()),
            Self::Local => f.write_str("closed locally"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrtEvent {
    /// The next payload in sequence order (1316 bytes of TS in live mode).
    Data(Bytes),
    Closed(CloseReason),
}

/// Counters of one connection, for the monitoring endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    pub rtt_us: u32,
    pub rtt_var_us: u32,
    pub receive: ReceiveStats,
    pub send: SendStats,
    /// Payload bits per second received over the last second.
    pub receive_rate_bps: u64,
    pub malformed: u64,
    /// Encrypted packets with no key to decrypt them, dropped.
    pub undecryptable: u64,
    /// Key refreshes: in-stream KMREQs applied (receiving) or sent (sending).
    pub key_refreshes: u64,
    /// Refreshes of this side's keys that failed (the old keys stay in use).
    pub key_refresh_failures: u64,
    pub acks_sent: u64,
    pub naks_sent: u64,
}

#[derive(Debug)]
pub struct Connection {
    config: ConnectionConfig,
    peer: SocketAddr,
    peer_socket: u32,
    origin: Instant,
    handshake_response: Bytes,
    receiver: Receiver,
    sender: Sender,
    encryption: Option<Encryption>,
    rtt_us: u32,
    rtt_var_us: u32,
    /// An ACKACK has measured the round trip (until then RTT is the 100 ms guess).
    rtt_measured: bool,
    ack_number: u32,
    acks: VecDeque<(u32, Instant)>,
    /// What the last full ACK acknowledged (light ACKs do not count).
    last_ack_seq: SeqNo,
    last_full_ack: Instant,
    packets_since_ack: u32,
    last_nak: Instant,
    last_sent: Instant,
    last_heard: Instant,
    rate_window: (Instant, u64),
    stats: ConnectionStats,
    delivered: VecDeque<Bytes>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SrtEvent>,
    closed: bool,
}

impl Connection {
    /// Accepts a caller: the conclusion response (echoing the caller's key material
    /// as KMRSP when encrypted, as libsrt does) is the first transmit, and is sent
    /// again for every repeated conclusion.
    pub fn accept(
        request: &ConnectRequest,
        config: ConnectionConfig,
        encryption: Option<Encryption>,
        now: Instant,
    ) -> Self {
        let km_response = encryption
            .as_ref()
            .and_then(|_| request.handshake.key_material().cloned());
        let options = request.options;
        let receive_latency = config
            .latency
            .max(Duration::from_millis(u64::from(options.sender_delay_ms)));
        let peer_latency = Duration::from_millis(u64::from(options.receiver_delay_ms));
        let mut flags = srt_flag::TSBPD_RCV
            | srt_flag::CRYPT
            | srt_flag::TLPKTDROP
            | srt_flag::PERIODIC_NAK
            | srt_flag::REXMIT_FLAG;
        if options.flags & srt_flag::TSBPD_RCV != 0 {
            flags |= srt_flag::TSBPD_SND;
        }
        let caller = &request.handshake;
        let mut extensions = vec![Extension::HsRsp(SrtOptions {
            version: SRT_VERSION,
            flags,
            receiver_delay_ms: receive_latency.as_millis().min(u128::from(u16::MAX)) as u16,
            sender_delay_ms: peer_latency.as_millis().min(u128::from(u16::MAX)) as u16,
        })];
        let mut extension_field = ext_flag::HSREQ;
        if let Some(km) = &km_response {
            extensions.push(Extension::KmRsp(km.clone()));
            extension_field |= ext_flag::KMREQ;
        }
        let response = Handshake {
            version: 5,
            encryption: if km_response.is_some() {
                caller.encryption
            } else {
                0
            },
            extension_field,
            isn: caller.isn,
            mss: caller.mss.min(config.mss),
            flow_window: config.flow_window,
            kind: HandshakeKind::Conclusion,
            socket_id: config.socket_id,
            cookie: caller.cookie,
            peer_ip: peer_ip_words(request.peer.ip()),
            extensions,
        };
        let handshake_response = encode(now, now, caller.socket_id, response);
        let mut connection = Self {
            peer: request.peer,
            peer_socket: caller.socket_id,
            origin: now,
            handshake_response: handshake_response.clone(),
            receiver: Receiver::new(
                caller.isn,
                receive_latency,
                config.flow_window as usize,
                now,
                request.timestamp,
            ),
            sender: Sender::new(caller.isn, peer_latency, caller.flow_window),
            encryption,
            config,
            rtt_us: 100_000,
            rtt_var_us: 50_000,
            rtt_measured: false,
            ack_number: 0,
            acks: VecDeque::new(),
            last_ack_seq: caller.isn,
            last_full_ack: now,
            packets_since_ack: 0,
            last_nak: now,
            last_sent: now,
            last_heard: now,
            rate_window: (now, 0),
            stats: ConnectionStats::default(),
            delivered: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            closed: false,
        };
        connection.queue(handshake_response);
        connection
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn peer_socket(&self) -> u32 {
        self.peer_socket
    }

    pub fn socket_id(&self) -> u32 {
        self.config.socket_id
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            rtt_us: self.rtt_us,
            rtt_var_us: self.rtt_var_us,
            receive: self.receiver.stats,
            send: self.sender.stats,
            ..self.stats
        }
    }

    /// Packets sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.sender.in_flight()
    }

    /// The latency the peer delivers at (its TSBPD delay): what it received is handed
    /// on this long after it was sent.
    pub fn peer_latency(&self) -> Duration {
        self.sender.peer_latency()
    }

    /// Sends one payload (at most 1316 bytes in live mode) as the next data packet.
    pub fn send(&mut self, now: Instant, payload: Bytes) {
        if self.closed {
            return;
        }
        let ts = timestamp(now, self.origin);
        let (key, payload) = match self.encrypt(now, payload) {
            Some(sealed) => sealed,
            None => return,
        };
        let (packet, dropped) = self.sender.send(now, ts, key, payload, self.peer_socket);

        if let Some(dropped) = dropped {
            self.send_drop_request(now, dropped);
        }
        self.queue_data(now, &packet);
    }

    /// Says goodbye to the peer; the connection is closed afterwards.
    pub fn close(&mut self, now: Instant) {
        if !self.closed {
            self.send_control(now, Control::Shutdown);
            self.finish(CloseReason::Local);
        }
    }

    fn finish(&mut self, reason: CloseReason) {
        if !self.closed {
            self.closed = true;
            self.events.push_back(SrtEvent::Closed(reason));
        }
    }

    fn queue(&mut self, datagram: Bytes) {
        self.transmits.push_back(Transmit {
            pieces: vec![datagram],
        });
    }

    fn queue_data(&mut self, now: Instant, packet: &DataPacket) {
        self.last_sent = now;
        self.transmits.push_back(Transmit {
            pieces: vec![
                Bytes::copy_from_slice(&packet.header()),
                packet.payload.clone(),
            ],
        });
    }

    fn send_control(&mut self, now: Instant, control: Control) {
        self.last_sent = now;
        let datagram = ControlPacket {
            timestamp: timestamp(now, self.origin),
            dest: self.peer_socket,
            control,
        }
        .encode();
        self.queue(datagram);
    }

    fn send_drop_request(&mut self, now: Instant, dropped: Dropped) {
        self.send_control(
            now,
            Control::DropRequest {
                message: dropped.message,
                first: dropped.first,
                last: dropped.last,
            },
        );
    }

    fn send_full_ack(&mut self, now: Instant) {
        self.ack_number = self.ack_number.wrapping_add(1).max(1);
        let (packets_per_second, bytes_per_second) = self.rates();
        let ack = Ack {
            number: self.ack_number,
            last: self.receiver.ack_seq(),
            info: Some(AckInfo {
                rtt_us: self.rtt_us,
                rtt_var_us: self.rtt_var_us,
                buffer_packets: self.receiver.free_slots(),
                packets_per_second,
                capacity_packets: packets_per_second,
                bytes_per_second,
            }),
        };
        self.last_ack_seq = ack.last;
        self.last_full_ack = now;
        self.packets_since_ack = 0;
        self.stats.acks_sent += 1;
        if self.acks.len() >= ACK_HISTORY {
            self.acks.pop_front();
        }
        self.acks.push_back((self.ack_number, now));
        self.send_control(now, Control::Ack(ack));
    }

    /// The receive rate of the last second, in packets and bytes per second.
    fn rates(&self) -> (u32, u32) {
        let bps = self.stats.receive_rate_bps;
        let bytes = (bps / 8).min(u64::from(u32::MAX)) as u32;
        let packets = (bytes / 1316).max(1);
        (packets, bytes)
    }

    /// A light ACK frees the sender's buffer between full ACKs. It leaves
    /// `last_ack_seq` alone: that tracks full ACKs, the only ones that carry the
    /// link statistics and that ACKACK answers (the RTT measurement).
    fn send_light_ack(&mut self, now: Instant) {
        self.packets_since_ack = 0;
        self.send_control(
            now,
            Control::Ack(Ack {
                number: 0,
                last: self.receiver.ack_seq(),
                info: None,
            }),
        );
    }

    fn rtt(&self) -> Duration {
        Duration::from_micros(u64::from(self.rtt_us))
    }

    fn nak_period(&self) -> Duration {
        let us = (u64::from(self.rtt_us) + 4 * u64::from(self.rtt_var_us)) / 2;
        Duration::from_micros(us).max(MIN_NAK_PERIOD)
    }

    fn on_rtt_sample(&mut self, sample_us: u32) {
        if !std::mem::replace(&mut self.rtt_measured, true) {
            // The first measurement replaces the guess outright, as libsrt does:
            // smoothing from 100 ms would keep the NAK period (RTT + 4·RTTVar)/2
            // near 150 ms for the first second, longer than a 120 ms latency, so
            // a loss whose NAK or retransmission is lost could not be repaired.
            self.rtt_us = sample_us;
            self.rtt_var_us = sample_us / 2;
            return;
        }
        let rtt = i64::from(self.rtt_us);
        let sample = i64::from(sample_us);
        self.rtt_var_us = ((3 * i64::from(self.rtt_var_us) + (rtt - sample).abs()) / 4) as u32;
        self.rtt_us = ((7 * rtt + sample) / 8) as u32;
    }

    fn update_rate(&mut self, now: Instant) {
        let (start, base) = self.rate_window;
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= Duration::from_secs(1) {
            let bytes = self.receiver.stats.bytes - base;
            self.stats.receive_rate_bps =
                (bytes as u128 * 8 * 1000 / elapsed.as_millis().max(1)) as u64;
            self.rate_window = (now, self.receiver.stats.bytes);
        }
    }

    /// The payload as it goes on the wire: encrypted when the connection is, with
    /// the key the refresh schedule makes active (without one: the even key, or the
    /// odd one when only it is present). `None`: no key.
    fn encrypt(&mut self, now: Instant, payload: Bytes) -> Option<(KeyField, Bytes)> {
        let Some(encryption) = &mut self.encryption else {
            return Some((KeyField::Clear, payload));
        };
        let index = match &encryption.schedule {
            Some(schedule) => schedule.active(),
            None if encryption.cipher.has_key(KeyIndex::Even) => KeyIndex::Even,
            None => KeyIndex::Odd,
        };
        let field = match index {
            KeyIndex::Even => KeyField::Even,
            KeyIndex::Odd => KeyField::Odd,
        };
        let mut sealed = bytes::BytesMut::from(&payload[..]);
        // The sequence number is the next one the sender gives out.
        let seq = self.sender.next_seq().value();
        if encryption.cipher.apply(index, seq, &mut sealed).is_err() {
            self.stats.undecryptable += 1;
            return None;
        }
        let action = match &mut encryption.schedule {
            Some(schedule) => schedule.on_sent(now, &mut encryption.cipher, &encryption.passphrase),
            None => Ok(None),
        };
        match action {
            Ok(Some(KeyAction::Announce(km))) => {
                self.stats.key_refreshes += 1;
                self.send_key_request(now, km);
            }
            Ok(None) => {}
            // Keys stay as they are; the peer can still decrypt everything.
            Err(_) => self.stats.key_refresh_failures += 1,
        }
        Some((field, sealed.freeze()))
    }

    fn send_key_request(&mut self, now: Instant, km: Bytes) {
        self.send_control(
            now,
            Control::User {
                subtype: user_subtype::KMREQ,
                info: 0,
                payload: km,
            },
        );
    }

    fn on_data(&mut self, now: Instant, mut packet: DataPacket) {
        if packet.key != KeyField::Clear {
            let index = match packet.key {
                KeyField::Even => KeyIndex::Even,
                _ => KeyIndex::Odd,
            };
            let Some(encryption) = &self.encryption else {
                self.stats.undecryptable += 1;
                return;
            };
            let mut clear = bytes::BytesMut::from(&packet.payload[..]);
            if encryption
                .cipher
                .apply(index, packet.seq.value(), &mut clear)
                .is_err()
            {
                self.stats.undecryptable += 1;
                return;
            }
            packet.payload = clear.freeze();
        }
        self.receiver.on_data(
            now,
            packet.seq,
            packet.timestamp,
            packet.retransmitted,
            packet.payload,
            &mut self.delivered,
        );
        let losses = self.receiver.take_new_losses();
        if !losses.is_empty() {
            self.stats.naks_sent += 1;
            self.send_control(now, Control::Nak(losses));
        }
        self.packets_since_ack += 1;
        if self.packets_since_ack >= LIGHT_ACK_PACKETS {
            self.send_light_ack(now);
        }
    }

    fn on_control(&mut self, now: Instant, control: Control) {
        match control {
            Control::Handshake(hs) if hs.kind == HandshakeKind::Conclusion => {
                // Our response was lost: the caller repeats its conclusion.
                let response = self.handshake_response.clone();
                self.queue(response);
            }
            Control::Ack(ack) => {
                self.sender.on_ack(ack.last);
                if ack.number != 0 {
                    self.send_control(now, Control::AckAck(ack.number));
                }
                if let Some(info) = ack.info {
                    // As a sender, the receiver's measurement is the one there is.
                    if info.rtt_us > 0 {
                        self.rtt_us = info.rtt_us;
                        self.rtt_var_us = info.rtt_var_us;
                    }
                }
            }
            Control::Nak(ranges) => {
                let again = self.sender.on_nak(&ranges, self.peer_socket);
                for packet in again {
                    self.queue_data(now, &packet);
                }
            }
            Control::AckAck(number) => {
                if let Some(&(_, sent)) = self.acks.iter().find(|(n, _)| *n == number) {
                    let sample = now.saturating_duration_since(sent).as_micros();
                    self.on_rtt_sample(sample.min(u128::from(u32::MAX)) as u32);
                }
            }
            Control::DropRequest { first, last, .. } => {
                self.receiver
                    .on_drop_request(first, last, &mut self.delivered);
            }
            Control::Shutdown => self.finish(CloseReason::PeerShutdown),
            Control::User {
                subtype: user_subtype::KMREQ,
                payload,
                ..
            } => self.on_key_refresh(now, payload),
            Control::User {
                subtype: user_subtype::KMRSP,
                payload,
                ..
            } => {
                if let Some(schedule) = self.encryption.as_mut().and_then(|e| e.schedule.as_mut()) {
                    schedule.on_response(&payload);
                }
            }
            _ => {}
        }
    }

    /// The peer announces new keys (it refreshes them every 2^24 packets by default):
    /// apply them and echo the message as KMRSP, as libsrt does.
    fn on_key_refresh(&mut self, now: Instant, payload: Bytes) {
        let Some(encryption) = &mut self.encryption else {
            return;
        };
        let applied = KeyMaterial::parse(&payload)
            .and_then(|km| encryption.cipher.update(&km, &encryption.passphrase));
        if applied.is_ok() {
            self.stats.key_refreshes += 1;
            self.send_control(
                now,
                Control::User {
                    subtype: user_subtype::KMRSP,
                    info: 0,
                    payload,
                },
            );
        }
    }

    fn flush_delivered(&mut self) {
        while let Some(payload) = self.delivered.pop_front() {
            self.events.push_back(SrtEvent::Data(payload));
        }
    }
}

impl Session for Connection {
    type Event = SrtEvent;
    type Error = SrtError;

    /// One datagram from the peer. A malformed one is an error for the caller to
    /// count; the connection carries on.
    fn handle_input(&mut self, now: Instant, data: Bytes) -> Result<(), SrtError> {
        if self.closed {
            return Ok(());
        }
        let packet = match Packet::parse(data) {
            Ok(packet) => packet,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e);
            }
        };
        self.last_heard = now;
        match packet {
            Packet::Data(data) => self.on_data(now, data),
            Packet::Control(control) => self.on_control(now, control.control),
        }
        self.update_rate(now);
        self.flush_delivered();
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        let silent = now.saturating_duration_since(self.last_heard);
        if silent >= self.config.idle_timeout {
            self.finish(CloseReason::PeerIdle(silent));
            return;
        }
        self.receiver.on_timeout(now, &mut self.delivered);
        self.flush_delivered();
        if self.receiver.ack_seq() != self.last_ack_seq && now >= self.last_full_ack + ACK_PERIOD {
            self.send_full_ack(now);
        }
        if self.receiver.has_losses() && now >= self.last_nak + self.nak_period() {
            self.last_nak = now;
            let losses = self.receiver.loss_list();
            self.stats.naks_sent += 1;
            self.send_control(now, Control::Nak(losses));
        }
        if let Some(dropped) = self.sender.drop_too_late(now) {
            self.send_drop_request(now, dropped);
        }
        let rtt = self.rtt();
        let resend = self
            .encryption
            .as_mut()
            .and_then(|e| e.schedule.as_mut())
            .and_then(|s| s.on_timeout(now, rtt));
        if let Some(KeyAction::Announce(km)) = resend {
            self.send_key_request(now, km);
        }
        if now >= self.last_sent + KEEPALIVE_PERIOD {
            self.send_control(now, Control::Keepalive);
        }
        self.update_rate(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_event(&mut self) -> Option<SrtEvent> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let mut next =
            (self.last_heard + self.config.idle_timeout).min(self.last_sent + KEEPALIVE_PERIOD);
        if self.receiver.ack_seq() != self.last_ack_seq {
            next = next.min(self.last_full_ack + ACK_PERIOD);
        }
        if self.receiver.has_losses() {
            next = next.min(self.last_nak + self.nak_period());
        }
        let key_request = self
            .encryption
            .as_ref()
            .and_then(|e| e.schedule.as_ref())
            .and_then(|s| s.next_deadline(self.rtt()));
        for deadline in [
            self.receiver.next_deadline(),
            self.sender.next_deadline(),
            key_request,
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(deadline);
        }
        Some(next)
    }
}
