//! `holdfast-snapshot`: snapshots made off-box.
//!
//! What it will own (the snapshot issue): the versioned, checksummed snapshot format; the
//! snapshotter process that loads the newest snapshot, replays the log up to the tail it
//! saw at start, writes and verifies a new snapshot (rehearsal restore reproducing the
//! log's running checksum and the keyspace digest), publishes it to the snapshot store and
//! trims the log; restore, import and export.
//!
//! ```text
//! snapshot store (newest) + log after it -> replay -> new snapshot -> verify -> publish -> trim
//! ```
//!
//! Nothing lives here yet: the format depends on the log's record types (`holdfast-log`).
