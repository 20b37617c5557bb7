//! The sending half of a live-mode connection: keeps every packet until it is
//! acknowledged or too late to matter, retransmits what the receiver reports lost,
//! and tells the receiver what it gave up on.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::SeqNo;
use super::packet::{DataPacket, KeyField, Position};

/// Beyond the receiver's latency, how long an unacknowledged packet is kept.
const DROP_MARGIN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendStats {
    pub packets: u64,
    pub bytes: u64,
    pub retransmitted: u64,
    /// Packets never acknowledged, given up on (too late, or the buffer was full).
    pub dropped: u64,
}

#[derive(Debug)]
struct Unacked {
    seq: SeqNo,
    message: u32,
    timestamp: u32,
    key: KeyField,
    payload: Bytes,
    queued: Instant,
}

#[derive(Debug)]
pub(super) struct Sender {
    next_seq: SeqNo,
    next_message: u32,
    unacked: VecDeque<Unacked>,
    keep_for: Duration,
    capacity: usize,
    pub(super) stats: SendStats,
}

/// Packets given up on: what a drop request announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Dropped {
    pub message: u32,
    pub first: SeqNo,
    pub last: SeqNo,
}

impl Sender {
    pub(super) fn new(isn: SeqNo, peer_latency: Duration, flow_window: u32) -> Self {
        Self {
            next_seq: isn,
            next_message: 1,
            unacked: VecDeque::new(),
            keep_for: peer_latency + DROP_MARGIN,
            capacity: (flow_window as usize).clamp(2, 1 << 16),
            stats: SendStats::default(),
        }
    }

    /// Numbers a new packet and keeps it for retransmission. When the buffer is full
    /// the oldest packet is given up on and returned for a drop request.
    pub(super) fn send(
        &mut self,
        now: Instant,
        timestamp: u32,
        key: KeyField,
        payload: Bytes,
        dest: u32,
    ) -> (DataPacket, Option<Dropped>) {
        let dropped = if self.unacked.len() >= self.capacity {
            self.unacked.pop_front().map(|u| {
                self.stats.dropped += 1;
                Dropped {
                    message: u.message,
                    first: u.seq,
                    last: u.seq,
                }
            })
        } else {
            None
        };
        let seq = self.next_seq;
        let message = self.next_message;
        self.next_seq = seq.next();
        self.next_message = if message >= 0x03FF_FFFF {
            1
        } else {
            message + 1
        };
        self.stats.packets += 1;
        self.stats.bytes += payload.len() as u64;
        let packet = DataPacket {
            seq,
            position: Position::Solo,
            in_order: false,
            key,
            retransmitted: false,
            message,
            timestamp,
            dest,
            payload: payload.clone(),
        };
        self.unacked.push_back(Unacked {
            seq,
            message,
            timestamp,
            key,
            payload,
            queued: now,
        });
        (packet, dropped)
    }

    /// The receiver has everything before `last`.
    pub(super) fn on_ack(&mut self, last: SeqNo) {
        while let Some(front) = self.unacked.front() {
            if front.seq.is_before(last) {
                self.unacked.pop_front();
            } else {
                break;
            }
        }
    }

    /// Retransmissions for the reported losses that are still held.
    pub(super) fn on_nak(&mut self, ranges: &[(SeqNo, SeqNo)], dest: u32) -> Vec<DataPacket> {
        let mut out = Vec::new();
        let Some(first) = self.unacked.front().map(|u| u.seq) else {
            return out;
        };
        for (from, to) in ranges {
            let mut seq = *from;
            let mut guard = 0;
            while !seq.is_after(*to) && guard < self.unacked.len() {
                guard += 1;
                let offset = seq.distance(first);
                if offset >= 0 {
                    if let Some(u) = self.unacked.get(offset as usize) {
                        self.stats.retransmitted += 1;
                        out.push(DataPacket {
                            seq: u.seq,
                            position: Position::Solo,
                            in_order: false,
                            key: u.key,
                            retransmitted: true,
                            message: u.message,
                            timestamp: u.timestamp,
                            dest,
                            payload: u.payload.clone(),
                        });
                    }
                }
                seq = seq.next();
            }
        }
        out
    }

    /// When the oldest held packet becomes too late.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.unacked.front().map(|u| u.queued + self.keep_for)
    }

    /// Gives up on packets too old for the receiver to use.
    pub(super) fn drop_too_late(&mut self, now: Instant) -> Option<Dropped> {
        let mut dropped: Option<Dropped> = None;
        while let Some(front) = self.unacked.front() {
            if now < front.queued + self.keep_for {
                break;
            }
            let message = front.message;
            let seq = front.seq;
            self.unacked.pop_front();
            self.stats.dropped += 1;
            match &mut dropped {
                Some(d) => d.last = seq,
                None => {
                    dropped = Some(Dropped {
                        message,
                        first: seq,
                        last: seq,
                    })
                }
            }
        }
        dropped
    }

    /// The sequence number the next new packet gets.
    pub(super) fn peer_latency(&self) -> Duration {
        self.keep_for.saturating_sub(DROP_MARGIN)
    }

    pub(super) fn next_seq(&self) -> SeqNo {
        self.next_seq
    }

    pub(super) fn in_flight(&self) -> usize {
        self.unacked.len()
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

    #[test]
    fn acknowledged_packets_are_released_and_losses_retransmitted() {
        let t0 = origin();
        let mut tx = Sender::new(SeqNo::new(SeqNo::MAX), Duration::from_millis(120), 100);
        for i in 0..5u8 {
            tx.send(t0, u32::from(i), KeyField::Clear, Bytes::from(vec![i]), 9);
        }
        tx.on_ack(SeqNo::new(1));
        assert_eq!(tx.in_flight(), 3);
        let again = tx.on_nak(
            &[
                (SeqNo::new(2), SeqNo::new(3)),
                (SeqNo::new(0), SeqNo::new(0)),
            ],
            9,
        );
        let seqs: Vec<u32> = again.iter().map(|p| p.seq.value()).collect();
        assert_eq!(seqs, vec![2, 3]);
        assert!(again.iter().all(|p| p.retransmitted && p.dest == 9));
        let late = tx
            .drop_too_late(t0 + Duration::from_millis(1120))
            .expect("dropped");
        assert_eq!((late.first, late.last), (SeqNo::new(1), SeqNo::new(3)));
        assert_eq!(tx.in_flight(), 0);
    }
}
