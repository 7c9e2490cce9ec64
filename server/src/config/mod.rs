//! Configuration: the command line, redis.conf-style files, and the run-time settings
//! CONFIG GET/SET reads and changes.
//!
//! ```text
//! cli::Options (flags) --+--> store::ConfigStore (every Redis 7 parameter, by name)
//! --config FILE ---------+          |  settings()
//!                                   v
//!                             Settings (typed copy each core reads on the hot path)
//! ```

pub mod cli;
pub mod store;

pub use cli::Options;
pub use store::ConfigStore;

/// The settings the data path reads, copied into every core and refreshed by CONFIG SET.
#[derive(Clone, Debug)]
pub struct Settings {
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub maxclients: u64,
    pub slowlog_log_slower_than_us: i64,
    pub slowlog_max_len: u64,
    pub timeout_s: u64,
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
        }
    }
}
