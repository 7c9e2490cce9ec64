//! `holdfast-server`: a Redis endpoint that keeps data in memory, one shard per core, and
//! acknowledges a write only once its effect record is durable in the log.
//!
//! Modules in the order a request passes through them:
//!
//! ```text
//! net/       accept on every core (SO_REUSEPORT), read, write replies
//!  -> resp/     parse requests in place (RESP2/RESP3, inline), encode replies
//!  -> command/  one command table; dispatch: lookup, arity, route by key
//!  -> core/     per-core runtime: local execution, cross-core batches (one message per
//!               destination core per tick), multi-core operations holding their cores;
//!               keyspace events and MONITOR lines fanned out to every core's clients
//!  -> shard/    the keyspace of one core: slots, databases, values, expiry; the journal
//!               (effect records, dirty keys) of what a command did
//!  -> commit/   records shipped to the log core, merged in LSN order into the log;
//!               replies held in the reply ring until the durable watermark passes them
//!  -> back out through net/
//! ```
//!
//! At start, `commit/replay.rs` rebuilds the shards from the log before data is served.
//!
//! `config/` holds the command line and CONFIG parameters; `limits.rs` every fixed bound.

pub mod command;
pub mod commit;
pub mod config;
pub mod core;
pub mod limits;
pub mod net;
pub mod process;
pub mod resp;
pub mod script;
pub mod server;
pub mod shard;
