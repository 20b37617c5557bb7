//! Non-blocking sends to many sockets at once. On a worker of the io_uring engine
//! they go to the kernel as one submission (one `IORING_OP_SENDMSG` per socket, one
//! `io_uring_enter` per batch), which is what the relay's io_uring floor does
//! (BENCHMARKS.md); elsewhere each is its own `sendmsg`. Either way a send never
//! waits for room: `MSG_DONTWAIT` makes io_uring complete a send that would block
//! with `EAGAIN` at once instead of arming a poll, so every entry has completed
//! when the submission returns and the bytes are free again.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use bytes::Bytes;
use io_uring::{IoUring, opcode, types};

use super::transport::{first_iovecs, send_now};

/// Entries per submission: the most sends one `io_uring_enter` carries.
const RING_ENTRIES: u32 = 64;

/// One socket's part of a batch: the bytes to write, in order.
pub struct BatchedSend<'a> {
    pub socket: BorrowedFd<'a>,
    pub pieces: &'a [Bytes],
}

thread_local! {
    /// This thread's submission ring, on the workers of the io_uring engine.
    static RING: RefCell<Option<SendRing>> = const { RefCell::new(None) };
}

struct SendRing {
    ring: IoUring,
    /// Reused between batches (their pointers are only used within one).
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::msghdr>,
    /// Where each send's iovecs are in `iovecs`: start and count.
    ranges: Vec<(usize, usize)>,
}

/// Makes this thread batch its sends through io_uring (a worker of the io_uring
/// engine calls it once). Without a ring, sends stay one `sendmsg` each.
pub fn batch_sends_on_this_thread() -> io::Result<()> {
    let ring = IoUring::new(RING_ENTRIES)?;
    RING.with(|slot| {
        *slot.borrow_mut() = Some(SendRing {
            ring,
            iovecs: Vec::new(),
            headers: Vec::new(),
            ranges: Vec::new(),
        })
    });
    Ok(())
}

/// Sends each entry's pieces (as many as one `sendmsg` takes) to its socket without
/// blocking. Returns, per entry and in order, the bytes the socket took or the
/// error (`WouldBlock` when it had no room).
pub fn send_batch(sends: &[BatchedSend<'_>]) -> Vec<io::Result<usize>> {
    let mut results = Vec::with_capacity(sends.len());
    RING.with(|slot| match slot.borrow_mut().as_mut() {
        Some(ring) => {
            for group in sends.chunks(RING_ENTRIES as usize) {
                ring.submit(group, &mut results);
            }
        }
        None => results.extend(sends.iter().map(|send| send_now(&send.socket, send.pieces))),
    });
    results
}

impl SendRing {
    /// One submission for `group` (at most `RING_ENTRIES` sends); appends each
    /// send's result to `results`.
    fn submit(&mut self, group: &[BatchedSend<'_>], results: &mut Vec<io::Result<usize>>) {
        self.iovecs.clear();
        self.headers.clear();
        self.ranges.clear();
        // Every iovec first, then the headers that point into the finished (no
        // longer growing) vector.
        for send in group {
            let start = self.iovecs.len();
            let pieces = first_iovecs(send.pieces);
            self.iovecs.extend(pieces.iter().map(|piece| libc::iovec {
                iov_base: piece.as_ptr() as *mut libc::c_void,
                iov_len: piece.len(),
            }));
            self.ranges.push((start, pieces.len()));
        }
        for &(start, len) in &self.ranges {
            // SAFETY: all-zero is a valid msghdr (no name, no control data).
            #[allow(unsafe_code)]
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_iov = self.iovecs.as_mut_ptr().wrapping_add(start);
            header.msg_iovlen = len;
            self.headers.push(header);
        }
        let first = results.len();
        results.extend(group.iter().map(|_| Err(io::ErrorKind::Interrupted.into())));
        let mut expected = 0;
        {
            let mut queue = self.ring.submission();
            for (index, (send, header)) in group.iter().zip(&self.headers).enumerate() {
                let entry =
                    opcode::SendMsg::new(types::Fd(send.socket.as_raw_fd()), header as *const _)
                        .flags((libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as u32)
                        .build()
                        .user_data(index as u64);
                // SAFETY: the headers, the iovecs and the bytes they point at (borrowed
                // from `group` for this whole call) stay alive and unchanged until
                // every entry has completed: this function waits for all of them.
                #[allow(unsafe_code)]
                match unsafe { queue.push(&entry) } {
                    Ok(()) => expected += 1,
                    // Cannot happen (the queue holds RING_ENTRIES and is empty here);
                    // that send reports an error and leaves its bytes waiting.
                    Err(_) => results[first + index] = Err(io::Error::other("send ring full")),
                }
            }
        }
        let mut completed = 0;
        while completed < expected {
            match self.ring.submit_and_wait(expected - completed) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The kernel still holds entries that point at our memory: nothing
                // may return before they complete, and they cannot without the ring.
                Err(e) => panic!("io_uring_enter failed with sends in flight: {e}"),
            }
            for completion in self.ring.completion() {
                completed += 1;
                let Some(result) = usize::try_from(completion.user_data())
                    .ok()
                    .and_then(|index| results.get_mut(first + index))
                else {
                    continue;
                };
                *result = usize::try_from(completion.result())
                    .map_err(|_| io::Error::from_raw_os_error(-completion.result()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    use super::*;

    /// Three connected pairs; the batch writes a different message to each.
    fn check_batch() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let pairs: Vec<(TcpStream, TcpStream)> = (0..3)
            .map(|_| {
                let client = TcpStream::connect(address).expect("connect");
                let (server, _) = listener.accept().expect("accept");
                (client, server)
            })
            .collect();
        let messages: Vec<Vec<Bytes>> = (0..3u8)
            .map(|i| vec![Bytes::from(vec![i; 10]), Bytes::from_static(b"-end")])
            .collect();
        let sends: Vec<BatchedSend<'_>> = pairs
            .iter()
            .zip(&messages)
            .map(|((client, _), pieces)| BatchedSend {
                socket: client.as_fd(),
                pieces,
            })
            .collect();
        let results = send_batch(&sends);
        for (((_, server), pieces), result) in pairs.iter().zip(&messages).zip(results) {
            assert_eq!(result.expect("sent"), 14);
            let mut got = vec![0u8; 14];
            (&*server).read_exact(&mut got).expect("read");
            assert_eq!(got, pieces.concat());
        }
    }

    #[test]
    fn a_batch_writes_each_sockets_own_bytes_with_and_without_a_ring() {
        check_batch();
        std::thread::spawn(|| {
            batch_sends_on_this_thread().expect("io_uring on this machine");
            check_batch();
        })
        .join()
        .expect("ring thread");
    }

    #[test]
    fn a_full_socket_reports_would_block_at_once_and_keeps_its_order() {
        std::thread::spawn(|| {
            batch_sends_on_this_thread().expect("io_uring on this machine");
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let client = TcpStream::connect(listener.local_addr().expect("address")).expect("c");
            let (server, _) = listener.accept().expect("accept");
            let block = [Bytes::from(vec![7u8; 1 << 20])];
            let mut total = 0usize;
            // The socket fills within a few MiB; every call returns at once.
            let mut would_block = false;
            for _ in 0..1000 {
                match send_batch(&[BatchedSend {
                    socket: client.as_fd(),
                    pieces: &block,
                }])
                .pop()
                .expect("one result")
                {
                    Ok(n) => total += n,
                    Err(e) => {
                        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
                        would_block = true;
                        break;
                    }
                }
            }
            assert!(would_block, "a socket nobody reads never filled");
            drop(client);
            let mut received = Vec::new();
            (&server).read_to_end(&mut received).expect("read");
            assert_eq!(received.len(), total);
            assert!(received.iter().all(|&b| b == 7));
        })
        .join()
        .expect("ring thread");
    }
}
