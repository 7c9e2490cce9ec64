//! Messages between cores. Every core has a bounded SPSC channel to every other core
//! (glommio's channel mesh), so messages from one core to another arrive in send order.
//!
//! ```text
//! Batch  single-shard commands of many connections for the receiving core, one message
//!        per destination per tick ("enhanced IO multiplexing"); replies return in one
//!        BatchReply through a oneshot
//! Tx     one step of a multi-core operation: run a closure on the shard while the
//!        operation holds it (see multi.rs)
//! Call   core-level work that does not touch the keyspace (stats, clients, config)
//! Commit effect records for the log core, one message per tick
//! Replay ops of the log for the core owning their keys, at start
//! ```

use super::Core;
use crate::resp::Proto;
use crate::shard::Shard;
use futures::channel::oneshot;

pub enum Msg {
    Batch(BatchMsg),
    Tx {
        tx: TxId,
        op: TxOp,
    },
    Call(Box<dyn FnOnce(&Core) + Send>),
    /// Effect records a core executed, for the log core's sequencer (commit/ship.rs).
    Commit {
        from: usize,
        frames: Vec<u8>,
    },
    /// Ops to apply while the log is replayed at start (commit/replay.rs).
    Replay(Vec<u8>),
}

/// Identifies one multi-core operation: the coordinating core in the top byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxId(pub u64);

pub type ShardJob = Box<dyn FnOnce(&mut Shard) + Send>;

pub struct TxOp {
    /// Work to run while holding the shard (None: only take the hold).
    pub job: Option<ShardJob>,
    /// Keep holding the shard after the job (more steps follow); false releases it.
    pub keep: bool,
    /// On release: the operation's LSN, which the keys it wrote here now depend on.
    pub lsn: Option<u64>,
    /// When this op takes the hold: the only keys the operation touches here (None: the
    /// whole shard), see `Hold` in core/mod.rs.
    pub keys: Option<Vec<Vec<u8>>>,
}

/// Commands for one core, collected from many connections of another core.
#[derive(Default)]
pub struct Batch {
    /// Every argument's bytes, back to back.
    pub data: Vec<u8>,
    /// (start, end) of each argument in `data`.
    pub ranges: Vec<(u32, u32)>,
    pub reqs: Vec<BatchReq>,
}

pub struct BatchReq {
    pub db: u8,
    pub proto: Proto,
    /// Index in the command table.
    pub cmd: u16,
    /// The client is in CLIENT NO-TOUCH mode (its reads leave access bits alone).
    pub no_touch: bool,
    /// This request's arguments: `ranges[args.0..args.1]`.
    pub args: (u32, u32),
    /// The client sending it, for CLIENT TRACKING.
    pub caller: crate::shard::tracking::Caller,
}

/// The replies to a batch: each request's encoded reply ends at `ends[i]` in `out`, and
/// may leave once the LSN `deps[i]` is durable.
pub struct BatchReply {
    pub out: Vec<u8>,
    pub ends: Vec<u32>,
    pub deps: Vec<u64>,
}

pub struct BatchMsg {
    /// The sending core: its batches run in the order it sent them.
    pub from: usize,
    pub batch: Batch,
    pub reply: oneshot::Sender<BatchReply>,
}

impl Batch {
    pub fn push(
        &mut self,
        db: u8,
        proto: Proto,
        cmd: u16,
        no_touch: bool,
        args: impl Iterator<Item = impl AsRef<[u8]>>,
        caller: crate::shard::tracking::Caller,
    ) {
        let first = self.ranges.len() as u32;
        for arg in args {
            let arg = arg.as_ref();
            let start = self.data.len() as u32;
            self.data.extend_from_slice(arg);
            self.ranges.push((start, self.data.len() as u32));
        }
        self.reqs.push(BatchReq {
            db,
            proto,
            cmd,
            no_touch,
            args: (first, self.ranges.len() as u32),
            caller,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}
