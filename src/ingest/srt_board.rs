//! Where SRT cores post their counters for the admin server.
//!
//! A connection's counters live in its `Connection`, on the core that serves it
//! (one writer, no atomics on the packet path). Each core with connections copies
//! them here, with what it refused, at the first tick after its first connection
//! arrives and then once a second (by the clock); a core without any posts
//! when its last connection goes and within a second of refusing something, and
//! otherwise sleeps. The admin thread reads the board. A connection that ended is
//! gone from its core's next report.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use protocol_parsers::srt::ConnectionStats;

/// Datagrams and handshakes one core refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refused {
    /// Datagrams that are not SRT, or that a connection could not parse.
    pub malformed: u64,
    /// Addressed to a socket id no connection has.
    pub unknown_destination: u64,
    /// Addressed to a connection from an address that is not its peer's.
    pub spoofed: u64,
    /// Handshakes dropped without an answer (bad cookie, wrong version, flood).
    pub handshakes_ignored: u64,
    /// Callers answered with a rejection (stream id, key, passphrase, limits).
    pub rejected: u64,
}

impl Refused {
    fn add(&mut self, other: &Refused) {
        self.malformed += other.malformed;
        self.unknown_destination += other.unknown_destination;
        self.spoofed += other.spoofed;
        self.handshakes_ignored += other.handshakes_ignored;
        self.rejected += other.rejected;
    }
}

/// What an SRT connection does with its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtRole {
    Publish,
    Read,
}

impl SrtRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SrtRole::Publish => "publish",
            SrtRole::Read => "read",
        }
    }
}

/// One live connection as of its core's last report.
#[derive(Debug, Clone)]
pub struct ConnectionReport {
    pub stream: String,
    pub role: SrtRole,
    pub remote: SocketAddr,
    pub since: Instant,
    pub stats: ConnectionStats,
}

/// One core's report.
#[derive(Debug, Clone, Default)]
pub struct CoreReport {
    pub refused: Refused,
    pub connections: Vec<ConnectionReport>,
}

/// Every core's latest report.
#[derive(Debug, Default)]
pub struct SrtBoard {
    cores: Mutex<Vec<CoreReport>>,
}

impl SrtBoard {
    /// Replaces core `core`'s report.
    pub fn post(&self, core: usize, report: CoreReport) {
        let mut cores = self.cores.lock().unwrap_or_else(|e| e.into_inner());
        if cores.len() <= core {
            cores.resize_with(core + 1, CoreReport::default);
        }
        cores[core] = report;
    }

    /// What every core refused, summed, and every live connection.
    pub fn read(&self) -> CoreReport {
        let cores = self.cores.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = CoreReport::default();
        for core in cores.iter() {
            all.refused.add(&core.refused);
            all.connections.extend(core.connections.iter().cloned());
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(stream: &str, port: u16) -> ConnectionReport {
        ConnectionReport {
            stream: stream.into(),
            role: SrtRole::Read,
            remote: SocketAddr::from(([127, 0, 0, 1], port)),
            since: Instant::now(),
            stats: ConnectionStats::default(),
        }
    }

    #[test]
    fn reads_merge_cores_and_a_new_report_replaces_the_old() {
        let board = SrtBoard::default();
        let refused = Refused {
            malformed: 2,
            rejected: 1,
            ..Refused::default()
        };
        board.post(
            1,
            CoreReport {
                refused,
                connections: vec![connection("a", 1), connection("b", 2)],
            },
        );
        board.post(
            0,
            CoreReport {
                refused,
                connections: vec![connection("a", 3)],
            },
        );
        let all = board.read();
        assert_eq!(all.refused.malformed, 4);
        assert_eq!(all.refused.rejected, 2);
        assert_eq!(all.connections.len(), 3);

        board.post(1, CoreReport::default());
        let all = board.read();
        assert_eq!(all.refused.malformed, 2);
        assert_eq!(all.connections.len(), 1);
        assert_eq!(all.connections[0].remote.port(), 3);
    }
}
