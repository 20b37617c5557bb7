//! `GET /api/v1/events`: the event bus as Server-Sent Events. Each event is
//! `event: KIND` + `data: JSON`; a reader that fell behind gets a `missed` event
//! saying how many it lost.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame};

use crate::events::{EventBus, Next, ReaderGuard};

pub struct EventStream {
    reader: ReaderGuard,
    cursor: u64,
    greeted: bool,
}

impl EventStream {
    pub fn new(bus: &Arc<EventBus>) -> Self {
        Self {
            cursor: bus.cursor(),
            reader: bus.reader(),
            greeted: false,
        }
    }
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if !self.greeted {
            self.greeted = true;
            // Tells EventSource clients how soon to reconnect, and flushes headers.
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                b"retry: 2000\n\n",
            )))));
        }
        let this = &mut *self;
        let text = match this.reader.bus().poll_next(&mut this.cursor, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Next::Event { kind, json }) => format!("event: {kind}\ndata: {json}\n\n"),
            Poll::Ready(Next::Missed(n)) => format!("event: missed\ndata: {{\"events\":{n}}}\n\n"),
        };
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(text)))))
    }
}
