//! The log core's side of the commit stage: every core's records, merged into LSN order
//! and handed to the log; durability notifications back to the cores.
//!
//! ```text
//! frames from core 0 ─┐
//! frames from core 1 ─┼─> merge by LSN ──> Log::append (group commit) ──> Durable
//! frames from core n ─┘   (each core's frames arrive in LSN order;         │
//!                          the next LSN is always at the head of one)      v
//!                    cores waiting for <= watermark  <── notify ── broadcaster
//! ```
//!
//! LSNs are taken at execution on every core, so they reach the log core out of order
//! across cores; the merge waits for the next LSN in sequence, which its core ships in
//! the same tick it executed it.

use super::{Shared, ENGINE_VERSION, LOCAL_EPOCH};
use crate::core::mesh::Msg;
use crate::core::signal::Signal;
use crate::core::Core;
use crate::shard::journal::frames;
use holdfast_log::storage::dma::DmaStorage;
use holdfast_log::{Durable, Log};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Poll, Waker};
use std::time::Instant;

pub type LocalLog = Log<DmaStorage>;

/// Frames shipped by one core, partly consumed.
struct Chunk {
    bytes: Vec<u8>,
    at: usize,
    /// When the chunk reached the log core: the `log-commit` latency event runs from here
    /// to durability (the group commit's wait, the write and the fdatasync).
    arrived: Instant,
}

impl Chunk {
    fn head_lsn(&self) -> Option<u64> {
        frames(&self.bytes[self.at..]).next().map(|frame| frame.lsn)
    }
}

pub struct Sequencer {
    log: LocalLog,
    /// Per source core, its chunks in arrival order.
    queues: RefCell<Vec<VecDeque<Chunk>>>,
    input: Signal,
    /// Records appended and not yet known durable, oldest first, with when their chunk
    /// arrived.
    in_flight: RefCell<VecDeque<(Durable<DmaStorage>, Instant)>>,
    broadcaster: RefCell<Option<Waker>>,
    /// Set by DEBUG FAIL-LOG.
    failing: Cell<bool>,
}

impl Sequencer {
    pub fn new(log: LocalLog, cores: usize) -> Rc<Sequencer> {
        Rc::new(Sequencer {
            log,
            queues: RefCell::new((0..cores).map(|_| VecDeque::new()).collect()),
            input: Signal::default(),
            in_flight: RefCell::new(VecDeque::new()),
            broadcaster: RefCell::new(None),
            failing: Cell::new(false),
        })
    }

    pub fn log(&self) -> &LocalLog {
        &self.log
    }

    /// Frames from core `from`, in its LSN order.
    pub fn push(&self, from: usize, frames: Vec<u8>) {
        self.queues.borrow_mut()[from].push_back(Chunk {
            bytes: frames,
            at: 0,
            arrived: Instant::now(),
        });
        self.kick();
    }

    /// Look at the queues again (new input, or DEBUG HOLD-COMMITS released).
    pub fn kick(&self) {
        self.input.raise();
    }

    /// Takes the chunk whose next frame carries `lsn`, if it has arrived.
    fn take_chunk_with(&self, lsn: u64) -> Option<(usize, Chunk)> {
        let mut queues = self.queues.borrow_mut();
        let from = queues
            .iter()
            .position(|q| q.front().and_then(Chunk::head_lsn) == Some(lsn))?;
        Some((from, queues[from].pop_front().expect("front exists")))
    }

    /// Appends records in LSN order for as long as the next one is here.
    async fn drain(&self, shared: &Shared) -> holdfast_log::Result<()> {
        loop {
            if shared.hold.load(Ordering::Acquire) {
                return Ok(());
            }
            let expected = self.log.next_lsn().0;
            let Some((from, mut chunk)) = self.take_chunk_with(expected) else {
                return Ok(());
            };
            // Every frame of the chunk that continues the sequence goes now.
            while let Some(frame) = frames(&chunk.bytes[chunk.at..]).next() {
                if frame.lsn != self.log.next_lsn().0 || shared.hold.load(Ordering::Acquire) {
                    break;
                }
                let frame_bytes = frame.encoded_len();
                let durable = self
                    .log
                    .append(LOCAL_EPOCH, ENGINE_VERSION, frame.kind, frame.payload)
                    .await?;
                assert_eq!(
                    durable.lsn().0,
                    frame.lsn,
                    "the log assigns LSNs in sequence"
                );
                chunk.at += frame_bytes;
                self.in_flight
                    .borrow_mut()
                    .push_back((durable, chunk.arrived));
                if let Some(waker) = self.broadcaster.borrow_mut().take() {
                    waker.wake();
                }
            }
            if chunk.at < chunk.bytes.len() {
                self.queues.borrow_mut()[from].push_front(chunk);
            }
        }
    }

    /// DEBUG FAIL-LOG: the log stops as after a failed fdatasync (the next append fails).
    pub fn fail_on_purpose(&self) {
        self.failing.set(true);
        self.kick();
    }

    async fn oldest_in_flight(&self) -> (Durable<DmaStorage>, Instant) {
        poll_fn(|cx| match self.in_flight.borrow_mut().pop_front() {
            Some(durable) => Poll::Ready(durable),
            None => {
                *self.broadcaster.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

/// Starts the log core's commit tasks: the log's flusher, the merge, and the broadcaster.
pub fn spawn(core: &Rc<Core>, sequencer: Rc<Sequencer>) {
    let flusher = sequencer.clone();
    glommio::spawn_local(async move {
        if let Err(err) = flusher.log.flusher().await {
            eprintln!("holdfast: the log's flusher stopped: {err}");
        }
    })
    .detach();
    let (merge_core, merge) = (core.clone(), sequencer.clone());
    glommio::spawn_local(async move {
        let shared = &merge_core.global.commit;
        loop {
            merge.input.wait().await;
            if merge.failing.get() {
                fail(&merge_core, "fdatasync failed (DEBUG FAIL-LOG)".into()).await;
                return;
            }
            if let Err(err) = merge.drain(shared).await {
                fail(&merge_core, err.to_string()).await;
                return;
            }
        }
    })
    .detach();
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            let (durable, arrived) = sequencer.oldest_in_flight().await;
            match durable.await {
                Ok(_) => {
                    // LATENCY: writes waited this long for durability (the oldest of
                    // what just became durable waited longest).
                    core.latency_event("log-commit", arrived.elapsed());
                    let watermark = sequencer.log.watermark().get().0;
                    sequencer
                        .in_flight
                        .borrow_mut()
                        .retain(|(d, _)| d.lsn().0 > watermark);
                    let shared = &core.global.commit;
                    let newly = watermark - shared.watermark();
                    shared.records_logged.fetch_add(newly, Ordering::Relaxed);
                    let batches = sequencer.log.stats().batches;
                    shared.batches_logged.store(batches, Ordering::Relaxed);
                    shared.publish(watermark);
                    notify(&core, watermark).await;
                }
                Err(err) => {
                    fail(&core, err.to_string()).await;
                    return;
                }
            }
        }
    })
    .detach();
}

/// Tells every core that waits for something at or below `watermark`.
async fn notify(core: &Rc<Core>, watermark: u64) {
    let shared = &core.global.commit;
    for dest in 0..core.cores {
        if dest == core.id {
            core.durable_advanced();
        } else if shared.core_wants(dest, watermark) {
            core.send(dest, Msg::Call(Box::new(|core| core.durable_advanced())))
                .await;
        }
    }
}

/// The log failed: no held reply may ever be sent. Every core fails its waiting replies
/// and refuses commands from now on; the process then exits so that a restart rebuilds
/// the state from the log (what is in memory includes writes that never became durable).
async fn fail(core: &Rc<Core>, reason: String) {
    eprintln!("holdfast: the transaction log failed: {reason}");
    core.global.commit.fail(reason);
    for dest in 0..core.cores {
        if dest == core.id {
            core.durable_advanced();
        } else {
            core.send(dest, Msg::Call(Box::new(|core| core.durable_advanced())))
                .await;
        }
    }
    // Give the connections a moment to send their errors before the process goes.
    glommio::timer::sleep(std::time::Duration::from_millis(200)).await;
    eprintln!("holdfast: exiting; restart to recover from the log");
    std::process::exit(1);
}
