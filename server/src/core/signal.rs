//! A wake-up for one background task on this core: set by whoever has work for it, taken
//! by the task when it next runs. Several signals before the task runs count as one, which
//! is what batches a tick's work into one message (the outbox flusher, the commit
//! shipper, the log core's merge).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

#[derive(Default)]
pub struct Signal {
    raised: Cell<bool>,
    waiter: RefCell<Option<Waker>>,
}

impl Signal {
    /// There is work: the waiting task runs at its next turn.
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(waker) = self.waiter.borrow_mut().take() {
            waker.wake();
        }
    }

    /// Waits until raised (at once if it was raised since the last wait).
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.raised.replace(false) {
                return Poll::Ready(());
            }
            // A connection waits on its mailbox's signal once per read: keeping the waker
            // it left last time saves a clone and a drop of a task reference each time.
            let mut waiter = self.waiter.borrow_mut();
            if !waiter.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waiter = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::Signal;
    use futures::FutureExt;

    #[test]
    fn raises_before_the_wait_count_once() {
        let signal = Signal::default();
        signal.raise();
        signal.raise();
        assert!(signal.wait().now_or_never().is_some());
        assert!(signal.wait().now_or_never().is_none());
    }
}
