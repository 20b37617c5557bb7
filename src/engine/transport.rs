//! A connection's bytes: plain TCP or TLS (rustls driven sans-IO over the raw
//! socket), with a read that stays in flight while the owner writes.

use std::future::Future;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use compio::buf::BufResult;
use compio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use compio::net::TcpStream;

/// Most iovecs handed to one writev (Linux IOV_MAX is 1024).
const MAX_IOVECS: usize = 1024;
const READ_BUFFER: usize = 64 * 1024;

type ReadFuture = Pin<Box<dyn Future<Output = (TcpStream, Vec<u8>, io::Result<usize>)>>>;

pub struct Transport {
    reader: Option<(TcpStream, Vec<u8>)>,
    in_flight: Option<ReadFuture>,
    writer: TcpStream,
    tls: Option<rustls::Connection>,
    eof: bool,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Transport {
    pub fn new(stream: TcpStream, mut tls: Option<rustls::Connection>) -> Self {
        if let Some(tls) = &mut tls {
            // rustls refuses plaintext beyond 64 KiB until the handshake is done; our
            // writes are already bounded by the subscriber queue and flushed at once.
            tls.set_buffer_limit(None);
        }
        let (reader, writer) = stream.into_split();
        Self {
            reader: Some((reader, Vec::with_capacity(READ_BUFFER))),
            in_flight: None,
            writer,
            tls,
            eof: false,
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
            let n = match result {
                Ok(n) => n,
                Err(e) => {
                    self.reader = Some((reader, buf));
                    return Poll::Ready(Err(e));
                }
            };
            let raw = buf.get(..n).unwrap_or_default();
            if n == 0 {
                self.eof = true;
                self.reader = Some((reader, buf));
                return Poll::Ready(Ok(None));
            }
            let out = match &mut self.tls {
                None => Bytes::copy_from_slice(raw),
                Some(tls) => match tls_receive(tls, raw) {
                    Ok(plain) => plain,
                    Err(e) => {
                        self.reader = Some((reader, buf));
                        return Poll::Ready(Err(e));
                    }
                },
            };
            self.reader = Some((reader, buf));
            return Poll::Ready(Ok(Some(out)));
        }
    }

    /// Writes pieces in order (TLS-encrypts them first when this is a TLS transport).
    pub async fn write(&mut self, pieces: Vec<Bytes>) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            for piece in &pieces {
                tls.writer().write_all(piece)?;
            }
            return self.flush_tls().await;
        }
        let mut pieces = pieces;
        while !pieces.is_empty() {
            let rest = if pieces.len() > MAX_IOVECS {
                pieces.split_off(MAX_IOVECS)
            } else {
                Vec::new()
            };
            let BufResult(result, _) = self.writer.write_vectored_all(pieces).await;
            result?;
            pieces = rest;
        }
        Ok(())
    }

    /// Writes whatever TLS records are waiting (handshake messages, alerts, data).
    pub async fn flush_tls(&mut self) -> io::Result<()> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out)?;
        }
        if !out.is_empty() {
            let BufResult(result, _) = self.writer.write_all(out).await;
            result?;
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
