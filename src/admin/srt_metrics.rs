//! The SRT families of `/metrics`: one series per connection (labels `stream`,
//! `role` = publish|read, `remote`), like MediaMTX's `srt_conns_*`, and what the
//! SRT cores refused, by reason.

use super::prometheus::{Kind, Text};
use super::srt_view::{SrtConnectionView, SrtView};

pub(super) fn render(t: &mut Text, srt: &SrtView) {
    t.family(
        "manifold_srt_refused_total",
        Kind::Counter,
        "SRT datagrams and callers refused, by reason",
    );
    let r = srt.refused;
    for (reason, value) in [
        ("malformed", r.malformed_datagrams),
        ("unknown_destination", r.unknown_destination),
        ("spoofed_source", r.spoofed_source),
        ("handshake_ignored", r.handshakes_ignored),
        ("rejected", r.callers_rejected),
    ] {
        t.sample("manifold_srt_refused_total", &[("reason", reason)], value);
    }

    type Family = (
        &'static str,
        Kind,
        &'static str,
        fn(&SrtConnectionView) -> f64,
    );
    let families: [Family; 8] = [
        (
            "manifold_srt_rtt_seconds",
            Kind::Gauge,
            "Smoothed SRT round-trip time from ACK/ACKACK",
            |c| c.rtt_ms / 1000.0,
        ),
        (
            "manifold_srt_receive_rate_bps",
            Kind::Gauge,
            "SRT payload bits per second received over the last second",
            |c| c.receive_rate_bps as f64,
        ),
        (
            "manifold_srt_received_packets_total",
            Kind::Counter,
            "SRT data packets received",
            |c| c.received.packets as f64,
        ),
        (
            "manifold_srt_received_bytes_total",
            Kind::Counter,
            "SRT payload bytes received",
            |c| c.received.bytes as f64,
        ),
        (
            "manifold_srt_lost_packets_total",
            Kind::Counter,
            "SRT packets found missing on receipt of a later one",
            |c| c.received.lost as f64,
        ),
        (
            "manifold_srt_recovered_packets_total",
            Kind::Counter,
            "Missing SRT packets that arrived later (retransmitted)",
            |c| c.received.recovered as f64,
        ),
        (
            "manifold_srt_sent_packets_total",
            Kind::Counter,
            "SRT data packets sent, first transmissions",
            |c| c.sent.packets as f64,
        ),
        (
            "manifold_srt_retransmitted_packets_total",
            Kind::Counter,
            "SRT data packets sent again on a loss report",
            |c| c.sent.retransmitted as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        t.family(name, kind, help);
        for c in &srt.connections {
            t.sample(name, &labels(c), value(c));
        }
    }
    t.family(
        "manifold_srt_dropped_packets_total",
        Kind::Counter,
        "SRT packets given up on at their deadline: missing ones on receive, unacknowledged ones on send",
    );
    for c in &srt.connections {
        for (direction, value) in [("receive", c.received.dropped), ("send", c.sent.dropped)] {
            let [stream, role, remote] = labels(c);
            t.sample(
                "manifold_srt_dropped_packets_total",
                &[stream, role, remote, ("direction", direction)],
                value,
            );
        }
    }
}

fn labels(c: &SrtConnectionView) -> [(&'static str, &str); 3] {
    [
        ("stream", &c.stream),
        ("role", c.role),
        ("remote", &c.remote_address),
    ]
}
