//! hyper over compio: a TCP stream as `hyper::rt::Read + Write`, for the admin API
//! (and later the public HTTP server). compio's completion-based stream is bridged
//! to poll-based I/O by compio's own compat layer, which owns the buffers while an
//! operation is in flight.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use compio::io::compat::AsyncStream;
use compio::net::TcpStream;
use futures_util::{AsyncBufRead, AsyncWrite};

/// Largest buffer the compat layer may grow to for one write.
const MAX_BUFFER: usize = 1024 * 1024;

pub struct HyperIo {
    inner: Pin<Box<AsyncStream<TcpStream>>>,
}

impl HyperIo {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            inner: Box::pin(AsyncStream::with_limits(16 * 1024, MAX_BUFFER, stream)),
        }
    }
}

impl hyper::rt::Read for HyperIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let available = ready!(self.inner.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.remaining());
        buf.put_slice(available.get(..n).unwrap_or_default());
        self.inner.as_mut().consume(n);
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for HyperIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_close(cx)
    }
}
