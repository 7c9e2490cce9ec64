//! MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE / HELP.
//!
//! USAGE estimates a key's bytes the way Redis's objectComputeSize does: the entry and
//! key, plus the value; a large aggregate is priced from `SAMPLES` of its elements (5 by
//! default, 0: all) times its length. Heap buffers are priced at the size class jemalloc
//! really gives them (`nallocx`). STATS reports Redis's fields from the allocator's
//! figures (process.rs) and every core's keyspace.

use super::args::parse_i64;
use super::connection::reply_help;
use super::session::Session;
use super::{flags::*, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::core::multi::MultiCore;
use crate::limits::DATABASES;
use crate::shard::set::Member;
use crate::shard::slot::key_core;
use crate::shard::value::{Entry, Value};
use crate::shard::Ctx;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

/// Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES.
const DEFAULT_SAMPLES: usize = 5;

fn memory(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = argv[1].to_ascii_lowercase();
        let arity_error =
            || Status::WrongArity(format!("memory|{}", String::from_utf8_lossy(&sub)));
        match sub.as_slice() {
            b"usage" if argv.len() >= 3 => usage(s, &argv).await,
            b"stats" if argv.len() == 2 => stats(s).await,
            b"doctor" if argv.len() == 2 => {
                let report = doctor(s).await;
                s.reply().verbatim(&report);
                Ok(())
            }
            b"malloc-stats" if argv.len() == 2 => {
                s.reply().verbatim(&crate::process::malloc_stats());
                Ok(())
            }
            b"purge" if argv.len() == 2 => {
                crate::process::purge();
                s.reply().ok();
                Ok(())
            }
            b"help" if argv.len() == 2 => {
                reply_help(s, MEMORY_HELP);
                Ok(())
            }
            b"usage" | b"stats" | b"doctor" | b"malloc-stats" | b"purge" | b"help" => {
                Err(arity_error())
            }
            _ => Err(unknown_subcommand("memory", &argv[1])),
        }
    }
    .boxed_local()
}

/// `[SAMPLES count]` after the key; any other option, or a negative count, is a syntax
/// error as in Redis.
fn parse_samples(options: &[Vec<u8>]) -> Result<usize, Status> {
    let mut samples = DEFAULT_SAMPLES;
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match rest.next() {
            Some(count) if option.eq_ignore_ascii_case(b"samples") => {
                let count = parse_i64(count)?;
                if count < 0 {
                    return Err(Status::Syntax);
                }
                // 0 means every element.
                samples = if count == 0 {
                    usize::MAX
                } else {
                    count as usize
                };
            }
            _ => return Err(Status::Syntax),
        }
    }
    Ok(samples)
}

async fn usage(s: &mut Session, argv: &[Vec<u8>]) -> Result<(), Status> {
    let samples = parse_samples(&argv[3..])?;
    let key = argv[2].clone();
    let db = s.db;
    let core = key_core(&key, s.core.cores);
    MultiCore::check_reach(s, core)?;
    let mut op = MultiCore::new(s, [core]);
    let bytes = op
        .run(core, move |shard| {
            Ctx::new(shard, db)
                .lookup_untouched(&key)
                .map(|entry| entry_usage(entry, samples))
        })
        .await;
    op.finish().await;
    match bytes {
        Some(bytes) => s.reply().int(bytes as i64),
        None => s.reply().null(),
    }
    Ok(())
}

/// The bytes jemalloc really hands out for a request of `len` (its size class).
fn allocation(len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    // SAFETY: nallocx only computes a size class; flags 0 means no special alignment.
    unsafe { tikv_jemalloc_sys::nallocx(len, 0) }
}

/// The entry in its table slot, its key when stored off the entry, and its value.
pub fn entry_usage(entry: &Entry, samples: usize) -> usize {
    let key_heap = match &entry.key {
        crate::shard::key::Key::Heap(bytes) => allocation(bytes.len()),
        crate::shard::key::Key::Inline { .. } => 0,
    };
    std::mem::size_of::<Entry>() + key_heap + value_usage(&entry.value, samples)
}

/// Bytes of a value: exact for strings; for aggregates, the average of up to `samples`
/// elements times the length (Redis's objectComputeSize). Per-element overheads are this
/// build's structures: packed encodings a few bytes of framing, tables their slot and
/// two heap buffers.
fn value_usage(value: &Value, samples: usize) -> usize {
    /// Framing of an element in a packed (listpack-like) encoding.
    const PACKED: usize = 2;
    /// A table slot plus its buffers' headers, for table encodings.
    const TABLE: usize = 48;
    match value {
        Value::Str(bytes) => allocation(bytes.capacity()),
        Value::Hash(hash) => {
            let packed = hash.encoding() == "listpack";
            let each = |(field, value): (&[u8], &[u8])| {
                if packed {
                    field.len() + value.len() + 2 * PACKED
                } else {
                    allocation(field.len()) + allocation(value.len()) + TABLE
                }
            };
            sampled(hash.len(), samples, hash.iter().map(each))
        }
        Value::List(list) => sampled(
            list.len(),
            samples,
            list.iter().map(|item| item.len() + PACKED),
        ),
        Value::Set(set) => {
            let table = set.encoding() == "hashtable";
            let each = |member: Member<'_>| match member {
                Member::Int(_) => 8,
                Member::Bytes(bytes) if table => allocation(bytes.len()) + TABLE,
                Member::Bytes(bytes) => bytes.len() + PACKED,
            };
            sampled(set.len(), samples, set.iter().map(each))
        }
        Value::Zset(zset) => {
            let packed = zset.encoding() == "listpack";
            let each = |(member, _score): (&[u8], f64)| {
                if packed {
                    member.len() + 8 + 2 * PACKED
                } else {
                    // Skiplist node (score, links) and the member's map slot.
                    allocation(member.len()) + 8 + 2 * TABLE
                }
            };
            sampled(zset.len(), samples, zset.iter().map(each))
        }
        Value::Stream(stream) => {
            // Blocks of packed entries, each with its index slot; groups with their PEL
            // entries (in the group's and the consumer's map) and their consumers.
            let groups: usize = stream
                .groups
                .iter()
                .map(|(name, group)| {
                    let consumers: usize = group
                        .consumers
                        .keys()
                        .map(|name| allocation(name.len()) + TABLE)
                        .sum();
                    allocation(name.len()) + TABLE + group.pel.len() * 2 * TABLE + consumers
                })
                .sum();
            allocation(stream.bytes()) + stream.blocks() * TABLE + groups
        }
    }
}

/// The size of `len` elements from the first `samples` of them (all when fewer).
fn sampled(len: usize, samples: usize, sizes: impl Iterator<Item = usize>) -> usize {
    let (mut seen, mut total) = (0usize, 0usize);
    for size in sizes.take(samples) {
        seen += 1;
        total += size;
    }
    match seen {
        0 => 0,
        seen => total / seen * len + total % seen * len / seen,
    }
}

/// What one core reports for MEMORY STATS, per database.
#[derive(Clone, Copy, Default)]
struct DbMemory {
    keys: u64,
}

async fn keyspace(s: &Session) -> Vec<DbMemory> {
    let per_core = s
        .core
        .call_all(|core| {
            let shard = core.shard.borrow();
            shard
                .dbs
                .iter()
                .map(|db| DbMemory {
                    keys: db.len() as u64,
                })
                .collect::<Vec<_>>()
        })
        .await;
    let mut total = vec![DbMemory::default(); DATABASES];
    for dbs in per_core {
        for (sum, db) in total.iter_mut().zip(dbs) {
            sum.keys += db.keys;
        }
    }
    total
}

/// Clients' buffers (query and output), summed over every core.
async fn clients_bytes(s: &Session) -> u64 {
    s.core
        .call_all(|core| {
            core.clients
                .borrow()
                .by_id
                .values()
                .map(|c| (c.qbuf.get() + c.omem.get()) as u64)
                .sum::<u64>()
        })
        .await
        .into_iter()
        .sum()
}

/// The figures MEMORY STATS and DOCTOR read.
struct Figures {
    peak: u64,
    total: u64,
    startup: u64,
    clients: u64,
    dbs: Vec<DbMemory>,
    mem: crate::process::Memory,
}

impl Figures {
    fn overhead(&self) -> u64 {
        self.startup + self.clients + self.tables()
    }

    /// Table slots of every database (expiry times live in the entries: no second table).
    fn tables(&self) -> u64 {
        self.dbs.iter().map(|db| db.keys).sum::<u64>() * std::mem::size_of::<Entry>() as u64
    }

    fn keys(&self) -> u64 {
        self.dbs.iter().map(|db| db.keys).sum()
    }

    fn dataset(&self) -> u64 {
        self.total.saturating_sub(self.overhead())
    }
}

async fn figures(s: &Session) -> Figures {
    let dbs = keyspace(s).await;
    let clients = clients_bytes(s).await;
    let total = crate::process::refresh_used_memory(s.core.id);
    Figures {
        peak: crate::process::sample_peak(),
        total,
        startup: crate::process::startup_allocated(),
        clients,
        dbs,
        mem: crate::process::memory(),
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

async fn stats(s: &mut Session) -> Result<(), Status> {
    let f = figures(s).await;
    let used_dbs: Vec<(usize, DbMemory)> = f
        .dbs
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, db)| db.keys > 0)
        .collect();
    let keys = f.keys();
    let net = f.total.saturating_sub(f.startup);
    let mem = &f.mem;
    let mut r = s.reply();
    r.map(27 + used_dbs.len());
    let int = |r: &mut crate::resp::Reply<'_>, name: &str, value: u64| {
        r.bulk_str(name);
        r.int(value as i64);
    };
    int(&mut r, "peak.allocated", f.peak);
    int(&mut r, "total.allocated", f.total);
    int(&mut r, "startup.allocated", f.startup);
    int(&mut r, "replication.backlog", 0);
    int(&mut r, "clients.slaves", 0);
    int(&mut r, "clients.normal", f.clients);
    int(&mut r, "cluster.links", 0);
    int(&mut r, "aof.buffer", 0);
    int(&mut r, "lua.caches", 0);
    int(&mut r, "functions.caches", 0);
    int(&mut r, "overhead.total", f.overhead());
    for (index, db) in &used_dbs {
        r.bulk_str(&format!("db.{index}"));
        r.map(2);
        int(
            &mut r,
            "overhead.hashtable.main",
            db.keys * std::mem::size_of::<Entry>() as u64,
        );
        int(&mut r, "overhead.hashtable.expires", 0);
    }
    int(&mut r, "keys.count", keys);
    int(
        &mut r,
        "keys.bytes-per-key",
        net.checked_div(keys).unwrap_or(0),
    );
    int(&mut r, "dataset.bytes", f.dataset());
    let double = |r: &mut crate::resp::Reply<'_>, name: &str, value: f64| {
        r.bulk_str(name);
        r.double(value);
    };
    double(
        &mut r,
        "dataset.percentage",
        ratio(f.dataset(), net) * 100.0,
    );
    double(&mut r, "peak.percentage", ratio(f.total, f.peak) * 100.0);
    int(&mut r, "allocator.allocated", mem.allocated);
    int(&mut r, "allocator.active", mem.active);
    int(&mut r, "allocator.resident", mem.resident);
    double(
        &mut r,
        "allocator-fragmentation.ratio",
        ratio(mem.active, mem.allocated),
    );
    int(
        &mut r,
        "allocator-fragmentation.bytes",
        mem.active.saturating_sub(mem.allocated),
    );
    double(
        &mut r,
        "allocator-rss.ratio",
        ratio(mem.resident, mem.active),
    );
    int(
        &mut r,
        "allocator-rss.bytes",
        mem.resident.saturating_sub(mem.active),
    );
    double(&mut r, "rss-overhead.ratio", ratio(mem.rss, mem.resident));
    int(
        &mut r,
        "rss-overhead.bytes",
        mem.rss.saturating_sub(mem.resident),
    );
    double(&mut r, "fragmentation", ratio(mem.rss, f.total));
    int(
        &mut r,
        "fragmentation.bytes",
        mem.rss.saturating_sub(f.total),
    );
    Ok(())
}

/// Redis's memory doctor: the same texts for the same conditions, judged from the same
/// figures (fragmentation, peak, clients' buffers); the replication and big-RSS checks
/// have no counterpart here.
async fn doctor(s: &Session) -> String {
    let f = figures(s).await;
    // Redis: below 5 MB there is nothing to judge. Counted above what the server held at
    // start: Holdfast's empty process (per-core buffers, the log) is bigger than Redis's.
    if f.total.saturating_sub(f.startup) < 5 << 20 {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.".into();
    }
    let mut issues = Vec::new();
    if f.peak as f64 > f.total as f64 * 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n");
    }
    let frag = ratio(f.mem.active, f.mem.allocated);
    if frag > 1.1 && f.mem.active.saturating_sub(f.mem.allocated) > 10 << 20 {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n");
    }
    let clients = s
        .core
        .global
        .connected_clients
        .load(std::sync::atomic::Ordering::Relaxed) as u64;
    if clients > 0 && f.clients / clients > 200 * 1024 {
        issues.push(" * Big client buffers: The clients output buffers are in general too big, over 200K per client on average. This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n");
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.".into();
    }
    let mut report =
        "Sam, I detected a few issues in this Redis instance memory implants:\n\n".to_string();
    for issue in issues {
        report.push_str(issue);
    }
    report.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    report
}

pub static COMMANDS: &[Spec] = &[Spec {
    name: "memory",
    arity: -2,
    flags: 0,
    keys: NO_KEYS,
    handler: Handler::Multi(memory),
    group: "server",
    summary: "A container for memory diagnostics commands",
    since: "4.0.0",
    subcommands: &[
        ("doctor", 2, 0),
        ("help", 2, LOADING | STALE),
        ("malloc-stats", 2, 0),
        ("purge", 2, 0),
        ("stats", 2, 0),
        ("usage", -3, READONLY),
    ],
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_option_like_redis() {
        let args = |words: &[&str]| {
            words
                .iter()
                .map(|w| w.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(parse_samples(&args(&[])).unwrap(), DEFAULT_SAMPLES);
        assert_eq!(parse_samples(&args(&["SAMPLES", "7"])).unwrap(), 7);
        assert_eq!(parse_samples(&args(&["samples", "0"])).unwrap(), usize::MAX);
        for bad in [&["SAMPLES"][..], &["SAMPLES", "-1"], &["foo", "1"]] {
            assert!(parse_samples(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sampling_scales_the_average_to_the_length() {
        assert_eq!(
            sampled(100, 5, [10, 20, 30, 40, 50, 1000].into_iter()),
            3000
        );
        assert_eq!(sampled(3, usize::MAX, [1, 2, 3].into_iter()), 6);
        assert_eq!(sampled(0, 5, std::iter::empty()), 0);
    }

    #[test]
    fn bigger_values_use_more() {
        let small = Value::Str(vec![b'x'; 10]);
        let big = Value::Str(vec![b'x'; 10_000]);
        assert!(value_usage(&big, 5) >= 10_000);
        assert!(value_usage(&small, 5) < 64);
    }
}
