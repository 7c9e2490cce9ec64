//! Shipping effect records from the core that executed them to the log core: once per
//! executor tick, every record the core's shard logged since the last tick travels as one
//! message (the same batching as cross-core commands). Messages from one core arrive in
//! send order, so each core's records reach the sequencer in LSN order.

use crate::core::mesh::Msg;
use crate::core::Core;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

#[derive(Default)]
pub struct Shipper {
    pending: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Shipper {
    /// Something was logged: ship it when the shipper next runs (after the tick's other
    /// ready tasks, so a tick's records travel together).
    pub fn wake(&self) {
        self.pending.set(true);
        if let Some(waker) = self.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    async fn next(&self) {
        poll_fn(|cx| {
            if self.pending.replace(false) {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// The shipper task of one core.
pub fn spawn(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            core.shipper.next().await;
            let frames = core.shard.borrow_mut().journal.take_outgoing();
            if frames.is_empty() {
                continue;
            }
            if core.id == super::LOG_CORE {
                core.sequencer().push(core.id, frames);
            } else {
                core.send(
                    super::LOG_CORE,
                    Msg::Commit {
                        from: core.id,
                        frames,
                    },
                )
                .await;
            }
        }
    })
    .detach();
}
