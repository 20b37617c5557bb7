use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::Session;
use crate::srt::{
    Connection, ConnectionConfig, Control, ControlPacket, Listener, ListenerOutput, Packet,
};

/// Parses one datagram; a control packet must survive encode → parse unchanged.
pub fn srt_packet(data: &[u8]) {
    let Ok(packet) = Packet::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    match packet {
        Packet::Control(control) => {
            let again = Packet::parse(control.encode());
            assert_eq!(again, Ok(Packet::Control(control)), "control round trip");
        }
        Packet::Data(data) => {
            let mut wire = data.header().to_vec();
            wire.extend_from_slice(&data.payload);
            let again = Packet::parse(Bytes::from(wire));
            assert!(
                matches!(again, Ok(Packet::Data(d)) if d.seq == data.seq && d.payload == data.payload),
                "data round trip"
            );
        }
    }
}

/// Input-driven datagrams and times: `[delay ms][len hi][len lo][datagram]...`.
/// Datagrams go to a listener until one is accepted (a conclusion needs a valid
/// cookie, so the harness turns the first conclusion-shaped handshake into one with
/// the listener's own cookie), then to the connection. Nothing may panic, and what
/// the connection queues stays bounded.
pub fn srt_connection(data: &[u8]) {
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let peer: SocketAddr = SocketAddr::from(([10, 0, 0, 2], 5000));
    let listener = Listener::new([1; 32], start);
    let mut now = start;
    let mut connection: Option<Connection> = None;
    let mut rest = data;
    while let [delay, hi, lo, tail @ ..] = rest {
        now += Duration::from_millis(u64::from(*delay));
        let len = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        let datagram = Bytes::copy_from_slice(datagram);
        match connection.as_mut() {
            Some(conn) => {
                let _ = conn.handle_input(now, datagram);
                if conn.poll_timeout().is_some_and(|t| t <= now) {
                    conn.handle_timeout(now);
                }
                let mut queued = 0;
                while conn.poll_transmit().is_some() {
                    queued += 1;
                }
                assert!(queued < 10_000, "{queued} datagrams queued by one input");
                while conn.poll_event().is_some() {}
            }
            None => {
                let Ok(Packet::Control(mut packet)) = Packet::parse(datagram) else {
                    continue;
                };
                if let Control::Handshake(hs) = &mut packet.control {
                    // Ask for the cookie as a caller would, and use it.
                    let induction = ControlPacket {
                        control: Control::Handshake(crate::srt::Handshake {
                            kind: crate::srt::HandshakeKind::Induction,
                            ..hs.clone()
                        }),
                        timestamp: packet.timestamp,
                        dest: packet.dest,
                    };
                    if let ListenerOutput::Reply(reply) = listener.handle(now, peer, &induction) {
                        if let Ok(Packet::Control(ControlPacket {
                            control: Control::Handshake(answer),
                            ..
                        })) = Packet::parse(reply)
                        {
                            hs.cookie = answer.cookie;
                        }
                    }
                }
                if let ListenerOutput::Request(request) = listener.handle(now, peer, &packet) {
                    let config = ConnectionConfig {
                        flow_window: 64,
                        ..ConnectionConfig::default()
                    };
                    connection = Some(Connection::accept(&request, config, None, now));
                }
            }
        }
    }
    if let Some(conn) = connection.as_mut() {
        conn.handle_timeout(now + Duration::from_secs(10));
        while conn.poll_event().is_some() {}
        assert!(conn.is_closed(), "a silent peer must time out");
    }
}
