//! Configuration: the command line, redis.conf-style files, and the run-time settings
//! CONFIG GET/SET reads and changes.
//!
//! ```text
//! cli::Options (flags) --+--> store::ConfigStore (a value for each of params::PARAMS,
//! --config FILE ---------+          |               every Redis 7.0 parameter)
//!                                   |  settings()
//!                                   v
//!                             Settings (typed copy each core reads on the hot path)
//! ```

pub mod cli;
pub mod params;
pub mod store;

pub use cli::Options;
pub use store::ConfigStore;

/// The settings the data path reads, copied into every core and refreshed by CONFIG SET.
/// Only plain numbers: connections copy it on every read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub maxclients: u64,
    pub slowlog_log_slower_than_us: i64,
    pub slowlog_max_len: u64,
    pub timeout_s: u64,
    /// Encoding thresholds: a hash, sorted set or set switches from its compact encoding
    /// to the general one past these (Redis's listpack and intset limits; the value limits
    /// are in bytes).
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    /// Positive: entries per list node; -1 to -5: node size 4, 8, 16, 32 or 64 KiB.
    pub list_max_listpack_size: i64,
    /// List nodes left uncompressed at each end (0: none compressed).
    pub list_compress_depth: u64,
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: u64,
    pub hll_sparse_max_bytes: u64,
    /// `client-output-buffer-limit`'s pubsub class: a subscriber past it is cut off.
    pub pubsub_output_limit: params::OutputLimit,
    /// `maxmemory` (0: no limit) and how keys are evicted past it (shard/evict.rs).
    pub maxmemory_bytes: u64,
    /// `maxmemory-policy` as the configuration table numbers it (7: noeviction).
    pub maxmemory_policy: u32,
    pub maxmemory_samples: u64,
    pub maxmemory_eviction_tenacity: u64,
    pub lfu_log_factor: u64,
    pub lfu_decay_time: u64,
    /// LATENCY's events are recorded when they take at least this long (0: never).
    pub latency_monitor_threshold_ms: u64,
    /// `latency-tracking`: per-command latency histograms are kept.
    pub latency_tracking: bool,
    /// `client-output-buffer-limit`'s normal class: MONITOR clients are of it.
    pub normal_output_limit: params::OutputLimit,
    /// `notify-keyspace-events` as flags (shard/notify.rs `class`); 0: off.
    pub notify_keyspace_events: u32,
    /// CLIENT TRACKING: keys the tracking table may hold before it evicts (0: no limit).
    pub tracking_table_max_keys: u64,
    /// `hz`: background cycles (active expiry, the eviction timer, idle clients) per
    /// second, 1..500.
    pub hz: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            maxclients: 10000,
            slowlog_log_slower_than_us: 10000,
            slowlog_max_len: 128,
            timeout_s: 0,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            hll_sparse_max_bytes: 3000,
            pubsub_output_limit: params::OutputLimit {
                hard_bytes: 32 << 20,
                soft_bytes: 8 << 20,
                soft_seconds: 60,
            },
            maxmemory_bytes: 0,
            maxmemory_policy: 7,
            maxmemory_samples: 5,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            latency_monitor_threshold_ms: 0,
            latency_tracking: true,
            notify_keyspace_events: 0,
            normal_output_limit: params::OutputLimit {
                hard_bytes: 0,
                soft_bytes: 0,
                soft_seconds: 0,
            },
            tracking_table_max_keys: 1_000_000,
            hz: 10,
        }
    }
}
