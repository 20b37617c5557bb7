//! `--relays floor`: the least a relay can do for this benchmark, run as its own
//! process so its CPU is measured like a real relay's.
//!
//! One thread accepts the publisher, encodes each read burst of frames once as RTMP
//! chunks, and writes those same bytes to every destination with one `writev` per
//! destination per burst, on blocking sockets with `TCP_NODELAY` (as Manifold
//! sets). No queues, no GOP cache, no per-destination state, no event loop. What
//! it costs is the kernel's part of the sends (on loopback that includes each
//! sink's TCP receive and wake-up) plus a parse of the ingest: the floor under any
//! relay that sends each tick at once. It is not a relay anyone could run: a late
//! joiner would get no sequence headers and a slow destination would stall all.
//!
//! `--relays floor-io_uring` is the same with the sends batched: one `SENDMSG` entry
//! per destination, all of a burst's entries submitted with one `io_uring_enter`
//! (the "one io_uring batch per message").
//!
//! Encoding once is exact, not an approximation: every destination's client session
//! goes through the same connect/createStream/publish exchange with identical sinks,
//! so their chunk encoders hold the same state when they go live, and the bytes the
//! first one produces for a frame are the bytes each of them would.

use std::io::{IoSlice, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use bytes::Bytes;
use io_uring::{IoUring, opcode, types};
use protocol_parsers::media::{Track, TrackId};
use protocol_parsers::rtmp::media::MediaEvent;
use protocol_parsers::rtmp::{ClientSession, ServerEvent, ServerSession};
use protocol_parsers::{Limits, Session};

use crate::{publish_to, write_transmits};

/// The hidden first argument that makes `relay-bench` run as the floor relay.
pub const SUBCOMMAND: &str = "floor-relay";

const USAGE: &str = "usage: relay-bench floor-relay writev|io_uring INGEST_PORT SINK_PORT N";

/// How the floor hands a burst to the kernel.
enum Sends {
    /// One blocking `writev` per destination.
    Writev,
    /// One `IORING_OP_SENDMSG` per destination, one submission per burst.
    Ring(Box<IoUring>),
}

/// `relay-bench floor-relay writev|io_uring INGEST_PORT SINK_PORT N`: listens for
/// the publisher on the ingest port and pushes to
/// `rtmp://127.0.0.1:SINK_PORT/live/o0..oN-1`.
pub fn main(args: &[String]) -> ! {
    let number = |i: usize| -> usize { args.get(i).and_then(|a| a.parse().ok()).expect(USAGE) };
    let (ingest_port, sink_port, n) = (number(1) as u16, number(2) as u16, number(3));
    let mut sends = match args.first().map(String::as_str) {
        Some("writev") => Sends::Writev,
        Some("io_uring") => {
            let entries = n.clamp(1, 4096).next_power_of_two() as u32;
            Sends::Ring(Box::new(IoUring::new(entries).expect("io_uring_setup")))
        }
        _ => panic!("{USAGE}"),
    };
    // Listen first: the bench waits for this port before it starts the sinks.
    let listener = TcpListener::bind(("127.0.0.1", ingest_port)).expect("bind ingest");
    // All at once, as a relay starts its pushes: one after another, the sinks'
    // small handshake writes (Nagle against delayed ACKs) take over a minute at 500.
    let connected: Vec<(TcpStream, ClientSession)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|index| scope.spawn(move || publish_to(sink_port, &format!("o{index}"))))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("destination setup"))
            .collect()
    });
    let mut encoder = None;
    let mut destinations = Vec::with_capacity(n);
    for (socket, session) in connected {
        destinations.push(socket);
        // The first destination's session encodes for all (see the module comment).
        encoder.get_or_insert(session);
    }
    let Some(mut encoder) = encoder else {
        std::process::exit(0)
    };
    // The bench probes the port before it publishes: skip connections that close
    // before they publish.
    for publisher in listener.incoming().flatten() {
        if relay(publisher, &mut encoder, &mut destinations, &mut sends) {
            break;
        }
    }
    std::process::exit(0)
}

/// Relays one publisher until it leaves. False when it left without publishing.
fn relay(
    mut publisher: TcpStream,
    encoder: &mut ClientSession,
    destinations: &mut [TcpStream],
    sends: &mut Sends,
) -> bool {
    let mut ingest = ServerSession::new(Instant::now(), [3; 1528], Limits::default());
    let (mut video, mut audio): (Option<Track>, Option<Track>) = (None, None);
    let mut published = false;
    let mut buf = vec![0u8; 256 * 1024];
    let mut pieces: Vec<Bytes> = Vec::new();
    loop {
        let read = match publisher.read(&mut buf) {
            Ok(0) | Err(_) => return published,
            Ok(read) => read,
        };
        if ingest
            .handle_input(Instant::now(), Bytes::copy_from_slice(&buf[..read]))
            .is_err()
            || write_transmits(&mut ingest, &mut publisher).is_err()
        {
            return published;
        }
        while let Some(event) = ingest.poll_event() {
            match event {
                ServerEvent::PublishRequested { .. } => {
                    ingest.accept_publish();
                    published = true;
                }
                ServerEvent::Media(MediaEvent::Track(track)) => {
                    encoder.send_track_config(&track, 0);
                    if track.id == TrackId::VIDEO {
                        video = Some(track);
                    } else {
                        audio = Some(track);
                    }
                }
                ServerEvent::Media(MediaEvent::Frame(frame)) => {
                    let track = if frame.track == TrackId::VIDEO {
                        &video
                    } else {
                        &audio
                    };
                    if let Some(track) = track {
                        encoder.send_frame(track, &frame, frame.dts as u32, frame.cts);
                    }
                }
                _ => {}
            }
        }
        let _ = write_transmits(&mut ingest, &mut publisher);
        pieces.clear();
        while let Some(transmit) = encoder.poll_transmit() {
            pieces.extend(transmit.pieces);
        }
        if pieces.is_empty() {
            continue;
        }
        match sends {
            Sends::Writev => {
                for destination in destinations.iter_mut() {
                    write_all_vectored(destination, &pieces);
                }
            }
            Sends::Ring(ring) => send_batched(ring, destinations, &pieces),
        }
    }
}

/// One submission of one `SENDMSG` per destination (per ring's worth of them), all
/// sharing one message header over the same bytes, then waits for every completion.
/// A destination that took only part of the burst gets the rest with blocking writes;
/// a failed send counts as done (that sink's missing frames show as dropped).
fn send_batched(ring: &mut IoUring, destinations: &mut [TcpStream], pieces: &[Bytes]) {
    let iovecs: Vec<libc::iovec> = pieces
        .iter()
        .map(|piece| libc::iovec {
            iov_base: piece.as_ptr() as *mut libc::c_void,
            iov_len: piece.len(),
        })
        .collect();
    // SAFETY: all-zero is a valid msghdr (no name, no control data).
    #[allow(unsafe_code)]
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = iovecs.as_ptr() as *mut libc::iovec;
    header.msg_iovlen = iovecs.len();
    let total: usize = pieces.iter().map(Bytes::len).sum();
    let capacity = ring.params().sq_entries() as usize;
    let mut short: Vec<(usize, usize)> = Vec::new();
    for (first, batch) in destinations.chunks(capacity).enumerate() {
        {
            let mut queue = ring.submission();
            for (offset, destination) in batch.iter().enumerate() {
                let entry = opcode::SendMsg::new(types::Fd(destination.as_raw_fd()), &header)
                    .build()
                    .user_data((first * capacity + offset) as u64);
                // SAFETY: `header`, `iovecs` and the bytes they point at stay alive
                // and unchanged until every entry has completed (waited for below).
                #[allow(unsafe_code)]
                unsafe { queue.push(&entry) }.expect("a batch fits the ring");
            }
        }
        ring.submit_and_wait(batch.len()).expect("io_uring_enter");
        let mut completed = 0;
        while completed < batch.len() {
            for completion in ring.completion() {
                completed += 1;
                let sent = usize::try_from(completion.result()).unwrap_or(total);
                if sent < total {
                    short.push((completion.user_data() as usize, sent));
                }
            }
            if completed < batch.len() {
                ring.submit_and_wait(batch.len() - completed)
                    .expect("io_uring_enter");
            }
        }
    }
    for (index, sent) in short {
        write_rest(&mut destinations[index], pieces, sent);
    }
}

/// One `writev` for the whole burst when the socket takes it (it does unless the
/// sink falls behind); the rest, if any, piece by piece.
fn write_all_vectored(socket: &mut TcpStream, pieces: &[Bytes]) {
    let slices: Vec<IoSlice<'_>> = pieces.iter().map(|p| IoSlice::new(p)).collect();
    if let Ok(written) = socket.write_vectored(&slices) {
        write_rest(socket, pieces, written);
    }
}

/// Writes what follows the first `written` bytes of the burst, blocking. A failed
/// write is left alone: that sink's missing frames show as dropped.
fn write_rest(socket: &mut TcpStream, pieces: &[Bytes], mut written: usize) {
    for piece in pieces {
        if written >= piece.len() {
            written -= piece.len();
            continue;
        }
        if socket.write_all(&piece[written..]).is_err() {
            return;
        }
        written = 0;
    }
}
