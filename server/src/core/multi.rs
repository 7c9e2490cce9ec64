//! The multi-core execution path: an operation whose keys live on several cores holds
//! every core it touches, in ascending core order, runs its steps, then releases them.
//!
//! Holding means the shard runs nothing else: messages for it are deferred and local
//! commands wait. Taking holds in one global order makes deadlock impossible, and since
//! every hold is kept until the operation ends (two-phase locking), no client can observe
//! half of it. MGET/MSET/DEL/RENAME use it today; MULTI/EXEC and scripts reuse it, and the
//! durable path gives the whole operation one LSN while the holds are in place.
//!
//! An operation on a single core takes no hold at all: it runs as one step.
//!
//! ```text
//! coordinator              core 0                  core 1
//!   run(0, step) ------>   hold, step, keep
//!   run(1, step) ------------------------------>  hold, step, keep
//!   finish()     ------>   release  ---------->   release
//! ```

use super::mesh::{Msg, TxId, TxOp};
use super::Core;
use crate::shard::Shard;
use futures::channel::oneshot;
use std::rc::Rc;

pub struct MultiCore {
    core: Rc<Core>,
    tx: TxId,
    /// The cores the operation may touch, ascending and unique.
    cores: Vec<usize>,
    /// Cores currently held, ascending.
    held: Vec<usize>,
}

impl MultiCore {
    pub fn new(core: &Rc<Core>, cores: impl IntoIterator<Item = usize>) -> Self {
        let mut cores: Vec<usize> = cores.into_iter().collect();
        cores.sort_unstable();
        cores.dedup();
        MultiCore {
            core: core.clone(),
            tx: core.new_tx(),
            cores,
            held: Vec::new(),
        }
    }

    /// An operation over every core (FLUSHALL, SWAPDB, KEYS, DBSIZE).
    pub fn all(core: &Rc<Core>) -> Self {
        Self::new(core, 0..core.cores)
    }

    fn single(&self) -> bool {
        self.cores.len() == 1
    }

    /// Runs `step` on `target`'s shard. Unless the operation has a single core, `target`
    /// and every lower core of the operation are held from here until `finish`.
    pub async fn run<R: Send + 'static>(
        &mut self,
        target: usize,
        step: impl FnOnce(&mut Shard) -> R + Send + 'static,
    ) -> R {
        assert!(
            self.cores.contains(&target),
            "core {target} is not part of this operation"
        );
        if !self.single() {
            let lower: Vec<usize> = self
                .cores
                .iter()
                .copied()
                .filter(|&c| c < target && !self.held.contains(&c))
                .collect();
            for core in lower {
                self.step(core, None::<fn(&mut Shard)>).await;
            }
        }
        self.step(target, Some(step))
            .await
            .expect("a step with work returns its result")
    }

    async fn step<R: Send + 'static>(
        &mut self,
        target: usize,
        step: Option<impl FnOnce(&mut Shard) -> R + Send + 'static>,
    ) -> Option<R> {
        let keep = !self.single();
        if target == self.core.id {
            if keep {
                self.core.acquire(self.tx).await;
                self.mark_held(target);
            } else {
                self.core.wait_unheld().await;
            }
            return step.map(|step| step(&mut self.core.shard.borrow_mut()));
        }
        let (tx, rx) = oneshot::channel();
        let job: Box<dyn FnOnce(&mut Shard) + Send> = Box::new(move |shard| {
            let _ = tx.send(step.map(|step| step(shard)));
        });
        self.core
            .send(
                target,
                Msg::Tx {
                    tx: self.tx,
                    op: TxOp {
                        job: Some(job),
                        keep,
                    },
                },
            )
            .await;
        if keep {
            self.mark_held(target);
        }
        rx.await.expect("a core dropped a multi-core step")
    }

    fn mark_held(&mut self, core: usize) {
        if let Err(at) = self.held.binary_search(&core) {
            self.held.insert(at, core);
        }
    }

    /// Releases every held core.
    pub async fn finish(mut self) {
        let held = std::mem::take(&mut self.held);
        release(&self.core, self.tx, held).await;
    }
}

async fn release(core: &Rc<Core>, tx: TxId, held: Vec<usize>) {
    for target in held {
        if target == core.id {
            core.release(tx);
        } else {
            core.send(
                target,
                Msg::Tx {
                    tx,
                    op: TxOp {
                        job: None,
                        keep: false,
                    },
                },
            )
            .await;
        }
    }
}

impl Drop for MultiCore {
    /// An operation abandoned mid-way (its task was dropped) must not leave cores held.
    fn drop(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let (core, tx) = (self.core.clone(), self.tx);
        glommio::spawn_local(async move { release(&core, tx, held).await }).detach();
    }
}
