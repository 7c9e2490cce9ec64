//! `holdfast-server`: a Redis endpoint that keeps data in memory, one shard per core.
//!
//! Modules in the order a request passes through them:
//!
//! ```text
//! net/       accept on every core (SO_REUSEPORT), read, write replies
//!  -> resp/     parse requests in place (RESP2/RESP3, inline), encode replies
//!  -> command/  one command table; dispatch: lookup, arity, route by key
//!  -> core/     per-core runtime: local execution, cross-core batches (one message per
//!               destination core per tick), multi-core operations holding their cores
//!  -> shard/    the keyspace of one core: slots, databases, values, expiry
//!  -> back out through net/
//! ```
//!
//! `config/` holds the command line and CONFIG parameters; `limits.rs` every fixed bound.

pub mod command;
pub mod config;
pub mod core;
pub mod limits;
pub mod net;
pub mod process;
pub mod resp;
pub mod server;
pub mod shard;
