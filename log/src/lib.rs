//! `holdfast-log`: the transaction log, the source of truth of every Holdfast deployment.
//!
//! It knows nothing of Redis. What it will own (the "transaction log" issue), in data-path
//! order:
//!
//! ```text
//! appenders (every server core)
//!   -> group commit (one write + one fdatasync per batch, the next batch fills meanwhile)
//!   -> segments (fixed-size, O_DIRECT, preallocated, named by first LSN)
//!   -> durable watermark (read cheaply by every core)
//!   -> quorum replication among log peers (raft-rs), subscribe/trim for replicas and
//!      the snapshotter
//! ```
//!
//! Today it holds the shared identifiers that the server and the snapshotter must agree on.

/// Log sequence number: the position of a record in the log, and the serial order of
/// execution of the writes it carries (the Raft index once replication lands).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// Primary epoch: incremented by every successful election.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_order_numerically() {
        assert!(Lsn(2) > Lsn(1));
        assert!(Epoch(0) < Epoch(1));
    }
}
