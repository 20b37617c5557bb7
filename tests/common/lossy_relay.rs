//! A user-space lossy link for SRT tests and benchmarks: a UDP relay between one
//! caller and a server that drops a given share of datagrams in each direction and
//! delays the rest. (This machine's kernel has no `sch_netem`, so `tc qdisc ...
//! netem` is not available.) Shared by `tests/srt_loss.rs` and `tools/srt_bench`.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A UDP relay between one caller and `server`: each datagram is dropped with
/// probability `loss_percent`, or delivered `delay` later.
pub struct LossyRelay {
    pub port: u16,
    stop: Arc<AtomicBool>,
    pub dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl LossyRelay {
    pub fn start(server: SocketAddr, loss_percent: u64, delay: Duration) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
        front.set_nonblocking(true).expect("nonblocking");
        back.set_nonblocking(true).expect("nonblocking");
        let port = front.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (stop2, dropped2) = (Arc::clone(&stop), Arc::clone(&dropped));
        let thread = std::thread::spawn(move || {
            let mut caller: Option<SocketAddr> = None;
            let mut queue: VecDeque<(Instant, bool, Vec<u8>)> = VecDeque::new();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ loss_percent;
            let mut buf = [0u8; 2048];
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < deadline {
                let mut idle = true;
                for (socket, upstream) in [(&front, true), (&back, false)] {
                    while let Ok((n, from)) = socket.recv_from(&mut buf) {
                        idle = false;
                        if upstream {
                            caller = Some(from);
                        }
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        if seed % 1000 < loss_percent * 10 {
                            dropped2.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        queue.push_back((Instant::now() + delay, upstream, buf[..n].to_vec()));
                    }
                }
                let now = Instant::now();
                while queue.front().is_some_and(|(at, _, _)| *at <= now) {
                    if let Some((_, upstream, datagram)) = queue.pop_front() {
                        if upstream {
                            let _ = back.send_to(&datagram, server);
                        } else if let Some(caller) = caller {
                            let _ = front.send_to(&datagram, caller);
                        }
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        });
        Self {
            port,
            stop,
            dropped,
            thread: Some(thread),
        }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
