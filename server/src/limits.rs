//! Every fixed bound of the server in one place, with compile-time checks of how they
//! relate. Run-time settings that Redis exposes through CONFIG live in `config/`.

/// Redis Cluster's number of hash slots; keys map to slots with CRC16 and `{hashtag}`.
pub const SLOTS: usize = 16384;

/// Logical databases (SELECT 0..15), as Redis's default `databases 16`.
pub const DATABASES: usize = 16;

/// Redis 7 rejects a multibulk header above INT_MAX arguments (the query buffer limit
/// bounds what such a request can actually cost).
pub const MULTIBULK_ARGS_MAX: usize = i32::MAX as usize;

/// An inline request (or a `*`/`$` count line) must fit in 64 KiB, as in Redis.
pub const INLINE_REQUEST_BYTES_MAX: usize = 64 * 1024;

/// Bytes read from a socket at once; larger buffers measured no faster (PERF-NOTES.md).
pub const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Read and reply buffers that grew past these for one large request or reply go back to
/// their usual size once drained, so idle connections hold little memory.
pub const READ_BUFFER_KEEP_BYTES: usize = 256 * 1024;
pub const REPLY_BUFFER_KEEP_BYTES: usize = 1024 * 1024;

/// A connection flushes its replies to the socket once they exceed this, even in the
/// middle of a long pipeline, so output memory per connection stays bounded.
pub const REPLY_FLUSH_BYTES: usize = 64 * 1024;

/// Cross-core messages in flight from one core to another before senders wait.
pub const MESH_CHANNEL_MESSAGES: usize = 1024;

/// Each database's table is split into this many independently resized segments, so no
/// single insert rehashes the whole keyspace (a 1M-key rehash stalls a core for ~40 ms).
pub const DB_SEGMENTS: usize = 256;

/// Active expiry: how many entries each core may examine per second, spread over the
/// `hz` cycles of that second, so a higher `hz` makes expiry more incremental (as
/// Redis's per-cycle time budget shrinks with it) without examining more.
pub const ACTIVE_EXPIRE_ENTRIES_PER_SECOND: usize = 200_000;

/// SCAN's default COUNT.
pub const SCAN_COUNT_DEFAULT: usize = 10;

/// Slow log entries kept per core (slowlog-max-len defaults to 128).
pub const SLOWLOG_ARGS_MAX: usize = 32;
pub const SLOWLOG_ARG_BYTES_MAX: usize = 128;

const _: () = assert!(DB_SEGMENTS.is_power_of_two());
const _: () = assert!(DATABASES <= u8::MAX as usize);
const _: () = assert!(READ_CHUNK_BYTES <= INLINE_REQUEST_BYTES_MAX);
const _: () = assert!(READ_CHUNK_BYTES < READ_BUFFER_KEEP_BYTES);
const _: () = assert!(REPLY_FLUSH_BYTES < REPLY_BUFFER_KEEP_BYTES);
const _: () = assert!(SLOTS.is_power_of_two());

/// MONITOR output waiting for a monitor that does not read, when the `normal` class of
/// `client-output-buffer-limit` (its class in Redis) is unlimited: past it the monitor is
/// disconnected rather than let grow without bound (core/monitor.rs).
pub const MONITOR_PENDING_BYTES_MAX: u64 = 256 << 20;
