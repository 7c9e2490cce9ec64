//! Cross-core batching ("enhanced IO multiplexing"): single-shard commands that connections
//! of this core send to another core are appended to one batch per destination; a flusher
//! task sends each non-empty batch as one message when it next runs, which is after every
//! connection task that was ready in the same executor tick has added its commands.
//!
//! Each connection's contiguous run of commands for one destination is a *part* of the
//! batch; the part's replies come back to that connection through its own oneshot, in
//! request order.

use super::mesh::{Batch, BatchMsg, BatchReply, Msg};
use super::signal::Signal;
use super::Core;
use crate::resp::Proto;
use futures::channel::oneshot;
use std::cell::RefCell;
use std::rc::Rc;

/// Where one part's replies go: the bytes, and the LSN they depend on.
type PartReply = oneshot::Sender<(Vec<u8>, u64)>;

#[derive(Default)]
struct Pending {
    batch: Batch,
    /// (end of the part in `batch.reqs`, where its replies go).
    parts: Vec<(u32, PartReply)>,
}

pub struct Outbox {
    pending: RefCell<Vec<Pending>>,
    work: Signal,
}

impl Outbox {
    pub fn new(cores: usize) -> Self {
        Outbox {
            pending: RefCell::new((0..cores).map(|_| Pending::default()).collect()),
            work: Signal::default(),
        }
    }

    /// Appends one command (owned copies of its arguments) for core `dest`.
    // The request's fields, as BatchReq carries them, one argument each.
    #[allow(clippy::too_many_arguments)]
    pub fn push<'a>(
        &self,
        dest: usize,
        db: u8,
        proto: Proto,
        cmd: u16,
        no_touch: bool,
        args: impl Iterator<Item = &'a [u8]>,
        caller: crate::shard::tracking::Caller,
    ) {
        self.pending.borrow_mut()[dest]
            .batch
            .push(db, proto, cmd, no_touch, args, caller);
    }

    /// Closes the caller's run of commands for `dest`; the receiver yields their replies,
    /// concatenated in request order, and the LSN they depend on.
    pub fn seal(&self, dest: usize) -> oneshot::Receiver<(Vec<u8>, u64)> {
        let (tx, rx) = oneshot::channel();
        let mut pending = self.pending.borrow_mut();
        let end = pending[dest].batch.reqs.len() as u32;
        pending[dest].parts.push((end, tx));
        self.work.raise();
        rx
    }
}

/// The flusher: one per core, for every destination.
pub fn spawn_flusher(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            core.outbox().work.wait().await;
            for dest in 0..core.cores {
                let taken = std::mem::take(&mut core.outbox().pending.borrow_mut()[dest]);
                if taken.parts.is_empty() {
                    continue;
                }
                let (reply_tx, reply_rx) = oneshot::channel();
                core.send(
                    dest,
                    Msg::Batch(BatchMsg {
                        from: core.id,
                        batch: taken.batch,
                        reply: reply_tx,
                    }),
                )
                .await;
                glommio::spawn_local(distribute(reply_rx, taken.parts)).detach();
            }
        }
    })
    .detach();
}

/// Splits a batch's replies among the parts that sent it.
async fn distribute(reply: oneshot::Receiver<BatchReply>, parts: Vec<(u32, PartReply)>) {
    let Ok(reply) = reply.await else { return };
    let mut req_start = 0usize;
    for (req_end, tx) in parts {
        let byte_start = if req_start == 0 {
            0
        } else {
            reply.ends[req_start - 1] as usize
        };
        let byte_end = if req_end == 0 {
            0
        } else {
            reply.ends[req_end as usize - 1] as usize
        };
        let dep = reply.deps[req_start..(req_end as usize).max(req_start)]
            .iter()
            .copied()
            .max()
            .unwrap_or(0);
        let _ = tx.send((
            reply.out[byte_start..byte_end.max(byte_start)].to_vec(),
            dep,
        ));
        req_start = req_end as usize;
    }
}
