//! Transcoder threads are plain OS threads, not async runtimes: this runs one of the
//! stream's futures (a subscriber's `next_batch`, `wait_live`) to completion on the
//! calling thread, parking it between wake-ups, and gives up when told to stop.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

/// Asks a transcoder thread to end; wakes it if it is parked.
#[derive(Debug, Default)]
pub struct StopFlag {
    stopped: AtomicBool,
    thread: std::sync::Mutex<Option<Thread>>,
}

impl StopFlag {
    pub fn is_set(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub fn set(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            thread.unpark();
        }
    }

    /// Records the thread to unpark; called by the thread that will wait.
    pub fn bind_current_thread(&self) {
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
    }
}

struct Unparker(Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` until it completes (`Some`) or `stop` is set (`None`). Parks in
/// bounded steps, so even a lost wake-up costs at most `POLL_AT_LEAST` of delay.
pub fn block_on<F: Future>(future: F, stop: &StopFlag) -> Option<F::Output> {
    const POLL_AT_LEAST: Duration = Duration::from_millis(100);
    // One waker per thread for its whole life: a future that keeps the wakers it
    // was polled with (a stream's `wait_live`) recognises it (`will_wake`) instead
    // of collecting a new one every poll.
    thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(Unparker(std::thread::current())));
    }
    let waker = WAKER.with(Waker::clone);
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if stop.is_set() {
            return None;
        }
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return Some(output);
        }
        std::thread::park_timeout(POLL_AT_LEAST);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_or_stops() {
        let stop = Arc::new(StopFlag::default());
        stop.bind_current_thread();
        assert_eq!(block_on(async { 7 }, &stop), Some(7));
        let remote = Arc::clone(&stop);
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            remote.set();
        });
        assert_eq!(block_on(std::future::pending::<()>(), &stop), None);
        setter.join().unwrap();
    }
}
