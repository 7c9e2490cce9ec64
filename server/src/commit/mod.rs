//! The commit stage: from a write's effect record to its reply leaving the server.
//!
//! ```text
//! core k: execute -> journal (LSN, record, dirty keys) -> ship.rs: frames, one message
//!         per tick to the log core                               |
//! log core: sequencer.rs merges every core's frames in LSN order -> holdfast-log append
//!           (group commit: one write + one fdatasync per batch) -> watermark published,
//!           cores with waiting replies notified
//! core k: ring.rs releases replies whose LSN is now durable, in request order per
//!         connection -> net sends them
//! start:  replay.rs reads the log into the shards before the sequencer starts
//! ```
//!
//! With `--durability none` the journal is off: no LSNs, no records, replies depend on
//! nothing, and none of these tasks run. `local` writes the log to `--dir`.

pub mod replay;
pub mod ring;
pub mod sequencer;
pub mod ship;

use crate::config::cli::Durability;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Format of the effect payloads this build writes (shard/effect.rs); replay refuses
/// records from a newer engine.
pub const ENGINE_VERSION: u16 = 1;

/// The epoch a single node writes with (elections, and with them new epochs, arrive with
/// quorum replication).
pub const LOCAL_EPOCH: holdfast_log::Epoch = holdfast_log::Epoch(1);

/// The core that owns the log (its executor runs the sequencer and the log's flusher).
pub const LOG_CORE: usize = 0;

/// Commit state every core reads: atomics only, written by the log core.
pub struct Shared {
    pub mode: Durability,
    /// Highest LSN known durable: replies that depend on nothing above it may leave.
    watermark: AtomicU64,
    /// Per core: the lowest LSN a reply there waits for (0: none), so the log core only
    /// notifies cores that wait for what just became durable.
    wants: Vec<AtomicU64>,
    /// The log failed (a write or fdatasync error): nothing more is acknowledged.
    failure: Mutex<Option<String>>,
    failed: AtomicBool,
    /// DEBUG HOLD-COMMITS: the sequencer hands nothing new to the log while set.
    pub hold: AtomicBool,
    pub loading: Loading,
    /// Records made durable since start, and the batches (one write + one fdatasync
    /// each) that carried them (INFO persistence).
    pub records_logged: AtomicU64,
    pub batches_logged: AtomicU64,
}

/// Replay progress, for INFO persistence while the server loads.
#[derive(Default)]
pub struct Loading {
    pub active: AtomicBool,
    pub started_unix_s: AtomicU64,
    pub first_lsn: AtomicU64,
    pub last_lsn: AtomicU64,
    pub loaded_lsn: AtomicU64,
    pub loaded_bytes: AtomicU64,
}

impl Shared {
    pub fn new(mode: Durability, cores: usize) -> Self {
        Shared {
            mode,
            watermark: AtomicU64::new(0),
            wants: (0..cores).map(|_| AtomicU64::new(0)).collect(),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
            hold: AtomicBool::new(false),
            loading: Loading {
                active: AtomicBool::new(mode != Durability::None),
                ..Default::default()
            },
            records_logged: AtomicU64::new(0),
            batches_logged: AtomicU64::new(0),
        }
    }

    /// Whether writes are logged (every mode but `none`).
    pub fn journaled(&self) -> bool {
        self.mode != Durability::None
    }

    pub fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::SeqCst)
    }

    pub(crate) fn publish(&self, lsn: u64) {
        let before = self.watermark.swap(lsn, Ordering::SeqCst);
        assert!(before <= lsn, "the durable watermark never moves back");
    }

    pub fn is_loading(&self) -> bool {
        self.loading.active.load(Ordering::Acquire)
    }

    /// The reason the log failed, once it has.
    pub fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().expect("failure lock").clone()
    }

    pub(crate) fn fail(&self, reason: String) {
        let mut failure = self.failure.lock().expect("failure lock");
        if failure.is_none() {
            *failure = Some(reason);
        }
        self.failed.store(true, Ordering::Release);
    }
}

/// The error text a client gets for a reply the failed log can no longer back, and for
/// every command after it.
pub fn failure_text(reason: &str) -> String {
    format!(
        "IOERR the transaction log failed ({reason}); this node acknowledges nothing more. \
         Restart it: it rebuilds its state from the log"
    )
}

/// The mode name INFO persistence reports.
pub fn mode_name(mode: Durability) -> &'static str {
    match mode {
        Durability::None => "none",
        Durability::Local => "local",
        Durability::Quorum => "quorum",
    }
}
