//! The reply ring of one core: replies that wait for the durable watermark.
//!
//! A connection's encoded replies stay in its output buffer, tagged with the highest LSN
//! any of them depends on (`Session::dep`); the ring holds one entry per waiting
//! connection, (LSN, waker), and wakes it once the watermark reaches that LSN. Because a
//! connection sends its buffer front to back only after the wait, replies leave in
//! request order; because each connection waits only for its own LSN, a read of clean
//! keys on one connection never waits for a write in flight on another.
//!
//! The core publishes the lowest LSN it waits for in `Shared::wants`, so the log core
//! notifies only the cores that have something to release (see sequencer.rs).

use super::Shared;
use std::cell::RefCell;
use std::future::poll_fn;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};

#[derive(Default)]
pub struct ReplyRing {
    waiting: RefCell<Vec<(u64, Waker)>>,
}

impl ReplyRing {
    /// Waits until `lsn` is durable. Err(reason) if the log failed first: the replies
    /// that waited must never be sent.
    pub async fn wait(&self, shared: &Shared, core: usize, lsn: u64) -> Result<(), String> {
        poll_fn(|cx| {
            if shared.watermark() >= lsn {
                return Poll::Ready(Ok(()));
            }
            if let Some(reason) = shared.failure() {
                return Poll::Ready(Err(reason));
            }
            self.waiting.borrow_mut().push((lsn, cx.waker().clone()));
            self.publish_wants(shared, core);
            // The log core reads `wants` after it moves the watermark: check again after
            // publishing ours, or a notification sent in between would be missed.
            if shared.watermark() >= lsn {
                return Poll::Ready(Ok(()));
            }
            Poll::Pending
        })
        .await
    }

    /// Wakes every reply the watermark now covers (or all of them, if the log failed).
    pub fn release(&self, shared: &Shared, core: usize) {
        loop {
            let watermark = shared.watermark();
            let failed = shared.failure().is_some();
            {
                let mut waiting = self.waiting.borrow_mut();
                waiting.retain(|(lsn, waker)| {
                    let done = *lsn <= watermark || failed;
                    if done {
                        waker.wake_by_ref();
                    }
                    !done
                });
            }
            let lowest = self.publish_wants(shared, core);
            if lowest == 0 || lowest > shared.watermark() {
                return;
            }
        }
    }

    /// Publishes the lowest LSN waited for here (0: none) and returns it.
    fn publish_wants(&self, shared: &Shared, core: usize) -> u64 {
        let lowest = self
            .waiting
            .borrow()
            .iter()
            .map(|(lsn, _)| *lsn)
            .min()
            .unwrap_or(0);
        shared.wants[core].store(lowest, Ordering::SeqCst);
        lowest
    }

    pub fn len(&self) -> usize {
        self.waiting.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Shared {
    /// Whether core `core` waits for something at or below `watermark`.
    pub(crate) fn core_wants(&self, core: usize, watermark: u64) -> bool {
        let wants = self.wants[core].load(Ordering::SeqCst);
        wants != 0 && wants <= watermark
    }
}
