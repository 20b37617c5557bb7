//! A connection's bytes: plain TCP or TLS (rustls driven sans-IO over the raw
//! socket), with a read that stays in flight while the owner writes.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use compio::buf::BufResult;
use compio::io::{AsyncRead, AsyncWrite};
use compio::net::TcpStream;

/// Most iovecs handed to one writev (Linux IOV_MAX is 1024).
const MAX_IOVECS: usize = 1024;
/// Most bytes handed to one writev. A write may complete only once all of it is in
/// the socket buffer, so a multi-megabyte backlog written at once to a slow peer
/// would show no progress for many seconds; in slices, the byte counters (and the
/// stall watchdog built on them) move at least every 128 KiB.
const MAX_WRITE_BYTES: usize = 128 * 1024;
/// Most bytes handed to the first, direct, writev of a write. A non-blocking send
/// takes what fits at once and never waits, so the limit above does not apply;
/// a 150 KB keyframe goes out in one send instead of one plus a queued one.
const MAX_DIRECT_WRITE_BYTES: usize = 512 * 1024;
const READ_BUFFER: usize = 64 * 1024;
/// Reads taken straight from the socket before one goes through the ring (and the
/// task yields to the others on its core).
const MAX_DIRECT_READS: u8 = 16;

type ReadFuture = Pin<Box<dyn Future<Output = (TcpStream, Vec<u8>, io::Result<usize>)>>>;

pub struct Transport {
    reader: Option<(TcpStream, Vec<u8>)>,
    in_flight: Option<ReadFuture>,
    writer: TcpStream,
    tls: Option<rustls::Connection>,
    eof: bool,
    /// Try each read on the socket at once before queueing it on the ring (io_uring
    /// only: the poll driver already does). While a publisher's burst is still
    /// arriving, the connection's task keeps reading it instead of yielding after
    /// every piece, so the outputs woken by the first message find the rest queued
    /// too and send the burst in one write instead of several.
    direct_reads: bool,
    /// Direct reads in a row; at `MAX_DIRECT_READS` the next read goes through the
    /// ring, so a peer that never stops sending cannot keep the core to itself.
    direct_streak: u8,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Transport {
    pub fn new(stream: TcpStream, tls: Option<rustls::Connection>) -> Self {
        Self::with_read_buffer(stream, tls, READ_BUFFER)
    }

    /// A transport whose reads take at most `read_buffer` bytes at a time: small for
    /// a connection that mostly writes (a push output reads only its destination's
    /// acknowledgements), whose buffer would otherwise sit idle per connection.
    pub fn with_read_buffer(
        stream: TcpStream,
        mut tls: Option<rustls::Connection>,
        read_buffer: usize,
    ) -> Self {
        if let Some(tls) = &mut tls {
            // rustls refuses plaintext beyond 64 KiB until the handshake is done; our
            // writes are already bounded by the subscriber queue and flushed at once.
            tls.set_buffer_limit(None);
        }
        let (reader, writer) = stream.into_split();
        Self {
            reader: Some((reader, Vec::with_capacity(read_buffer.max(1)))),
            in_flight: None,
            writer,
            tls,
            eof: false,
            direct_reads: compio::runtime::Runtime::try_with_current(|runtime| {
                runtime.driver_type() == compio::driver::DriverType::IoUring
            })
            .unwrap_or(false),
            direct_streak: 0,
        }
    }

    /// Next plaintext bytes from the peer; `Ok(None)` at end of stream. An empty
    /// `Bytes` means TLS made progress without plaintext (the owner should flush).
    pub fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        if self.eof {
            return Poll::Ready(Ok(None));
        }
        loop {
            if self.in_flight.is_none() {
                let Some((reader, mut buf)) = self.reader.take() else {
                    return Poll::Ready(Err(io::Error::other("read half lost")));
                };
                buf.clear();
                if self.direct_reads && self.direct_streak < MAX_DIRECT_READS {
                    match recv_now(&reader, &mut buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        result => {
                            self.direct_streak += 1;
                            return Poll::Ready(self.finish_read(reader, buf, result));
                        }
                    }
                }
                self.direct_streak = 0;
                self.in_flight = Some(Box::pin(async move {
                    let BufResult(result, buf) = (&reader).read(buf).await;
                    (reader, buf, result)
                }));
            }
            let Some(future) = self.in_flight.as_mut() else {
                continue;
            };
            let (reader, buf, result) = match future.as_mut().poll(cx) {
                Poll::Ready(done) => done,
                Poll::Pending => return Poll::Pending,
            };
            self.in_flight = None;
            return Poll::Ready(self.finish_read(reader, buf, result));
        }
    }

    /// Hands the read half back and turns a finished read into plaintext.
    fn finish_read(
        &mut self,
        reader: TcpStream,
        buf: Vec<u8>,
        result: io::Result<usize>,
    ) -> io::Result<Option<Bytes>> {
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                self.reader = Some((reader, buf));
                return Err(e);
            }
        };
        if n == 0 {
            self.eof = true;
            self.reader = Some((reader, buf));
            return Ok(None);
        }
        let raw = buf.get(..n).unwrap_or_default();
        let out = match &mut self.tls {
            None => Ok(Bytes::copy_from_slice(raw)),
            Some(tls) => tls_receive(tls, raw),
        };
        self.reader = Some((reader, buf));
        out.map(Some)
    }

    /// A second handle on the socket, for a writer outside this transport (a push
    /// output's direct path); `None` over TLS, whose records must all come from the
    /// one rustls connection.
    pub fn plain_socket(&self) -> Option<io::Result<socket2::Socket>> {
        if self.tls.is_some() {
            return None;
        }
        Some(socket2::SockRef::from(&self.writer).try_clone())
    }

    /// Writes pieces in order (TLS-encrypts them first when this is a TLS transport).
    /// `written` grows by the bytes put on the wire as each write completes, so a
    /// slow peer's progress shows while a large batch is still draining.
    pub async fn write(&mut self, pieces: Vec<Bytes>, written: &AtomicU64) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            for piece in &pieces {
                tls.writer().write_all(piece)?;
            }
            return self.flush_tls_counted(written).await;
        }
        // An empty piece would make an all-empty writev look like a peer that
        // takes nothing.
        let mut pieces = pieces;
        pieces.retain(|piece| !piece.is_empty());
        // Usually everything fits one writev: the caller's vector is the batch and
        // nothing is allocated; otherwise the rest waits in `pieces`.
        let fits = pieces.len() <= MAX_IOVECS
            && pieces.iter().map(Bytes::len).sum::<usize>() <= MAX_DIRECT_WRITE_BYTES;
        let (mut batch, mut pieces) = if fits {
            (pieces, VecDeque::new())
        } else {
            let mut pending = VecDeque::from(pieces);
            let mut batch = Vec::with_capacity(MAX_IOVECS.min(pending.len()));
            fill_batch(&mut batch, &mut pending, MAX_DIRECT_WRITE_BYTES);
            (batch, pending)
        };
        // The first batch goes straight to the socket; the engine's write (an
        // io_uring SENDMSG, or epoll readiness) takes it only when the socket is
        // full. On io_uring a queued send makes its completion wake and poll the
        // task once more before the write counts as done: at 100 push outputs the
        // median output's own latency went from 3.1 to 1.7 ms without it
        // (BENCHMARKS.md). The first batch may hold up to 512 KiB (a keyframe
        // whole: at N = 100 the worst output's p99 went from 9-11 to 5-7 ms on
        // io_uring); what the socket does not take goes through the engine in
        // 128 KiB batches, so the task yields between them.
        let mut first = true;
        while !batch.is_empty() {
            let sent_now = std::mem::take(&mut first).then(|| send_now(&self.writer, &batch));
            let n = match sent_now {
                Some(Ok(n)) => n,
                Some(Err(e)) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                Some(Err(_)) => {
                    // The socket is full: the rest goes through the engine, in
                    // slices small enough for the progress counters to move.
                    for piece in batch.drain(..).rev() {
                        pieces.push_front(piece);
                    }
                    fill_batch(&mut batch, &mut pieces, MAX_WRITE_BYTES);
                    continue;
                }
                None => {
                    let BufResult(result, returned) = self.writer.write_vectored(batch).await;
                    batch = returned;
                    result?
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written.fetch_add(n as u64, Ordering::Relaxed);
            // Put back what this write did not take, the partly written piece sliced.
            skip_written(&mut batch, n);
            for piece in batch.drain(..).rev() {
                pieces.push_front(piece);
            }
            fill_batch(&mut batch, &mut pieces, MAX_WRITE_BYTES);
        }
        Ok(())
    }

    /// Writes whatever TLS records are waiting (handshake messages, alerts, data).
    pub async fn flush_tls(&mut self) -> io::Result<()> {
        self.flush_tls_counted(&AtomicU64::new(0)).await
    }

    async fn flush_tls_counted(&mut self, written: &AtomicU64) -> io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out)?;
        }
        let mut out = Bytes::from(out);
        while !out.is_empty() {
            let BufResult(result, returned) = self.writer.write(out).await;
            let n = result?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written.fetch_add(n as u64, Ordering::Relaxed);
            out = returned.slice(n.min(returned.len())..);
        }
        Ok(())
    }

    /// Sends TLS close_notify (if TLS) and shuts down the write side.
    pub async fn close(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.send_close_notify();
        }
        let _ = self.flush_tls().await;
        let _ = self.writer.shutdown().await;
    }
}

fn tls_receive(tls: &mut rustls::Connection, mut raw: &[u8]) -> io::Result<Bytes> {
    let mut plain = Vec::new();
    while !raw.is_empty() {
        tls.read_tls(&mut raw)?;
        let state = tls
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if state.plaintext_bytes_to_read() > 0 {
            let start = plain.len();
            plain.resize(start + state.plaintext_bytes_to_read(), 0);
            let read = tls
                .reader()
                .read(plain.get_mut(start..).unwrap_or_default())?;
            plain.truncate(start + read);
        }
    }
    Ok(Bytes::from(plain))
}

/// One non-blocking recv into `buf`'s spare capacity: the bytes read (0 at end of
/// stream), or `WouldBlock` when nothing is waiting.
fn recv_now(socket: &TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    loop {
        match socket2::SockRef::from(socket)
            .recv_with_flags(buf.spare_capacity_mut(), libc::MSG_DONTWAIT)
        {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(n) => {
                // SAFETY: recv initialised the first `n` bytes of the spare capacity
                // (socket2 returns at most its length).
                #[allow(unsafe_code)]
                unsafe {
                    buf.set_len(n)
                };
                return Ok(n);
            }
        }
    }
}

/// Pieces of a write whose iovecs are built on the stack; a typical frame is a
/// dozen (chunk headers between payload slices), a 150 KB keyframe about 80.
const STACK_IOVECS: usize = 128;

/// One non-blocking sendmsg of a batch (of its first `MAX_IOVECS` pieces): the
/// bytes the socket took, or `WouldBlock` when it has no room.
pub fn send_now(socket: &impl std::os::fd::AsFd, pieces: &[Bytes]) -> io::Result<usize> {
    let pieces = first_iovecs(pieces);
    if pieces.len() > STACK_IOVECS {
        let slices: Vec<IoSlice<'_>> = pieces.iter().map(|piece| IoSlice::new(piece)).collect();
        return send_slices(socket, &slices);
    }
    // 2 KiB of stack, not the 16 KiB of a full `MAX_IOVECS` array (which had to be
    // initialised on every send); no allocation.
    let mut slices = [IoSlice::new(&[]); STACK_IOVECS];
    for (slice, piece) in slices.iter_mut().zip(pieces) {
        *slice = IoSlice::new(piece);
    }
    send_slices(socket, slices.get(..pieces.len()).unwrap_or_default())
}

fn send_slices(socket: &impl std::os::fd::AsFd, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    loop {
        match socket2::SockRef::from(socket)
            .send_vectored_with_flags(slices, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            result => return result,
        }
    }
}

/// What one send may carry of `pieces`: the first `MAX_IOVECS`.
pub(super) fn first_iovecs(pieces: &[Bytes]) -> &[Bytes] {
    pieces.get(..MAX_IOVECS).unwrap_or(pieces)
}

/// Drops the first `written` bytes of `pieces`, slicing the piece they end in.
pub fn skip_written(pieces: &mut Vec<Bytes>, mut written: usize) {
    let mut done = 0;
    while let Some(piece) = pieces.get_mut(done) {
        if written < piece.len() {
            *piece = piece.slice(written..);
            break;
        }
        written -= piece.len();
        done += 1;
    }
    pieces.drain(..done);
}

/// Moves the next writev's worth of `pieces` into `batch`: at most `MAX_IOVECS`
/// pieces and `MAX_WRITE_BYTES` bytes, slicing a piece that straddles the limit.
fn fill_batch(batch: &mut Vec<Bytes>, pieces: &mut VecDeque<Bytes>, limit: usize) {
    let mut bytes = 0;
    while batch.len() < MAX_IOVECS {
        let Some(piece) = pieces.pop_front() else {
            break;
        };
        let room = limit - bytes;
        if piece.len() > room {
            if room > 0 {
                batch.push(piece.slice(..room));
                pieces.push_front(piece.slice(room..));
            } else {
                pieces.push_front(piece);
            }
            break;
        }
        bytes += piece.len();
        batch.push(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback connection: the peer's plain socket and our end, adopted by the
    /// current runtime.
    fn connected_pair() -> (std::net::TcpStream, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer =
            std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        accepted.set_nonblocking(true).expect("non-blocking");
        (peer, TcpStream::from_std(accepted).expect("adopt"))
    }

    /// Runs `test` on a fresh runtime of `choice`.
    fn on_engine<F: Future<Output = ()>>(choice: crate::engine::EngineChoice, test: F) {
        let Ok(runtime) = crate::engine::build_runtime(choice) else {
            panic!("{choice} runtime unavailable");
        };
        runtime.block_on(test);
    }

    /// Runs `test` on io_uring and on epoll.
    fn on_both_engines<F: Future<Output = ()>>(test: impl Fn(crate::engine::EngineChoice) -> F) {
        for choice in [
            crate::engine::EngineChoice::IoUring,
            crate::engine::EngineChoice::Epoll,
        ] {
            on_engine(choice, test(choice));
        }
    }

    /// Waits until the loopback has delivered `count` bytes to the transport's socket.
    fn wait_for_bytes(transport: &Transport, count: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while bytes_waiting(&transport.writer) < count {
            assert!(std::time::Instant::now() < deadline, "bytes never arrived");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Bytes queued in a socket's receive buffer (FIONREAD).
    fn bytes_waiting(socket: &TcpStream) -> usize {
        use std::os::fd::AsRawFd;
        let mut count: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int through the pointer, which outlives the call.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::FIONREAD, &mut count) };
        assert_eq!(rc, 0, "FIONREAD: {}", io::Error::last_os_error());
        usize::try_from(count).unwrap_or(0)
    }

    /// Reads `expected` bytes through `poll_read` with a no-op waker, counting the
    /// polls that returned `Pending` (each one a yield to the other tasks).
    async fn read_counting_yields(transport: &mut Transport, expected: usize) -> usize {
        let mut pending = 0;
        let mut got = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got < expected {
            assert!(
                std::time::Instant::now() < deadline,
                "read {got} of {expected}"
            );
            let polled = std::future::poll_fn(|cx| Poll::Ready(transport.poll_read(cx))).await;
            match polled {
                Poll::Ready(Ok(Some(bytes))) => got += bytes.len(),
                Poll::Ready(other) => panic!("read ended early: {other:?}"),
                Poll::Pending => {
                    pending += 1;
                    compio::runtime::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        }
        pending
    }

    /// On io_uring, bytes already waiting in the socket are read at once, without a
    /// trip through the ring; a burst arriving in pieces is read without yielding.
    #[test]
    fn io_uring_reads_waiting_bytes_without_yielding() {
        on_both_engines(|choice| async move {
            let (mut peer, stream) = connected_pair();
            let mut transport = Transport::new(stream, None);
            for piece in 0..4u8 {
                peer.write_all(&[piece; 1000]).expect("write");
            }
            // Let the loopback deliver all four pieces before the first read.
            wait_for_bytes(&transport, 4000);
            let yields = read_counting_yields(&mut transport, 4000).await;
            assert_eq!(
                yields, 0,
                "{choice}: yielded reading bytes that were already there"
            );
        });
    }

    /// A write that fits in the socket's buffer is one direct send on both engines:
    /// a 200 KB keyframe no longer leaves its last part to a queued ring write that
    /// only completes after the task has yielded.
    #[test]
    fn a_write_that_fits_the_socket_buffer_completes_without_yielding() {
        on_both_engines(|choice| async move {
            let (mut peer, stream) = connected_pair();
            socket2::SockRef::from(&stream)
                .set_send_buffer_size(1 << 20)
                .expect("SO_SNDBUF");
            let mut transport = Transport::new(stream, None);
            const SIZE: usize = 200_000;
            let written = AtomicU64::new(0);
            let mut write =
                std::pin::pin!(transport.write(vec![Bytes::from(vec![5u8; SIZE])], &written));
            let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
            assert!(
                matches!(first, Poll::Ready(Ok(()))),
                "{choice}: the write yielded or failed: {first:?}"
            );
            assert_eq!(written.load(Ordering::Relaxed), SIZE as u64);
            peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .expect("timeout");
            let mut received = vec![0u8; SIZE];
            peer.read_exact(&mut received)
                .expect("the peer gets every byte");
            assert!(received.iter().all(|&b| b == 5));
        });
    }

    /// A peer that always has more bytes waiting still lets the core's other tasks
    /// run: after `MAX_DIRECT_READS` direct reads the next goes through the ring.
    #[test]
    fn io_uring_direct_reads_yield_after_a_streak() {
        on_engine(crate::engine::EngineChoice::IoUring, async move {
            let (mut peer, stream) = connected_pair();
            // 100-byte reads of 20 pieces' worth: more direct reads than one streak.
            let mut transport = Transport::with_read_buffer(stream, None, 100);
            let total = 100 * (usize::from(MAX_DIRECT_READS) + 4);
            peer.write_all(&vec![7u8; total]).expect("write");
            wait_for_bytes(&transport, total);
            let yields = read_counting_yields(&mut transport, total).await;
            assert_eq!(yields, 1, "one trip through the ring per streak");
        });
    }

    #[test]
    fn skipping_written_bytes_slices_the_piece_they_end_in() {
        let mut pieces = vec![
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defg"),
            Bytes::from_static(b"h"),
        ];
        skip_written(&mut pieces, 5);
        assert_eq!(
            pieces,
            [Bytes::from_static(b"fg"), Bytes::from_static(b"h")]
        );
        skip_written(&mut pieces, 2);
        assert_eq!(pieces, [Bytes::from_static(b"h")]);
        skip_written(&mut pieces, 1);
        assert!(pieces.is_empty());
    }

    #[test]
    fn batches_are_bounded_in_pieces_and_bytes_and_keep_order() {
        let data: Vec<u8> = (0..=255u8).cycle().take(400 * 1024).collect();
        let whole = Bytes::from(data.clone());
        // Pieces of varied sizes, one larger than a whole batch.
        let mut pieces: VecDeque<Bytes> = VecDeque::new();
        let mut at = 0;
        for size in [10, 200 * 1024, 3]
            .into_iter()
            .chain(std::iter::repeat(100))
        {
            let end = (at + size).min(whole.len());
            pieces.push_back(whole.slice(at..end));
            at = end;
            if at == whole.len() {
                break;
            }
        }
        let mut out = Vec::new();
        let mut batch = Vec::new();
        while !pieces.is_empty() {
            batch.clear();
            fill_batch(&mut batch, &mut pieces, MAX_WRITE_BYTES);
            assert!(!batch.is_empty());
            assert!(batch.len() <= MAX_IOVECS);
            assert!(batch.iter().map(Bytes::len).sum::<usize>() <= MAX_WRITE_BYTES);
            batch.iter().for_each(|p| out.extend_from_slice(p));
        }
        assert_eq!(out, data);
    }
}
