//! A publisher's burst kept open across reads while a message is still arriving.
//!
//! An encoder writes a message's chunks back to back, and often the message before
//! it (an audio frame ahead of a video frame) too; a read can end between them, in
//! the middle of the second. Ending the burst there sends each caught-up output the
//! finished messages now and the rest a moment later: two sends per destination
//! where one would do. Held open until the message in progress is complete, the
//! burst reaches every output in one send: in relay-bench, about 30 sends per
//! destination per second instead of 38.7, and 6–15% less CPU (BENCHMARKS.md). The
//! hold is bounded in reads and in time, so a publisher that stalls mid-message
//! delays what came before by at most `MAX_HOLD` (and the scheduling of its task).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Burst, Stream};

/// Reads a burst stays open for at most, past the one that began it.
const MAX_HELD_READS: u8 = 4;

/// How long a burst may stay open, from the end of the read that began it.
const MAX_HOLD: Duration = Duration::from_millis(1);

/// A burst that may be kept open past the read that began it.
#[derive(Debug)]
pub struct HeldBurst {
    /// Kept for its drop, which delivers what the burst holds.
    _open: Burst,
    /// Reads it was kept open past.
    reads: u8,
    begun: Instant,
}

impl HeldBurst {
    /// Opens a burst for what the publisher pushes from its next read.
    pub fn begin(stream: &Arc<Stream>, now: Instant) -> Self {
        Self {
            _open: stream.burst(),
            reads: 0,
            begun: now,
        }
    }

    /// After a read: stays open while the peer is in the middle of a message and
    /// neither bound is reached; otherwise ends, delivering what it holds.
    pub fn after_read(self, mid_message: bool, now: Instant) -> Option<Self> {
        let keep = mid_message && self.reads < MAX_HELD_READS && now < self.deadline();
        keep.then(|| Self {
            reads: self.reads + 1,
            ..self
        })
    }

    /// When a burst still open must end even though no read came.
    pub fn deadline(&self) -> Instant {
        self.begun + MAX_HOLD
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::stream::fanout::tests::CountingSink;
    use crate::stream::stream::tests::audio_frame as frame;
    use crate::stream::{DirectSink, Origin, PublisherGuard, QueueLimits, Subscriber};

    /// What the sink encoded and how many sends it made.
    fn counts(sink: &CountingSink) -> (u64, u64) {
        (
            sink.encoded.load(Ordering::Relaxed),
            sink.sends.load(Ordering::Relaxed),
        )
    }

    /// A published stream with one caught-up subscriber writing to a counting sink.
    fn published() -> (
        Arc<Stream>,
        PublisherGuard,
        Arc<Subscriber>,
        Arc<CountingSink>,
    ) {
        let stream = Stream::new("held");
        let publisher = stream
            .try_publish(1, Origin::new("rtmp", "127.0.0.1:1".parse().expect("addr")))
            .expect("publish");
        let sub = stream.subscribe(QueueLimits::default());
        let sink = Arc::new(CountingSink::default());
        sub.set_direct_sink(Arc::clone(&sink) as Arc<dyn DirectSink>);
        sub.drain_now(&mut Vec::new());
        assert!(sub.resume_direct());
        (stream, publisher, sub, sink)
    }

    #[test]
    fn what_came_before_a_message_in_progress_goes_out_with_it_in_one_send() {
        let (stream, publisher, _sub, sink) = published();
        let start = Instant::now();
        let burst = HeldBurst::begin(&stream, start);
        assert!(publisher.push_frame(frame(0)));
        let burst = burst
            .after_read(true, start)
            .expect("held while a message is arriving");
        assert_eq!(counts(&sink), (0, 0), "nothing sent while held");
        assert!(publisher.push_frame(frame(1)));
        assert!(
            burst.after_read(false, start).is_none(),
            "ends at a boundary"
        );
        assert_eq!(counts(&sink), (2, 1), "both frames in one send");
    }

    #[test]
    fn a_read_that_ends_between_messages_ends_the_burst() {
        let (stream, publisher, _sub, sink) = published();
        let start = Instant::now();
        let burst = HeldBurst::begin(&stream, start);
        assert!(publisher.push_frame(frame(0)));
        assert!(burst.after_read(false, start).is_none());
        assert_eq!(counts(&sink), (1, 1));
    }

    #[test]
    fn a_held_burst_ends_after_its_read_limit_even_mid_message() {
        let (stream, publisher, _sub, sink) = published();
        let start = Instant::now();
        let mut burst = Some(HeldBurst::begin(&stream, start));
        let mut reads = 0;
        while let Some(open) = burst.take() {
            assert!(publisher.push_frame(frame(reads)));
            reads += 1;
            assert!(
                reads <= i64::from(MAX_HELD_READS) + 1,
                "the hold never ended"
            );
            burst = open.after_read(true, start);
        }
        assert_eq!(reads, i64::from(MAX_HELD_READS) + 1);
        assert_eq!(counts(&sink), (reads as u64, 1), "all of it in one send");
    }

    #[test]
    fn a_held_burst_ends_at_its_deadline_even_mid_message() {
        let (stream, publisher, _sub, sink) = published();
        let start = Instant::now();
        let burst = HeldBurst::begin(&stream, start);
        assert_eq!(burst.deadline(), start + MAX_HOLD);
        assert!(publisher.push_frame(frame(0)));
        let burst = burst.after_read(true, start + MAX_HOLD / 2).expect("held");
        assert_eq!(counts(&sink), (0, 0));
        assert!(burst.after_read(true, start + MAX_HOLD).is_none());
        assert_eq!(counts(&sink), (1, 1));
    }
}
