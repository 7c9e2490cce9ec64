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
pub mod eviction;
pub mod exec;
pub mod hold;
pub mod latency;
pub mod mesh;
pub mod monitor;
pub mod multi;
pub mod notify;
pub mod outbox;
pub mod pause;
pub mod pubsub;
pub mod signal;
pub mod stats;
pub mod stopwatch;
pub mod tracking;

use crate::config::Settings;
use crate::shard::Shard;
use clients::ClientInfo;
use clients::Clients;
use glommio::channels::channel_mesh::{Receivers, Senders};
use mesh::{Msg, TxId};
use stats::{CoreStats, SlowEntry};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;

use std::time::Instant;

/// State every core shares: only atomics and values fixed at start.
pub struct Global {
    pub started: Instant,
    pub run_id: String,
    pub port: u16,
    pub cores: usize,
    pub config_file: Option<std::path::PathBuf>,
    pub connected_clients: AtomicUsize,
    pub next_client_id: AtomicU64,
    pub next_slowlog_id: AtomicU64,
    /// The next LSN to hand out. Taken by the core executing a write at the moment it
    /// executes (a multi-core operation: while it holds its cores), so LSN order is an
    /// order of execution (DESIGN.md). Unused with `--durability none`.
    pub next_lsn: AtomicU64,
    /// The next number for a batch of keyspace events (core/notify.rs): one order over
    /// every core's batches, the order they were raised in.
    pub next_event_batch: AtomicU64,
    /// Durability mode, commit watermark, log state (see commit/).
    pub commit: crate::commit::Shared,
}

impl Global {
    /// Hands out `n` consecutive LSNs; returns the first.
    pub fn take_lsns(&self, n: u64) -> u64 {
        self.next_lsn
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed)
    }
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
    /// DEBUG SET-ACTIVE-EXPIRE: whether the cron expires keys nobody reads.
    pub active_expire: Cell<bool>,
    senders: Option<Senders<Msg>>,
    hold: hold::Hold,
    outbox: outbox::Outbox,
    next_tx: Cell<u64>,
    /// Replies waiting for the durable watermark (commit/ring.rs).
    pub ring: crate::commit::ring::ReplyRing,
    /// Wakes the task that sends this core's effect records to the log core
    /// (commit/ship.rs) once per tick.
    pub shipper: signal::Signal,
    /// On the log core, once the log is open: the merge into the log.
    sequencer: RefCell<Option<Rc<crate::commit::sequencer::Sequencer>>>,
    /// The channels and patterns this core's connections subscribe to.
    pub pubsub: RefCell<pubsub::PubSub>,
    /// LATENCY's events seen on this core (latency.rs).
    pub latency: RefCell<latency::Monitor>,
    /// Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats).
    pub histograms: RefCell<latency::Histograms>,
    /// Keyspace events raised here, on their way to every core's subscribers.
    pub notifier: notify::Notifier,
    /// MONITOR clients of this core, and the lines on their way to every core's.
    pub monitors: monitor::Monitors,
    /// This core's CLIENT TRACKING clients and their invalidations (tracking.rs).
    pub tracking: tracking::Registry,
}

impl Core {
    pub fn new(
        id: usize,
        global: Arc<Global>,
        settings: Settings,
        senders: Option<Senders<Msg>>,
    ) -> Rc<Core> {
        let cores = global.cores;
        let mut shard = if global.commit.journaled() {
            Shard::journaled(0x9e37_79b9_7f4a_7c15 ^ id as u64, id == 0)
        } else {
            Shard::new(0x9e37_79b9_7f4a_7c15 ^ id as u64)
        };
        shard.notify_flags = crate::shard::notify::effective(settings.notify_keyspace_events);
        shard.evict.config = crate::shard::evict::EvictConfig::from_settings(&settings);
        Rc::new(Core {
            id,
            cores,
            shard: RefCell::new(shard),
            global,
            settings: RefCell::new(settings),
            clients: RefCell::new(Clients::default()),
            stats: RefCell::new(CoreStats::default()),
            clock_s: Cell::new(0),
            active_expire: Cell::new(true),
            senders,
            hold: hold::Hold::default(),
            outbox: outbox::Outbox::new(cores),
            next_tx: Cell::new(0),
            ring: Default::default(),
            shipper: Default::default(),
            sequencer: RefCell::new(None),
            pubsub: RefCell::default(),
            latency: RefCell::default(),
            histograms: RefCell::default(),
            notifier: notify::Notifier::default(),
            monitors: monitor::Monitors::default(),
            tracking: Default::default(),
        })
    }

    /// The log core's sequencer. Panics elsewhere, or before the log is open.
    pub fn sequencer(&self) -> Rc<crate::commit::sequencer::Sequencer> {
        self.sequencer
            .borrow()
            .clone()
            .expect("the sequencer runs on the log core once the log is open")
    }

    pub fn set_sequencer(&self, sequencer: Rc<crate::commit::sequencer::Sequencer>) {
        *self.sequencer.borrow_mut() = Some(sequencer);
    }

    /// A record was logged on this core's shard: ship it this tick.
    pub fn wake_shipper(&self) {
        self.shipper.raise();
    }

    /// Work ran on the shard that may have logged (a multi-core step): ship what it did.
    pub fn ship_if_logged(&self) {
        if self.shard.borrow().journal.has_outgoing() {
            self.shipper.raise();
        }
    }

    /// The durable watermark moved (or the log failed): release what waited for it and
    /// forget the keys that are clean now.
    pub fn durable_advanced(&self) {
        let shared = &self.global.commit;
        self.ring.release(shared, self.id);
        self.shard.borrow_mut().journal.clean(shared.watermark());
        if self.id == crate::commit::LOG_CORE {
            self.notifier.durable_advanced();
        }
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
        if crate::script::call::blocking() {
            // A script runs on this thread and this executor is not polled meanwhile:
            // retry until the peer, which runs on, has made room.
            let mut msg = msg;
            loop {
                match senders.try_send_to(dest, msg) {
                    Err(glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(
                        back,
                    ))) => {
                        msg = back;
                        std::thread::yield_now();
                    }
                    // Sent, or only at shutdown: the peer executor is gone.
                    _ => return,
                }
            }
        }
        if senders.send_to(dest, msg).await.is_err() {
            // Only at shutdown: the peer executor is gone, nothing to deliver to.
            glommio::yield_if_needed().await;
        }
    }

    fn handle(self: &Rc<Self>, msg: Msg) {
        match msg {
            Msg::Call(call) => call(self),
            Msg::Commit { from, frames } => self.sequencer().push(from, frames),
            Msg::Replay(ops) => crate::commit::replay::apply(&mut self.shard.borrow_mut(), &ops),
            Msg::Batch(batch) => self.handle_batch(batch),
            Msg::Tx { tx, op } => self.handle_tx(tx, op),
        }
    }

    pub fn new_tx(&self) -> TxId {
        let n = self.next_tx.get() + 1;
        self.next_tx.set(n);
        TxId(((self.id as u64) << 56) | n)
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
                loop {
                    // `hz` can change at any time (CONFIG SET): read it every cycle.
                    let period = std::time::Duration::from_micros(1_000_000 / core.hz());
                    glommio::timer::sleep(period).await;
                    // Expiry and eviction skip a held shard: with transactions holding keys
                    // back to back it would never be free, so new holds wait for the cycle.
                    core.wait_unheld().await;
                    core.cron();
                }
            },
            queue,
        )
        .expect("background task queue")
        .detach();
    }

    /// Adds a slow log entry when a command took at least slowlog-log-slower-than.
    pub fn slowlog_check<'a, I: Iterator<Item = &'a [u8]>>(
        &self,
        took: std::time::Duration,
        args: impl FnOnce() -> I,
        client: Option<&ClientInfo>,
    ) {
        let (threshold_us, max_len) = {
            let settings = self.settings.borrow();
            (
                settings.slowlog_log_slower_than_us,
                settings.slowlog_max_len as usize,
            )
        };
        let micros = took.as_micros() as u64;
        if threshold_us < 0 || micros < threshold_us as u64 {
            return;
        }
        let entry = SlowEntry {
            id: self
                .global
                .next_slowlog_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            unix_s: crate::shard::unix_ms() / 1000,
            micros,
            args: slowlog_args(args()),
            addr: client.map(|c| c.addr.clone()).unwrap_or_default(),
            name: client.map(|c| c.name.borrow().clone()).unwrap_or_default(),
        };
        let mut stats = self.stats.borrow_mut();
        stats.slowlog.push_front(entry);
        stats.slowlog.truncate(max_len);
    }

    /// Records a LATENCY event when it took at least `latency-monitor-threshold` ms
    /// (Redis's latencyAddSampleIfNeeded; a threshold of 0 records nothing).
    pub fn latency_event(&self, event: &'static str, took: std::time::Duration) {
        let threshold_ms = self.settings.borrow().latency_monitor_threshold_ms;
        let ms = took.as_millis() as u64;
        if threshold_ms == 0 || ms < threshold_ms {
            return;
        }
        let sample = latency::Sample {
            unix_s: crate::shard::unix_ms() / 1000,
            ms,
        };
        self.latency.borrow_mut().add(event, sample);
    }

    /// A command ran for `took`: the latency monitor's `command` / `fast-command` event
    /// and, with `latency-tracking`, the command's histogram. Beside the commandstats
    /// counters, from the same stopwatch reading.
    pub fn command_timed(&self, index: u16, fast: bool, took: std::time::Duration) {
        let (threshold_ms, tracking) = {
            let settings = self.settings.borrow();
            (
                settings.latency_monitor_threshold_ms,
                settings.latency_tracking,
            )
        };
        if threshold_ms != 0 {
            self.latency_event(if fast { "fast-command" } else { "command" }, took);
        }
        if tracking {
            self.histograms.borrow_mut().record(index, took);
        }
    }

    /// The `timeout` setting: close connections idle for longer (0 disables it, the
    /// default). Shutting the socket down wakes the connection's pending read.
    fn close_idle_clients(&self) {
        let timeout_s = self.settings.borrow().timeout_s;
        if timeout_s == 0 {
            return;
        }
        let now_s = self.clock_s.get();
        for client in self.clients.borrow().by_id.values() {
            if (now_s.saturating_sub(client.last_s.get()) as u64) > timeout_s
                && !client.killed.get()
            {
                client.kill();
            }
        }
    }

    fn sample_rates(&self) {
        let now_ms = crate::shard::unix_ms();
        let mut stats = self.stats.borrow_mut();
        let ops = stats.total_commands_processed;
        let (input, output) = (stats.total_net_input_bytes, stats.total_net_output_bytes);
        stats.ops.sample(ops, now_ms);
        stats.input.sample(input, now_ms);
        stats.output.sample(output, now_ms);
    }

    /// Cron cycles per second (`hz`, which CONFIG keeps within 1..500).
    fn hz(&self) -> u64 {
        self.settings.borrow().hz.clamp(1, 500)
    }

    fn cron(&self) {
        self.clock_s
            .set(self.global.started.elapsed().as_secs() as u32);
        self.sample_rates();
        self.close_idle_clients();
        crate::process::publish_net(self.id);
        if self.id == 0 {
            crate::process::sample_peak();
            crate::process::refresh_used_memory(self.id);
        }
        // Redis's eviction timer: keep freeing while over maxmemory, even with no writes.
        eviction::perform(self);
        let mut shard = self.shard.borrow_mut();
        shard.tick_clock();
        // Expiring keys while a multi-core operation holds the shard would interleave
        // writes with it; the next cycle catches up. Nor while the log is replayed: the
        // deletes would be logged before LSNs are known (Redis does not expire while
        // loading either), and replay itself is exact without them.
        if self.is_held()
            || !self.active_expire.get()
            || self.global.commit.is_loading()
            || pause::writes_paused()
        {
            return;
        }
        let started = Instant::now();
        shard.journal.clean(self.global.commit.watermark());
        // The deletes of the cycle are logged as one record (DESIGN.md: active expiry
        // logs what it deletes), so replicas and replay drop the same keys.
        shard.journal.begin();
        shard.journal.start_recording();
        let now_ms = shard.now_ms();
        let budget = crate::limits::ACTIVE_EXPIRE_ENTRIES_PER_SECOND / self.hz() as usize;
        crate::shard::expire::active_cycle(&mut shard, now_ms, budget);
        tracking::deliver_from(self, &mut shard);
        let ops = shard.journal.stop_recording();
        shard.journal.mark_held(None);
        if !ops.is_empty() {
            shard.journal.log_ops(|n| self.global.take_lsns(n), &ops);
            self.wake_shipper();
        }
        // After the record: the `expired` events wait for it (notify.rs).
        self.notifier.take_from(&self.global, &mut shard);
        shard.stats.expire_cycle_cpu_ms += started.elapsed().as_millis() as u64;
        drop(shard);
        self.latency_event("expire-cycle", started.elapsed());
    }
}

/// Redis keeps at most 32 arguments of a slow command, each cut at 128 bytes.
fn slowlog_args<'a>(args: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    use crate::limits::{SLOWLOG_ARGS_MAX, SLOWLOG_ARG_BYTES_MAX};
    let all: Vec<&[u8]> = args.collect();
    let mut kept = Vec::with_capacity(all.len().min(SLOWLOG_ARGS_MAX));
    for (i, arg) in all.iter().enumerate() {
        if i == SLOWLOG_ARGS_MAX - 1 && all.len() > SLOWLOG_ARGS_MAX {
            kept.push(format!("... ({} more arguments)", all.len() - i).into_bytes());
            break;
        }
        if arg.len() > SLOWLOG_ARG_BYTES_MAX {
            let mut cut = arg[..SLOWLOG_ARG_BYTES_MAX].to_vec();
            cut.extend_from_slice(
                format!("... ({} more bytes)", arg.len() - SLOWLOG_ARG_BYTES_MAX).as_bytes(),
            );
            kept.push(cut);
        } else {
            kept.push(arg.to_vec());
        }
    }
    kept
}
