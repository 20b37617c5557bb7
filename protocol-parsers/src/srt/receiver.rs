//! The receiving half of a live-mode connection: reorders packets by sequence
//! number, reports losses, and gives up on a loss when the packet after it is due
//! (too-late packet drop at the negotiated TSBPD latency).
//!
//! Contiguous packets are handed on at once rather than held until their TSBPD
//! time: Manifold is a relay, not a player, and every output paces itself from the
//! media timestamps, so holding packets would only add latency. The latency is the
//! time a loss is waited for.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::SeqNo;

/// Loss ranges in one NAK: fits a 1500-byte packet with room to spare.
const MAX_NAK_RANGES: usize = 150;
/// How long the TSBPD base is measured before it may move up again (clock drift).
const BASE_WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
enum Slot {
    Missing,
    Received(Bytes),
    /// The sender said it will never send this one (drop request).
    Abandoned,
}

/// Counters of the receiving direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    pub packets: u64,
    pub bytes: u64,
    /// Packets found missing when a later one arrived.
    pub lost: u64,
    /// Missing packets that arrived later (retransmissions).
    pub recovered: u64,
    /// Missing packets given up on at their deadline or on a drop request.
    pub dropped: u64,
    pub duplicates: u64,
    /// Packets beyond the receive window, discarded.
    pub overflow: u64,
    pub retransmitted_received: u64,
}

/// Unwraps 32-bit microsecond timestamps (they wrap every 71.6 minutes).
#[derive(Debug, Default)]
struct TimestampClock {
    last: Option<(u32, i64)>,
}

impl TimestampClock {
    fn unwrap(&mut self, ts: u32) -> i64 {
        match self.last {
            None => {
                self.last = Some((ts, i64::from(ts)));
                i64::from(ts)
            }
            Some((raw, wide)) => {
                let step = i64::from(ts.wrapping_sub(raw) as i32);
                let value = wide + step;
                if step > 0 {
                    self.last = Some((ts, value));
                }
                value
            }
        }
    }
}

/// Maps sender timestamps to local time: the smallest `arrival - timestamp` seen,
/// re-measured every [`BASE_WINDOW`] so that clock drift does not accumulate.
#[derive(Debug)]
struct TsbpdBase {
    origin: Instant,
    base_us: i64,
    window_min: i64,
    window_start: Instant,
}

impl TsbpdBase {
    fn observe(&mut self, now: Instant, ts: i64) {
        let offset = micros_since(self.origin, now) - ts;
        self.base_us = self.base_us.min(offset);
        self.window_min = self.window_min.min(offset);
        if now.saturating_duration_since(self.window_start) >= BASE_WINDOW {
            self.base_us = self.window_min;
            self.window_min = i64::MAX;
            self.window_start = now;
        }
    }

    fn local_time(&self, ts: i64) -> Instant {
        let at = self.base_us.saturating_add(ts);
        if at >= 0 {
            self.origin + Duration::from_micros(at as u64)
        } else {
            self.origin
                .checked_sub(Duration::from_micros(at.unsigned_abs()))
                .unwrap_or(self.origin)
        }
    }
}

fn micros_since(origin: Instant, now: Instant) -> i64 {
    now.saturating_duration_since(origin).as_micros() as i64
}

#[derive(Debug)]
pub(super) struct Receiver {
    latency: Duration,
    capacity: usize,
    /// The first sequence number not yet handed on; `slots[0]` holds it.
    next: SeqNo,
    slots: VecDeque<(Slot, i64)>,
    highest: SeqNo,
    clock: TimestampClock,
    base: TsbpdBase,
    new_losses: Vec<(SeqNo, SeqNo)>,
    pub(super) stats: ReceiveStats,
}

impl Receiver {
    /// `peer_timestamp` is the caller's clock in its conclusion handshake, the first
    /// estimate of its time base.
    pub(super) fn new(
        isn: SeqNo,
        latency: Duration,
        capacity: usize,
        now: Instant,
        peer_timestamp: u32,
    ) -> Self {
        let base_us = -i64::from(peer_timestamp);
        Self {
            latency,
            capacity: capacity.max(2),
            next: isn,
            slots: VecDeque::new(),
            highest: isn.sub(1),
            clock: TimestampClock::default(),
            base: TsbpdBase {
                origin: now,
                base_us,
                window_min: i64::MAX,
                window_start: now,
            },
            new_losses: Vec::new(),
            stats: ReceiveStats::default(),
        }
    }

    /// The next sequence number the receiver waits for: what an ACK carries.
    pub(super) fn ack_seq(&self) -> SeqNo {
        self.next
    }

    pub(super) fn free_slots(&self) -> u32 {
        self.capacity.saturating_sub(self.slots.len()) as u32
    }

    /// Stores one data packet; in-order payloads are appended to `out`.
    pub(super) fn on_data(
        &mut self,
        now: Instant,
        seq: SeqNo,
        timestamp: u32,
        retransmitted: bool,
        payload: Bytes,
        out: &mut VecDeque<Bytes>,
    ) {
        let ts = self.clock.unwrap(timestamp);
        if !retransmitted {
            // Retransmissions arrive late by design; they would skew the base.
            self.base.observe(now, ts);
        }
        if retransmitted {
            self.stats.retransmitted_received += 1;
        }
        let offset = seq.distance(self.next);
        if offset < 0 {
            self.stats.duplicates += 1;
            return;
        }
        let mut offset = offset as usize;
        if offset >= self.capacity {
            // The sender is a whole window ahead (it dropped packets without telling,
            // or the link was down): give up on the oldest to make room.
            self.stats.overflow += 1;
            while offset >= self.capacity {
                match self.slots.pop_front() {
                    Some((Slot::Received(payload), _)) => out.push_back(payload),
                    Some((Slot::Missing, _)) => self.stats.dropped += 1,
                    Some((Slot::Abandoned, _)) => {}
                    None => {
                        let skip = offset - self.capacity + 1;
                        self.stats.dropped += skip as u64;
                        self.next = self.next.add(skip as u32);
                        offset -= skip;
                        break;
                    }
                }
                self.next = self.next.next();
                offset -= 1;
            }
            if self.highest.is_before(self.next) {
                self.highest = self.next.sub(1);
            }
        }
        self.stats.packets += 1;
        self.stats.bytes += payload.len() as u64;
        if seq.is_after(self.highest) {
            let gap = seq.distance(self.highest) - 1;
            if gap > 0 {
                self.new_losses.push((self.highest.next(), seq.sub(1)));
                self.stats.lost += gap as u64;
            }
            self.highest = seq;
        }
        while self.slots.len() <= offset {
            self.slots.push_back((Slot::Missing, ts));
        }
        match self.slots.get_mut(offset) {
            Some((slot @ Slot::Missing, at)) => {
                if seq != self.highest {
                    self.stats.recovered += 1;
                }
                *slot = Slot::Received(payload);
                *at = ts;
            }
            _ => {
                self.stats.duplicates += 1;
                return;
            }
        }
        self.deliver(out);
    }

    fn deliver(&mut self, out: &mut VecDeque<Bytes>) {
        while let Some((slot, _)) = self.slots.front() {
            match slot {
                Slot::Missing => break,
                Slot::Received(_) | Slot::Abandoned => {
                    if let Some((Slot::Received(payload), _)) = self.slots.pop_front() {
                        out.push_back(payload);
                    }
                    self.next = self.next.next();
                }
            }
        }
        if self.highest.is_before(self.next) {
            self.highest = self.next.sub(1);
        }
    }

    /// The sender gave up on `first..=last`: stop waiting for them.
    pub(super) fn on_drop_request(&mut self, first: SeqNo, last: SeqNo, out: &mut VecDeque<Bytes>) {
        let mut seq = first;
        let mut guard = 0;
        while !seq.is_after(last) && guard < self.capacity {
            guard += 1;
            let offset = seq.distance(self.next);
            if offset >= 0 {
                let offset = offset as usize;
                if let Some((slot @ Slot::Missing, _)) = self.slots.get_mut(offset) {
                    *slot = Slot::Abandoned;
                    self.stats.dropped += 1;
                } else if offset == self.slots.len() && offset < self.capacity {
                    // Never seen: lost with nothing after it to reveal the gap (the
                    // end of a stream), and now given up by the sender.
                    let ts = self.slots.back().map_or(0, |(_, ts)| *ts);
                    self.slots.push_back((Slot::Abandoned, ts));
                    self.stats.lost += 1;
                    self.stats.dropped += 1;
                }
            }
            seq = seq.next();
        }
        self.deliver(out);
    }

    /// When the oldest received packet behind a gap is due: the gap is then dropped.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if !matches!(self.slots.front(), Some((Slot::Missing, _))) {
            return None;
        }
        let (_, ts) = self
            .slots
            .iter()
            .find(|(slot, _)| !matches!(slot, Slot::Missing))?;
        Some(self.base.local_time(*ts) + self.latency)
    }

    /// Drops every gap whose following packet is due; hands on what follows.
    pub(super) fn on_timeout(&mut self, now: Instant, out: &mut VecDeque<Bytes>) {
        while let Some(deadline) = self.next_deadline() {
            if now < deadline {
                break;
            }
            while let Some((Slot::Missing, _)) = self.slots.front() {
                self.slots.pop_front();
                self.next = self.next.next();
                self.stats.dropped += 1;
            }
            self.deliver(out);
        }
    }

    /// Losses found since the last call (for an immediate NAK).
    pub(super) fn take_new_losses(&mut self) -> Vec<(SeqNo, SeqNo)> {
        std::mem::take(&mut self.new_losses)
    }

    /// Every packet still missing, as ranges (for the periodic NAK).
    pub(super) fn loss_list(&self) -> Vec<(SeqNo, SeqNo)> {
        let mut ranges: Vec<(SeqNo, SeqNo)> = Vec::new();
        let mut seq = self.next;
        for (slot, _) in &self.slots {
            if matches!(slot, Slot::Missing) {
                match ranges.last_mut() {
                    Some((_, last)) if last.next() == seq => *last = seq,
                    _ => {
                        if ranges.len() >= MAX_NAK_RANGES {
                            break;
                        }
                        ranges.push((seq, seq));
                    }
                }
            }
            seq = seq.next();
        }
        ranges
    }

    pub(super) fn has_losses(&self) -> bool {
        self.slots
            .iter()
            .any(|(slot, _)| matches!(slot, Slot::Missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tests run on virtual time: any instant will do as the origin.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    fn payload(n: u8) -> Bytes {
        Bytes::from(vec![n; 4])
    }

    #[test]
    fn reorders_reports_and_recovers_a_loss() {
        let t0 = origin();
        let mut rx = Receiver::new(
            SeqNo::new(SeqNo::MAX - 1),
            Duration::from_millis(120),
            64,
            t0,
            0,
        );
        let mut out = VecDeque::new();
        let isn = SeqNo::new(SeqNo::MAX - 1);
        rx.on_data(t0, isn, 0, false, payload(0), &mut out);
        rx.on_data(t0, isn.add(2), 2000, false, payload(2), &mut out);
        rx.on_data(t0, isn.add(3), 3000, false, payload(3), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(rx.take_new_losses(), vec![(isn.add(1), isn.add(1))]);
        assert_eq!(rx.loss_list(), vec![(isn.add(1), isn.add(1))]);
        rx.on_data(t0, isn.add(1), 1000, true, payload(1), &mut out);
        let got: Vec<u8> = out.iter().map(|b| b[0]).collect();
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert_eq!(rx.stats.lost, 1);
        assert_eq!(rx.stats.recovered, 1);
        assert_eq!(rx.ack_seq(), isn.add(4));
        assert!(!rx.has_losses());
    }

    #[test]
    fn a_drop_request_past_everything_received_counts_and_skips_those_packets() {
        let t0 = origin();
        let mut rx = Receiver::new(SeqNo::new(10), Duration::from_millis(120), 64, t0, 0);
        let mut out = VecDeque::new();
        rx.on_data(t0, SeqNo::new(10), 0, false, payload(10), &mut out);
        // 11 and 12 were lost with nothing after them; the sender gives them up.
        rx.on_drop_request(SeqNo::new(11), SeqNo::new(12), &mut out);
        assert_eq!((rx.stats.lost, rx.stats.dropped), (2, 2));
        assert_eq!(rx.ack_seq(), SeqNo::new(13));
        rx.on_data(t0, SeqNo::new(13), 3000, false, payload(13), &mut out);
        let got: Vec<u8> = out.iter().map(|b| b[0]).collect();
        assert_eq!(got, vec![10, 13]);
        assert!(!rx.has_losses());
    }

    #[test]
    fn gives_up_on_a_loss_when_the_next_packet_is_due() {
        let t0 = origin();
        let latency = Duration::from_millis(120);
        let mut rx = Receiver::new(SeqNo::new(10), latency, 64, t0, 0);
        let mut out = VecDeque::new();
        rx.on_data(t0, SeqNo::new(10), 0, false, payload(0), &mut out);
        rx.on_data(
            t0 + Duration::from_millis(20),
            SeqNo::new(12),
            20_000,
            false,
            payload(2),
            &mut out,
        );
        let deadline = rx.next_deadline().expect("a gap waits");
        assert_eq!(deadline, t0 + Duration::from_millis(20) + latency);
        rx.on_timeout(deadline - Duration::from_millis(1), &mut out);
        assert_eq!(out.len(), 1);
        rx.on_timeout(deadline, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(rx.stats.dropped, 1);
        assert_eq!(rx.ack_seq(), SeqNo::new(13));
        // The retransmission that arrives too late is a duplicate, not a delivery.
        rx.on_data(deadline, SeqNo::new(11), 10_000, true, payload(1), &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn timestamps_unwrap_past_32_bits() {
        let mut clock = TimestampClock::default();
        assert_eq!(clock.unwrap(u32::MAX - 5), i64::from(u32::MAX - 5));
        assert_eq!(clock.unwrap(4), i64::from(u32::MAX) + 5);
        // A reordered packet from before the wrap.
        assert_eq!(clock.unwrap(u32::MAX - 1), i64::from(u32::MAX - 1));
    }

    #[test]
    fn a_sender_a_window_ahead_moves_the_window() {
        let t0 = origin();
        let mut rx = Receiver::new(SeqNo::new(0), Duration::from_millis(120), 8, t0, 0);
        let mut out = VecDeque::new();
        rx.on_data(t0, SeqNo::new(0), 0, false, payload(0), &mut out);
        rx.on_data(t0, SeqNo::new(2), 0, false, payload(2), &mut out);
        rx.on_data(t0, SeqNo::new(100), 0, false, payload(100), &mut out);
        assert_eq!(rx.stats.overflow, 1);
        assert!(rx.slots.len() <= 8);
        rx.on_data(t0, SeqNo::new(101), 0, false, payload(101), &mut out);
        let got: Vec<u8> = out.iter().map(|b| b[0]).collect();
        assert_eq!(got, vec![0, 2]);
        assert_eq!(rx.ack_seq(), SeqNo::new(94));
        assert!(rx.has_losses());
    }
}
