//! Commands: one table of every command (name, arity, flags, key positions, handler), and
//! one file per command family, each ending with its block of table rows.
//!
//! Routing and "log before reply" (the `write` flag, see core/exec.rs) come from the table, never from inside a
//! handler. Handlers come in three shapes:
//!
//! ```text
//! Handler::Shard  keys on one core: runs on the shard owning them (where it was parsed,
//!                 or shipped there in the cross-core batch); synchronous, never blocks
//! Handler::Multi  keys that may span cores: coordinates the multi-core execution path
//!                 (shard::multi), holding every core it touches while it runs
//! Handler::Conn   connection and server commands, on the connection's own core
//! ```

pub mod args;
pub mod bitmap;
pub mod blocking;
pub mod config;
pub mod connection;
pub mod digest;
pub mod dispatch;
pub mod durability;
pub mod geo;
pub mod geohash;
pub mod glob;
pub mod hash;
pub mod hll;
pub mod info;
pub mod keys;
pub mod latency;
mod latency_doctor;
pub mod list;
pub mod long_double;
pub mod memory;
pub mod monitor;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod session;
pub mod set;
pub mod sort;
pub mod status;
pub mod stream;
pub mod stream_group;
pub mod stream_info;
pub mod stream_read;
pub mod string;
pub mod tracking;
pub mod transaction;
pub mod zset;
pub mod zset_blocking;
pub mod zset_multi;
pub mod zset_range;

pub use args::Args;
pub use status::Status;

use crate::resp::Reply;
use crate::shard::Ctx;
use ahash::AHashMap as HashMap;
use futures::future::LocalBoxFuture;
use session::Session;
use std::sync::OnceLock;

/// Runs on the shard that owns the command's keys.
pub type ShardFn = fn(&mut Ctx<'_>, &mut Args<'_>, &mut Reply<'_>) -> Result<(), Status>;

/// Runs on the connection's core and may await other cores. Arguments are owned because
/// the work may outlive the read buffer's borrow while it waits.
pub type AsyncFn =
    for<'a> fn(&'a mut Session, Vec<Vec<u8>>) -> LocalBoxFuture<'a, Result<(), Status>>;

#[derive(Clone, Copy)]
pub enum Handler {
    Shard(ShardFn),
    Multi(AsyncFn),
    Conn(AsyncFn),
}

/// Command flags, as COMMAND INFO reports them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const ALLOW_BUSY: u32 = 1 << 11;
    pub const NO_MULTI: u32 = 1 << 12;
    /// Keys found from the arguments rather than fixed positions (SORT's STORE, numkeys).
    pub const MOVABLEKEYS: u32 = 1 << 13;
    /// Redis's CMD_MAY_REPLICATE: not a write, yet propagated (PUBLISH, PFCOUNT's
    /// rewrite of the key): read-only scripts refuse it and CLIENT PAUSE WRITE holds it.
    /// Redis 7.0's COMMAND INFO does not show it, so it is not in NAMES.
    pub const MAY_REPLICATE: u32 = 1 << 14;

    pub const NAMES: [(u32, &str); 14] = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (ALLOW_BUSY, "allow_busy"),
        (NO_MULTI, "no_multi"),
        (MOVABLEKEYS, "movablekeys"),
    ];
}

/// Where a command's keys are: Redis's (first, last, step) triple; last < 0 counts from
/// the end. `first == 0` means no keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub first: i16,
    pub last: i16,
    pub step: i16,
}

pub const NO_KEYS: KeySpec = KeySpec {
    first: 0,
    last: 0,
    step: 0,
};
pub const ONE_KEY: KeySpec = KeySpec {
    first: 1,
    last: 1,
    step: 1,
};
pub const ALL_KEYS: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 1,
};

impl KeySpec {
    /// Indices of the key arguments in a request of `argc` arguments.
    pub fn positions(&self, argc: usize) -> impl Iterator<Item = usize> {
        let first = self.first.max(0) as usize;
        let last = if self.last < 0 {
            argc as i64 + self.last as i64
        } else {
            self.last as i64
        };
        let last = if first == 0 {
            -1
        } else {
            last.min(argc as i64 - 1)
        };
        let step = self.step.max(1) as usize;
        (first..=last.max(0) as usize)
            .step_by(step)
            .filter(move |_| first > 0 && last >= first as i64)
    }
}

#[derive(Clone, Copy)]
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: N exact arguments (with the name), -N at least N.
    pub arity: i16,
    pub flags: u32,
    pub keys: KeySpec,
    pub handler: Handler,
    /// COMMAND DOCS: group, one-line summary, and the Redis version that introduced it.
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    /// Subcommands (CLIENT ID, CONFIG GET, ...): name and arity, for COMMAND INFO/DOCS.
    pub subcommands: &'static [(&'static str, i16, u32)],
}

impl Spec {
    /// A table row without subcommands: every family's rows are built with this.
    #[allow(clippy::too_many_arguments)]
    pub const fn row(
        name: &'static str,
        arity: i16,
        flags: u32,
        keys: KeySpec,
        handler: Handler,
        group: &'static str,
        summary: &'static str,
        since: &'static str,
    ) -> Spec {
        Spec {
            name,
            arity,
            flags,
            keys,
            handler,
            group,
            summary,
            since,
            subcommands: &[],
        }
    }

    pub fn arity_ok(&self, argc: usize) -> bool {
        arity_allows(self.arity, argc)
    }

    /// The flags a call runs under: the row's plus those of the subcommand named by its
    /// second argument `sub`, if any (XGROUP CREATE writes, XGROUP HELP does not; the
    /// container row itself carries neither, as in Redis).
    pub fn flags_for(&self, sub: Option<&[u8]>) -> u32 {
        let sub_flags = sub
            .and_then(|sub| {
                self.subcommands
                    .iter()
                    .find(|(name, _, _)| sub.eq_ignore_ascii_case(name.as_bytes()))
            })
            .map_or(0, |&(_, _, flags)| flags);
        self.flags | sub_flags
    }
}

/// Redis's arity rule: n > 0 is exactly n arguments (the name included), n < 0 at least -n.
pub fn arity_allows(arity: i16, argc: usize) -> bool {
    let arity = arity as i64;
    (arity >= 0 && argc as i64 == arity) || (arity < 0 && argc as i64 >= -arity)
}

/// Every command, in one table built from each family's rows.
pub struct Table {
    pub specs: Vec<&'static Spec>,
    /// ahash: the lookup runs for every request, and SipHash showed in its profile.
    by_name: HashMap<&'static str, u16>,
}

impl Table {
    fn build() -> Table {
        let mut specs: Vec<&'static Spec> = Vec::new();
        for family in [
            connection::COMMANDS,
            server::COMMANDS,
            config::COMMANDS,
            string::COMMANDS,
            hash::COMMANDS,
            list::COMMANDS,
            blocking::COMMANDS,
            set::COMMANDS,
            bitmap::COMMANDS,
            keys::COMMANDS,
            transaction::COMMANDS,
            scripting::COMMANDS,
            pubsub::COMMANDS,
            durability::COMMANDS,
            zset::COMMANDS,
            hll::COMMANDS,
            geo::COMMANDS,
            stream::COMMANDS,
            memory::COMMANDS,
            latency::COMMANDS,
            monitor::COMMANDS,
            zset_blocking::COMMANDS,
            sort::COMMANDS,
        ] {
            specs.extend(family.iter());
        }
        let mut by_name = HashMap::new();
        for (index, spec) in specs.iter().enumerate() {
            debug_assert_eq!(spec.name, spec.name.to_ascii_lowercase());
            let previous = by_name.insert(spec.name, index as u16);
            assert!(previous.is_none(), "command {} defined twice", spec.name);
        }
        Table { specs, by_name }
    }

    /// Looks a command up by its name in any case, without allocating.
    pub fn lookup(&self, name: &[u8]) -> Option<(u16, &'static Spec)> {
        let mut lower = [0u8; 32];
        if name.len() > lower.len() {
            return None;
        }
        for (dst, src) in lower.iter_mut().zip(name) {
            *dst = src.to_ascii_lowercase();
        }
        let lower = std::str::from_utf8(&lower[..name.len()]).ok()?;
        let &index = self.by_name.get(lower)?;
        Some((index, self.specs[index as usize]))
    }

    pub fn get(&self, index: u16) -> &'static Spec {
        self.specs[index as usize]
    }
}

pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

/// COMMAND GETKEYS for a command whose keys are not at fixed positions (movablekeys):
/// their positions in `args` (the name first), None for the other commands, Err when the
/// arguments do not say (Redis: "Invalid arguments specified for command").
pub fn movable_key_positions(spec: &Spec, args: &[Vec<u8>]) -> Option<Result<Vec<usize>, ()>> {
    let numkeys_at = match spec.name {
        "sort" => return Some(Ok(sort::key_positions(args))),
        "xread" | "xreadgroup" => {
            return Some(stream_read::key_positions(spec.name, args).ok_or(()))
        }
        "georadius" | "georadiusbymember" => return Some(Ok(geo::key_positions(spec.name, args))),
        "zmpop" | "lmpop" => 1,
        "bzmpop" | "blmpop" => 2,
        _ => return None,
    };
    // Redis's genericGetKeys: numkeys read with atoi, then that many keys must follow.
    let numkeys = std::str::from_utf8(&args[numkeys_at])
        .ok()
        .and_then(|text| text.parse::<usize>().ok())
        .filter(|&n| n >= 1 && n < args.len() - numkeys_at);
    Some(
        numkeys
            .map(|n| (numkeys_at + 1..numkeys_at + 1 + n).collect())
            .ok_or(()),
    )
}

/// Where a command's keys are in `args`: its movable positions when it has them (SORT's
/// STORE, ZMPOP's counted keys...), else the table's fixed ones. Arguments that do not
/// say name no key; the command itself then refuses them.
pub fn key_positions(spec: &Spec, args: &[Vec<u8>]) -> Vec<usize> {
    match movable_key_positions(spec, args) {
        Some(found) => found.unwrap_or_default(),
        None => spec.keys.positions(args.len()).collect(),
    }
}

/// Redis's key-spec search by keyword (getKeysUsingKeySpecs): the position right after
/// the first `keyword` at or after `startfrom`. Redis never examines the last argument
/// there (a keyword with nothing after it names no key).
pub fn after_keyword(args: &[Vec<u8>], keyword: &str, startfrom: usize) -> Option<usize> {
    (startfrom..args.len().saturating_sub(1))
        .find(|&at| args::is(&args[at], keyword))
        .map(|at| at + 1)
}

/// Redis's reply to an unknown command: the name cut at 128 bytes, then arguments while
/// the list is shorter than 128 bytes, each cut to what still fits (so a request with a
/// million arguments still gets a one-line error).
pub fn unknown_command(args: &Args<'_>) -> Vec<u8> {
    let name = args.name();
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(&name[..name.len().min(128)]);
    text.extend_from_slice(b"', with args beginning with: ");
    let mut list = Vec::new();
    for arg in args.all().skip(1) {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(&arg[..arg.len().min(room)]);
        list.extend_from_slice(b"' ");
    }
    text.extend_from_slice(&list);
    text
}

/// Redis's reply to an unknown subcommand of a container command.
pub fn unknown_subcommand(command: &str, sub: &[u8]) -> Status {
    Status::Error(
        format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(&sub[..sub.len().min(128)]),
            command.to_ascii_uppercase()
        )
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions_follow_redis_triples() {
        let mset = KeySpec {
            first: 1,
            last: -1,
            step: 2,
        };
        assert_eq!(mset.positions(5).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(ONE_KEY.positions(3).collect::<Vec<_>>(), vec![1]);
        assert_eq!(ALL_KEYS.positions(4).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(NO_KEYS.positions(4).count(), 0);
        let rename = KeySpec {
            first: 1,
            last: 2,
            step: 1,
        };
        assert_eq!(rename.positions(3).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn table_lookup_is_case_insensitive_and_names_are_unique() {
        let table = table();
        assert_eq!(table.lookup(b"GeT").unwrap().1.name, "get");
        assert!(table.lookup(b"nosuchcommand").is_none());
        assert!(table.lookup(&[b'a'; 100]).is_none());
    }
}
