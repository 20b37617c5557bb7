//! Operator commands to one running output task (restart, stop), sent from the
//! admin thread to the task on its worker core.

use std::future::poll_fn;
use std::sync::Mutex;
use std::task::Poll;

use atomic_waker::AtomicWaker;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Drop the current session (or backoff wait) and connect again at once.
    Restart,
    /// End the task (output disabled or removed).
    Stop,
}

#[derive(Debug, Default)]
pub struct OutputControl {
    pending: Mutex<Option<Command>>,
    waker: AtomicWaker,
}

impl OutputControl {
    pub fn send(&self, command: Command) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            // A stop is never downgraded to a restart.
            if *pending != Some(Command::Stop) {
                *pending = Some(command);
            }
        }
        self.waker.wake();
    }

    /// The next command; pending until one is sent.
    pub async fn next(&self) -> Command {
        poll_fn(|cx| {
            self.waker.register(cx.waker());
            match self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                Some(command) => Poll::Ready(command),
                None => Poll::Pending,
            }
        })
        .await
    }
}
