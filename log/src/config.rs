//! Every limit of the log in one place, with compile-time checks of how they relate.

/// The unit of every write and of every "never rewritten" promise. O_DIRECT needs offsets
/// and lengths aligned to the device's logical block; 4096 covers every device we run on
/// (512-byte and 4K-native), and a batch always starts on a fresh block of this size.
pub const BLOCK_SIZE_BYTES: u64 = 4096;

/// The simulated disk tears writes at this granularity: the smallest unit a real device
/// may persist or lose on power failure.
pub const SECTOR_SIZE_BYTES: u64 = 512;

/// Largest payload of one record. Bounded so that one record always fits in a batch.
pub const RECORD_PAYLOAD_BYTES_MAX: u32 = 256 * 1024;

/// Default upper bound on the bytes of one batch (one write + one fdatasync). A batch is
/// sealed when the previous sync completes, or earlier when it reaches this size.
pub const BATCH_SIZE_BYTES_MAX: u64 = 1024 * 1024;

/// Default size of a segment file. Preallocated and written with zeros once, so an
/// fdatasync never has to commit a file-size or extent change.
pub const SEGMENT_SIZE_BYTES: u64 = 64 * 1024 * 1024;

/// Retired segments kept (renamed) for reuse instead of deleted, so rolling to a new
/// segment is a rename rather than writing a whole file of zeros.
pub const SPARE_SEGMENTS_MAX: usize = 2;

/// Chunk size used when writing the zeros of a new segment, and when reading segments.
/// Measured on the virtio disk (`holdfast-log inspect`, 850 MB): 1 MiB x 8 in flight was
/// as fast as any of 128 KiB x 32 .. 4 MiB x 2, and 8 MiB in flight stays inside glommio's
/// 10 MiB of registered I/O memory (beyond it, reads fall back to unregistered buffers).
pub const IO_CHUNK_BYTES: u64 = 1024 * 1024;

/// Chunk reads kept in flight when a segment is read (recovery, readers): O_DIRECT has no
/// kernel read-ahead, so the log keeps the device busy itself.
pub const READS_IN_FLIGHT: usize = 8;

const _: () = assert!(BLOCK_SIZE_BYTES % SECTOR_SIZE_BYTES == 0);
const _: () = assert!(BATCH_SIZE_BYTES_MAX % BLOCK_SIZE_BYTES == 0);
const _: () = assert!(
    crate::record::HEADER_BYTES as u64 + RECORD_PAYLOAD_BYTES_MAX as u64 <= BATCH_SIZE_BYTES_MAX
);
const _: () = assert!(SEGMENT_SIZE_BYTES % IO_CHUNK_BYTES == 0);
const _: () = assert!(IO_CHUNK_BYTES % BLOCK_SIZE_BYTES == 0);
const _: () = assert!(IO_CHUNK_BYTES * READS_IN_FLIGHT as u64 <= 8 * 1024 * 1024);
const _: () = assert!(BATCH_SIZE_BYTES_MAX <= SEGMENT_SIZE_BYTES);

/// The sizes one log runs with. Tests use small segments and batches to exercise rolling
/// and size-sealing; production uses the defaults.
#[derive(Clone, Copy, Debug)]
pub struct LogConfig {
    pub segment_size_bytes: u64,
    pub batch_size_bytes_max: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_size_bytes: SEGMENT_SIZE_BYTES,
            batch_size_bytes_max: BATCH_SIZE_BYTES_MAX,
        }
    }
}

impl LogConfig {
    /// Panics when the sizes break the invariants the format relies on.
    pub fn validate(&self) {
        assert!(
            self.batch_size_bytes_max % BLOCK_SIZE_BYTES == 0,
            "batch size must be block aligned"
        );
        assert!(
            self.segment_size_bytes % BLOCK_SIZE_BYTES == 0,
            "segment size must be block aligned"
        );
        assert!(
            self.batch_size_bytes_max
                >= crate::record::HEADER_BYTES as u64 + RECORD_PAYLOAD_BYTES_MAX as u64,
            "a batch must hold the largest record"
        );
        assert!(
            self.segment_size_bytes >= self.batch_size_bytes_max,
            "a segment must hold a full batch"
        );
    }
}

/// Rounds `v` up to the next block boundary.
pub fn align_up(v: u64) -> u64 {
    v.div_ceil(BLOCK_SIZE_BYTES) * BLOCK_SIZE_BYTES
}
