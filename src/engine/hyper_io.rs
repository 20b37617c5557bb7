//! hyper over compio: a TCP stream as `hyper::rt::Read + Write`, for the admin API
//! (and later the public HTTP server). compio's completion-based stream is bridged
//! to poll-based I/O by compio's own compat layer, which owns the buffers while an
//! operation is in flight.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use compio::io::compat::AsyncStream;
use compio::net::TcpStream;
use futures_util::{AsyncBufRead, AsyncWrite};

/// Largest buffer the compat layer may grow to for one write.
const MAX_BUFFER: usize = 1024 * 1024;

pub struct HyperIo {
    inner: Pin<Box<AsyncStream<TcpStream>>>,
    /// When bytes last moved either way (see `idle`).
    activity: Rc<Cell<Instant>>,
}

impl HyperIo {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            inner: Box::pin(AsyncStream::with_limits(16 * 1024, MAX_BUFFER, stream)),
            activity: Rc::new(Cell::new(Instant::now())),
        }
    }

    /// Resolves once no byte has moved for `limit`: race it against the
    /// connection to close idle keep-alive connections and trickling clients
    /// (hyper's own timeouts need a `Send` timer, which compio does not offer).
    pub fn idle(&self, limit: Duration) -> impl std::future::Future<Output = ()> + 'static {
        let activity = Rc::clone(&self.activity);
        async move {
            loop {
                let since = activity.get().elapsed();
                if since >= limit {
                    return;
                }
                compio::time::sleep(limit - since).await;
            }
        }
    }

    fn touch(&self) {
        self.activity.set(Instant::now());
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
        self.touch();
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for HyperIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(self.inner.as_mut().poll_write(cx, buf));
        self.touch();
        Poll::Ready(written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_close(cx)
    }
}
