//! Starting tasks on the worker cores from any thread (the admin API adds and
//! restarts outputs at runtime). Each worker drains its own small job queue; jobs
//! are round-robined over the workers so outputs spread evenly.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use atomic_waker::AtomicWaker;

/// Runs on the worker that picks it up; it typically spawns a task there.
pub type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub struct JobQueue {
    jobs: Mutex<VecDeque<Job>>,
    waker: AtomicWaker,
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue").finish_non_exhaustive()
    }
}

thread_local! {
    /// The job queue of the worker this thread runs, once its `run` has started.
    static CURRENT: std::cell::RefCell<Option<Arc<JobQueue>>> =
        const { std::cell::RefCell::new(None) };
}

impl JobQueue {
    /// The job queue of the worker the calling thread runs; `None` off the workers.
    pub fn current() -> Option<Arc<JobQueue>> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// Hands `job` to this queue's worker.
    pub fn push(&self, job: Job) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(job);
        self.waker.wake();
    }

    /// Runs this worker's jobs as they arrive; never returns.
    pub async fn run(self: &Arc<Self>) {
        CURRENT.with(|current| *current.borrow_mut() = Some(Arc::clone(self)));
        loop {
            let jobs = poll_fn(|cx| {
                self.waker.register(cx.waker());
                let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
                if jobs.is_empty() {
                    Poll::Pending
                } else {
                    Poll::Ready(std::mem::take(&mut *jobs))
                }
            })
            .await;
            jobs.into_iter().for_each(run_job);
        }
    }
}

/// Runs one job. A job that panics is logged and its worker goes on with the next:
/// unwinding out of `run` would end the worker's runtime, and with it every
/// connection that worker serves. What the job held locked is recovered by its
/// next user (every lock here is taken with `unwrap_or_else(into_inner)`).
fn run_job(job: Job) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic".to_owned());
        tracing::error!(%reason, "a job panicked; this worker goes on with its other jobs");
    }
}

/// One job queue per worker.
#[derive(Debug)]
pub struct Spawner {
    queues: Vec<Arc<JobQueue>>,
    next: AtomicUsize,
}

impl Spawner {
    pub fn new(workers: usize) -> Self {
        Self {
            queues: (0..workers.max(1)).map(|_| Arc::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The queue worker `index` drains.
    pub fn queue(&self, index: usize) -> Option<Arc<JobQueue>> {
        self.queues.get(index).cloned()
    }

    /// Hands `job` to the next worker in turn.
    pub fn spawn(&self, job: Job) {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len();
        if let Some(queue) = self.queues.get(index) {
            queue.push(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn a_panicking_job_is_logged_and_the_jobs_after_it_still_run() {
        let queue: Arc<JobQueue> = Arc::default();
        let ran_after = Arc::new(AtomicBool::new(false));
        queue.push(Box::new(|| panic!("a job that fails")));
        let flag = Arc::clone(&ran_after);
        queue.push(Box::new(move || flag.store(true, Ordering::SeqCst)));
        let runtime = compio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let worker = Arc::clone(&queue);
            compio::runtime::spawn(async move { worker.run().await }).detach();
            // Bounded: 200 turns of 5 ms.
            for _ in 0..200 {
                if ran_after.load(Ordering::SeqCst) {
                    break;
                }
                compio::runtime::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        assert!(
            ran_after.load(Ordering::SeqCst),
            "the job after the panicking one never ran"
        );
    }
}
