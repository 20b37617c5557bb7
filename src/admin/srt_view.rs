//! The JSON views of SRT connections (in each stream's view and in
//! `GET /api/v1/srt`), from the board the SRT cores post to once a second.

use std::time::Instant;

use serde::Serialize;

use crate::ingest::srt_board::{ConnectionReport, CoreReport, Refused};

/// Every SRT connection, and what the SRT cores refused.
#[derive(Debug, Serialize)]
pub struct SrtView {
    pub refused: RefusedView,
    pub connections: Vec<SrtConnectionView>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct RefusedView {
    pub malformed_datagrams: u64,
    pub unknown_destination: u64,
    pub spoofed_source: u64,
    pub handshakes_ignored: u64,
    pub callers_rejected: u64,
}

impl From<Refused> for RefusedView {
    fn from(r: Refused) -> Self {
        Self {
            malformed_datagrams: r.malformed,
            unknown_destination: r.unknown_destination,
            spoofed_source: r.spoofed,
            handshakes_ignored: r.handshakes_ignored,
            callers_rejected: r.rejected,
        }
    }
}

/// One SRT connection, as of its core's last report (at most a second old).
#[derive(Debug, Clone, Serialize)]
pub struct SrtConnectionView {
    pub stream: String,
    /// `publish` or `read`.
    pub role: &'static str,
    pub remote_address: String,
    pub uptime_seconds: f64,
    /// Smoothed round-trip time from ACK/ACKACK pairs.
    pub rtt_ms: f64,
    pub rtt_var_ms: f64,
    /// Payload received over the last second.
    pub receive_rate_bps: u64,
    pub received: ReceivedView,
    pub sent: SentView,
    /// Datagrams of this connection that did not parse.
    pub malformed: u64,
    /// Encrypted packets with no key to decrypt them.
    pub undecryptable: u64,
    pub key_refreshes: u64,
    pub acks_sent: u64,
    pub naks_sent: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReceivedView {
    pub packets: u64,
    pub bytes: u64,
    /// Found missing when a later packet arrived.
    pub lost: u64,
    /// Missing packets that arrived later (retransmitted).
    pub recovered: u64,
    /// Missing packets given up on at their delivery deadline.
    pub dropped: u64,
    pub duplicates: u64,
    pub retransmitted: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SentView {
    pub packets: u64,
    pub bytes: u64,
    pub retransmitted: u64,
    /// Never acknowledged and given up on (too late).
    pub dropped: u64,
}

impl SrtConnectionView {
    pub fn of(report: &ConnectionReport, now: Instant) -> Self {
        let s = &report.stats;
        Self {
            stream: report.stream.clone(),
            role: report.role.as_str(),
            remote_address: report.remote.to_string(),
            uptime_seconds: now.saturating_duration_since(report.since).as_secs_f64(),
            rtt_ms: f64::from(s.rtt_us) / 1000.0,
            rtt_var_ms: f64::from(s.rtt_var_us) / 1000.0,
            receive_rate_bps: s.receive_rate_bps,
            received: ReceivedView {
                packets: s.receive.packets,
                bytes: s.receive.bytes,
                lost: s.receive.lost,
                recovered: s.receive.recovered,
                dropped: s.receive.dropped,
                duplicates: s.receive.duplicates,
                retransmitted: s.receive.retransmitted_received,
            },
            sent: SentView {
                packets: s.send.packets,
                bytes: s.send.bytes,
                retransmitted: s.send.retransmitted,
                dropped: s.send.dropped,
            },
            malformed: s.malformed,
            undecryptable: s.undecryptable,
            key_refreshes: s.key_refreshes,
            acks_sent: s.acks_sent,
            naks_sent: s.naks_sent,
        }
    }
}

impl SrtView {
    pub fn of(report: &CoreReport, now: Instant) -> Self {
        let mut connections: Vec<SrtConnectionView> = report
            .connections
            .iter()
            .map(|c| SrtConnectionView::of(c, now))
            .collect();
        // Stable order for people and diffs: by stream, publisher first, then address.
        connections.sort_by(|a, b| {
            (&a.stream, a.role != "publish", &a.remote_address).cmp(&(
                &b.stream,
                b.role != "publish",
                &b.remote_address,
            ))
        });
        Self {
            refused: report.refused.into(),
            connections,
        }
    }
}
