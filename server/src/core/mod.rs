//! The per-core runtime: one `Core` per pinned executor. It owns the core's shard, its
//! ends of the channel mesh, its clients and its counters, and routes work between cores.
//!
//! ```text
//! connection (net) --local key-----------------------------> execute on own shard
//!                  --remote key--> outbox[dest] --one Batch per tick--> dest core
//!                                  <------------- BatchReply ----------/
//!                  --multi-core--> multi::MultiCore: hold cores in ascending order,
//!                                  run steps, release
//! ```
//!
//! No locks: the shard is a `RefCell` touched only by this core's tasks, and never borrowed
//! across an await.

pub mod clients;
pub mod exec;
pub mod mesh;
pub mod multi;
pub mod outbox;
pub mod stats;

use crate::config::Settings;
use crate::shard::Shard;
use clients::Clients;
use glommio::channels::channel_mesh::{Receivers, Senders};
use mesh::{Msg, TxId};
use stats::CoreStats;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Instant, SystemTime};

/// State every core shares: only atomics and values fixed at start.
pub struct Global {
    pub started: Instant,
    pub started_unix: SystemTime,
    pub run_id: String,
    pub port: u16,
    pub cores: usize,
    pub config_file: Option<std::path::PathBuf>,
    pub connected_clients: AtomicUsize,
    pub next_client_id: AtomicU64,
    pub shutdown: AtomicBool,
}

/// The hold a multi-core operation has on this core's shard, and what waits for it.
#[derive(Default)]
struct Hold {
    held_by: Cell<Option<TxId>>,
    /// Messages that touch the shard and arrived while it was held, in arrival order.
    deferred: RefCell<VecDeque<Msg>>,
    /// Local tasks waiting for the hold to end.
    waiters: RefCell<Vec<Waker>>,
    draining: Cell<bool>,
}

pub struct Core {
    pub id: usize,
    pub cores: usize,
    pub shard: RefCell<Shard>,
    pub global: Arc<Global>,
    pub settings: RefCell<Settings>,
    pub clients: RefCell<Clients>,
    pub stats: RefCell<CoreStats>,
    /// Seconds since start, refreshed by the cron; the coarse clock of client idle times.
    pub clock_s: Cell<u32>,
    senders: Option<Senders<Msg>>,
    hold: Hold,
    outbox: outbox::Outbox,
    next_tx: Cell<u64>,
}

impl Core {
    pub fn new(
        id: usize,
        global: Arc<Global>,
        settings: Settings,
        senders: Option<Senders<Msg>>,
    ) -> Rc<Core> {
        let cores = global.cores;
        Rc::new(Core {
            id,
            cores,
            shard: RefCell::new(Shard::new(0x9e37_79b9_7f4a_7c15 ^ id as u64)),
            global,
            settings: RefCell::new(settings),
            clients: RefCell::new(Clients::default()),
            stats: RefCell::new(CoreStats::default()),
            clock_s: Cell::new(0),
            senders,
            hold: Hold::default(),
            outbox: outbox::Outbox::new(cores),
            next_tx: Cell::new(0),
        })
    }

    /// Starts the tasks that receive messages from every other core.
    pub fn spawn_receivers(self: &Rc<Self>, mut receivers: Receivers<Msg>) {
        for (_, stream) in receivers.streams() {
            let core = self.clone();
            glommio::spawn_local(async move {
                while let Some(msg) = stream.recv().await {
                    core.handle(msg);
                }
            })
            .detach();
        }
    }

    pub async fn send(&self, dest: usize, msg: Msg) {
        let senders = self
            .senders
            .as_ref()
            .expect("a single core sends no messages");
        if senders.send_to(dest, msg).await.is_err() {
            // Only at shutdown: the peer executor is gone, nothing to deliver to.
            glommio::yield_if_needed().await;
        }
    }

    fn handle(self: &Rc<Self>, msg: Msg) {
        match msg {
            Msg::Call(call) => call(self),
            Msg::Batch(batch) => {
                if self.hold.held_by.get().is_some() {
                    self.hold.deferred.borrow_mut().push_back(Msg::Batch(batch));
                } else {
                    exec::execute_batch(self, batch);
                }
            }
            Msg::Tx { tx, op } => match self.hold.held_by.get() {
                Some(holder) if holder != tx => {
                    self.hold
                        .deferred
                        .borrow_mut()
                        .push_back(Msg::Tx { tx, op });
                }
                _ => {
                    self.hold.held_by.set(Some(tx));
                    if let Some(job) = op.job {
                        job(&mut self.shard.borrow_mut());
                    }
                    if !op.keep {
                        self.release(tx);
                    }
                }
            },
        }
    }

    pub fn new_tx(&self) -> TxId {
        let n = self.next_tx.get() + 1;
        self.next_tx.set(n);
        TxId(((self.id as u64) << 56) | n)
    }

    pub fn is_held(&self) -> bool {
        self.hold.held_by.get().is_some()
    }

    /// Waits until no multi-core operation holds this shard.
    pub async fn wait_unheld(&self) {
        futures::future::poll_fn(|cx| {
            if self.hold.held_by.get().is_none() {
                Poll::Ready(())
            } else {
                self.hold.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Takes the hold for `tx` on this core's own shard.
    pub async fn acquire(&self, tx: TxId) {
        if self.hold.held_by.get() == Some(tx) {
            return;
        }
        self.wait_unheld().await;
        self.hold.held_by.set(Some(tx));
    }

    /// Ends `tx`'s hold, then runs what waited for it.
    pub fn release(self: &Rc<Self>, tx: TxId) {
        assert_eq!(
            self.hold.held_by.get(),
            Some(tx),
            "release by a transaction that does not hold the shard"
        );
        self.hold.held_by.set(None);
        if self.hold.draining.replace(true) {
            return;
        }
        while self.hold.held_by.get().is_none() {
            let Some(msg) = self.hold.deferred.borrow_mut().pop_front() else {
                break;
            };
            self.handle(msg);
        }
        self.hold.draining.set(false);
        if self.hold.held_by.get().is_none() {
            for waker in self.hold.waiters.borrow_mut().drain(..) {
                waker.wake();
            }
        }
    }

    /// Runs `call` on core `dest` (here, when it is this core) and returns its result.
    pub async fn call<R: Send + 'static>(
        self: &Rc<Self>,
        dest: usize,
        call: impl FnOnce(&Core) -> R + Send + 'static,
    ) -> R {
        if dest == self.id {
            return call(self);
        }
        let (tx, rx) = futures::channel::oneshot::channel();
        self.send(
            dest,
            Msg::Call(Box::new(move |core| {
                let _ = tx.send(call(core));
            })),
        )
        .await;
        rx.await.expect("a core dropped a call")
    }

    /// Runs `call` on every core, results in core order.
    pub async fn call_all<R: Send + 'static>(
        self: &Rc<Self>,
        call: impl Fn(&Core) -> R + Send + Sync + Clone + 'static,
    ) -> Vec<R> {
        let mut results = Vec::with_capacity(self.cores);
        for dest in 0..self.cores {
            results.push(self.call(dest, call.clone()).await);
        }
        results
    }

    pub fn outbox(&self) -> &outbox::Outbox {
        &self.outbox
    }

    /// Starts the per-core background work (active expiry, coarse clocks) in a task queue
    /// of its own with few shares, so it never starves foreground replies.
    pub fn spawn_cron(self: &Rc<Self>) {
        let queue = glommio::executor().create_task_queue(
            glommio::Shares::Static(100),
            glommio::Latency::NotImportant,
            "background",
        );
        let core = self.clone();
        glommio::spawn_local_into(
            async move {
                let interval =
                    std::time::Duration::from_millis(crate::limits::ACTIVE_EXPIRE_INTERVAL_MS);
                while !core
                    .global
                    .shutdown
                    .load(std::sync::atomic::Ordering::Relaxed)
                {
                    glommio::timer::sleep(interval).await;
                    core.cron();
                }
            },
            queue,
        )
        .expect("background task queue")
        .detach();
    }

    fn cron(&self) {
        self.clock_s
            .set(self.global.started.elapsed().as_secs() as u32);
        if self.is_held() {
            return;
        }
        let mut shard = self.shard.borrow_mut();
        shard.tick_clock();
        let started = Instant::now();
        crate::shard::expire::active_cycle(
            &mut shard,
            crate::shard::unix_ms(),
            crate::limits::ACTIVE_EXPIRE_ENTRIES_PER_CYCLE,
        );
        shard.stats.expire_cycle_cpu_ms += started.elapsed().as_millis() as u64;
    }
}
