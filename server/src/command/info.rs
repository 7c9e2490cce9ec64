//! INFO: Redis's sections and field names (so `redis-cli --stat`, redis_exporter and
//! client libraries read it), with counters summed over every core.

use super::session::Session;
use super::table;
use crate::core::stats::CoreStats;
use crate::limits::DATABASES;
use crate::process::{cpu_seconds, human_bytes, memory, total_system_memory};
use crate::shard::ShardStats;
use std::fmt::Write;
use std::sync::atomic::Ordering;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// Per-database (keys, volatile keys) summed over cores, and the shard counters.
struct Keyspace {
    dbs: Vec<DbTotals>,
    stats: ShardStats,
}

#[derive(Clone, Copy, Default)]
struct DbTotals {
    keys: usize,
    volatile: usize,
    /// Sum over cores of each core's avg_ttl estimate times its volatile keys.
    weighted_ttl_ms: u128,
}

/// Which sections a list of INFO arguments selects, in Redis's output order.
pub fn selected_sections(args: &[Vec<u8>]) -> Vec<&'static str> {
    if args.is_empty() {
        return DEFAULT_SECTIONS.to_vec();
    }
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let has = |name: &str| wanted.iter().any(|w| w == name);
    ALL_SECTIONS
        .iter()
        .copied()
        .filter(|section| {
            has(section)
                || has("all")
                || has("everything")
                || (has("default") && DEFAULT_SECTIONS.contains(section))
        })
        .collect()
}

pub async fn render(s: &mut Session, args: &[Vec<u8>]) -> String {
    let sections = selected_sections(args);
    let stats = gather_stats(s).await;
    let keyspace = gather_keyspace(s).await;
    let mut out = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            out.push_str("\r\n");
        }
        let title = match *section {
            "cpu" => "CPU".to_string(),
            other => {
                let mut title = other.to_string();
                title[..1].make_ascii_uppercase();
                title
            }
        };
        let _ = write!(out, "# {title}\r\n");
        let fields = match *section {
            "server" => server(s),
            "clients" => clients(s, &stats),
            "memory" => memory_section(s),
            "persistence" => persistence(s),
            "stats" => stats_section(&stats, &keyspace.stats),
            "replication" => replication(s),
            "cpu" => cpu(),
            "commandstats" => commandstats(&stats.stats),
            "errorstats" => errorstats(&stats.stats),
            "latencystats" => super::latency::info_fields(s).await,
            "cluster" => vec![("cluster_enabled".into(), "0".into())],
            "keyspace" => keyspace_section(&keyspace),
            _ => Vec::new(),
        };
        for (name, value) in fields {
            let _ = write!(out, "{name}:{value}\r\n");
        }
    }
    out
}

/// Counters summed over cores, with the instantaneous rates (ops/s, input and output
/// bytes/s) summed too.
struct Totals {
    stats: CoreStats,
    ops: f64,
    input: f64,
    output: f64,
    /// Distinct channels, patterns and shard channels with a subscriber on any core.
    pubsub: [usize; 3],
    /// Clients waiting in a blocking command, on every core.
    blocked_clients: usize,
    /// CLIENT TRACKING: clients tracking, and (keys, items, prefixes) of the tables.
    tracking_clients: usize,
    tracking: (usize, usize, usize),
}

async fn gather_stats(s: &Session) -> Totals {
    use crate::core::pubsub::Kind;
    // One message per core for every counter INFO sums.
    let per_core = s
        .core
        .call_all(|core| {
            let pubsub = core.pubsub.borrow();
            let names = [Kind::Channel, Kind::Pattern, Kind::Shard].map(|k| pubsub.names(k, None));
            let blocked = core.shard.borrow().blocked.blocked_clients();
            let tracking = (core.tracking.len(), core.shard.borrow().tracking.counts());
            (core.stats.borrow().clone(), names, blocked, tracking)
        })
        .await;
    let pubsub = [0, 1, 2].map(|kind| {
        let mut all: Vec<&Vec<u8>> = per_core
            .iter()
            .flat_map(|(_, names, _, _)| &names[kind])
            .collect();
        all.sort();
        all.dedup();
        all.len()
    });
    let mut totals = Totals {
        stats: CoreStats::default(),
        ops: 0.0,
        input: 0.0,
        output: 0.0,
        pubsub,
        blocked_clients: per_core.iter().map(|(_, _, blocked, _)| blocked).sum(),
        tracking_clients: per_core.iter().map(|(.., (clients, _))| clients).sum(),
        tracking: tracking_tables(per_core.iter().map(|(.., (_, counts))| *counts)),
    };
    for (stats, _, _, _) in &per_core {
        totals.stats.add(stats);
        totals.ops += stats.ops.rate();
        totals.input += stats.input.rate();
        totals.output += stats.output.rate();
    }
    totals
}

/// The tracking tables of every shard as Redis's one table: keys and items add up (a key
/// lives on one shard), the BCAST prefixes are the same on every shard.
fn tracking_tables(
    per_shard: impl Iterator<Item = (usize, usize, usize)>,
) -> (usize, usize, usize) {
    per_shard.fold((0, 0, 0), |(keys, items, prefixes), (k, i, p)| {
        (keys + k, items + i, prefixes.max(p))
    })
}

async fn gather_keyspace(s: &Session) -> Keyspace {
    let per_core = s
        .core
        .call_all(|core| {
            let shard = core.shard.borrow();
            let dbs: Vec<DbTotals> = shard
                .dbs
                .iter()
                .zip(&shard.avg_ttl_ms)
                .map(|(db, &ttl)| DbTotals {
                    keys: db.len(),
                    volatile: db.volatile_len(),
                    weighted_ttl_ms: ttl as u128 * db.volatile_len() as u128,
                })
                .collect();
            (dbs, shard.stats, shard.journal.last_lsn())
        })
        .await;
    // Key counts reveal every core's writes: the reply waits for them to be durable.
    s.depend(per_core.iter().map(|&(_, _, lsn)| lsn).max().unwrap_or(0));
    let mut keyspace = Keyspace {
        dbs: vec![DbTotals::default(); DATABASES],
        stats: ShardStats::default(),
    };
    let per_core_count = per_core.len().max(1);
    for (dbs, stats, _) in per_core {
        for (total, db) in keyspace.dbs.iter_mut().zip(dbs) {
            total.keys += db.keys;
            total.volatile += db.volatile;
            total.weighted_ttl_ms += db.weighted_ttl_ms;
        }
        keyspace.stats.keyspace_hits += stats.keyspace_hits;
        keyspace.stats.keyspace_misses += stats.keyspace_misses;
        keyspace.stats.expired_keys += stats.expired_keys;
        keyspace.stats.evicted_keys += stats.evicted_keys;
        keyspace.stats.expire_cycle_cpu_ms += stats.expire_cycle_cpu_ms;
        keyspace.stats.expired_stale_perc += stats.expired_stale_perc / per_core_count as f64;
    }
    keyspace
}

type Fields = Vec<(String, String)>;

fn f(name: &str, value: impl ToString) -> (String, String) {
    (name.to_string(), value.to_string())
}

fn server(s: &Session) -> Fields {
    let global = &s.core.global;
    let uptime = global.started.elapsed().as_secs();
    let uname = uname();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    vec![
        f("redis_version", super::server::REDIS_VERSION),
        f("redis_git_sha1", "00000000"),
        f("redis_git_dirty", 0),
        f("redis_build_id", "0"),
        f("redis_mode", "standalone"),
        f("os", uname),
        f("arch_bits", 64),
        f("monotonic_clock", "POSIX clock_gettime"),
        f("multiplexing_api", "io_uring"),
        f("atomicvar_api", "c11-builtin"),
        f("gcc_version", "0.0.0"),
        f("process_id", std::process::id()),
        f("process_supervised", "no"),
        f("run_id", &global.run_id),
        f("tcp_port", global.port),
        f("server_time_usec", now_us),
        f("uptime_in_seconds", uptime),
        f("uptime_in_days", uptime / 86400),
        f("hz", 10),
        f("configured_hz", 10),
        f("lru_clock", s.core.clock_s.get()),
        f(
            "executable",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        f(
            "config_file",
            global
                .config_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        f("io_threads_active", 0),
        f("holdfast_version", env!("CARGO_PKG_VERSION")),
        f("holdfast_cores", global.cores),
        f(
            "holdfast_durability",
            crate::commit::mode_name(global.commit.mode),
        ),
    ]
}

fn uname() -> String {
    // SAFETY: uname fills the zeroed struct it is given.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return "Linux".into();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!(
        "{} {} {}",
        field(&name.sysname),
        field(&name.release),
        field(&name.machine)
    )
}

fn clients(s: &Session, totals: &Totals) -> Fields {
    vec![
        f(
            "connected_clients",
            s.core.global.connected_clients.load(Ordering::Relaxed),
        ),
        f("cluster_connections", 0),
        f("maxclients", s.core.settings.borrow().maxclients),
        f("client_recent_max_input_buffer", 0),
        f("client_recent_max_output_buffer", 0),
        f("blocked_clients", totals.blocked_clients),
        f("tracking_clients", totals.tracking_clients),
        f("clients_in_timeout_table", 0),
    ]
}

fn memory_section(s: &Session) -> Fields {
    let peak = crate::process::sample_peak();
    crate::process::refresh_used_memory(s.core.id);
    let settings = s.core.settings.borrow().clone();
    let policy = crate::shard::evict::Policy::from_config(settings.maxmemory_policy);
    let mem = memory();
    let system = total_system_memory();
    let frag = if mem.allocated > 0 {
        mem.rss as f64 / mem.allocated as f64
    } else {
        0.0
    };
    vec![
        f("used_memory", mem.allocated),
        f("used_memory_human", human_bytes(mem.allocated)),
        f("used_memory_rss", mem.rss),
        f("used_memory_rss_human", human_bytes(mem.rss)),
        f("used_memory_peak", peak),
        f("used_memory_peak_human", human_bytes(peak)),
        f("total_system_memory", system),
        f("total_system_memory_human", human_bytes(system)),
        f("maxmemory", settings.maxmemory_bytes),
        f("maxmemory_human", human_bytes(settings.maxmemory_bytes)),
        f("maxmemory_policy", policy.name()),
        f("allocator_allocated", mem.allocated),
        f("allocator_active", mem.active),
        f("allocator_resident", mem.resident),
        f("mem_fragmentation_ratio", format!("{frag:.2}")),
        f(
            "mem_fragmentation_bytes",
            mem.rss as i64 - mem.allocated as i64,
        ),
        f("mem_allocator", "jemalloc-5.3.0"),
    ]
}

/// Redis's persistence fields, with the log standing in for the AOF, plus the log's own
/// (`holdfast_*`). While the log is replayed at start, Redis's loading_* fields show the
/// progress in records (the log's unit) and bytes.
fn persistence(s: &Session) -> Fields {
    use std::sync::atomic::Ordering::Relaxed;
    let commit = &s.core.global.commit;
    let journaled = commit.journaled();
    let loading = &commit.loading;
    let mut fields = vec![
        f("loading", commit.is_loading() as u8),
        f("async_loading", 0),
    ];
    if commit.is_loading() {
        let (first, last, at) = (
            loading.first_lsn.load(Relaxed),
            loading.last_lsn.load(Relaxed),
            loading.loaded_lsn.load(Relaxed),
        );
        let total = last.saturating_sub(first.saturating_sub(1));
        let done = at.saturating_sub(first.saturating_sub(1));
        let perc = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        fields.extend([
            f("loading_start_time", loading.started_unix_s.load(Relaxed)),
            f("loading_loaded_bytes", loading.loaded_bytes.load(Relaxed)),
            f("loading_loaded_perc", format!("{perc:.2}")),
            f("holdfast_loading_lsn", at),
            f("holdfast_loading_last_lsn", last),
        ]);
    }
    let failed = commit.failure();
    fields.extend([
        f("rdb_changes_since_last_save", 0),
        f("rdb_bgsave_in_progress", 0),
        f("rdb_last_bgsave_status", "ok"),
        f("aof_enabled", journaled as u8),
        f("aof_rewrite_in_progress", 0),
        f(
            "aof_last_write_status",
            if failed.is_some() { "err" } else { "ok" },
        ),
        f("holdfast_durability", crate::commit::mode_name(commit.mode)),
    ]);
    if journaled {
        fields.extend([
            f("holdfast_log_lsn", commit.watermark()),
            f(
                "holdfast_log_records_since_start",
                commit.records_logged.load(Relaxed),
            ),
            f(
                "holdfast_log_batches_since_start",
                commit.batches_logged.load(Relaxed),
            ),
            f("holdfast_log_waiting_replies", s.core.ring.len()),
            f("holdfast_log_failure", failed.unwrap_or_default()),
        ]);
    }
    fields
}

fn stats_section(totals: &Totals, shard: &ShardStats) -> Fields {
    let (stats, ops, input, output) = (&totals.stats, totals.ops, totals.input, totals.output);
    vec![
        f(
            "total_connections_received",
            stats.total_connections_received,
        ),
        f("total_commands_processed", stats.total_commands_processed),
        f("instantaneous_ops_per_sec", ops.round() as u64),
        f("total_net_input_bytes", stats.total_net_input_bytes),
        f("total_net_output_bytes", stats.total_net_output_bytes),
        f("instantaneous_input_kbps", format!("{:.2}", input / 1024.0)),
        f(
            "instantaneous_output_kbps",
            format!("{:.2}", output / 1024.0),
        ),
        f("rejected_connections", stats.rejected_connections),
        f("sync_full", 0),
        f("sync_partial_ok", 0),
        f("sync_partial_err", 0),
        f("expired_keys", shard.expired_keys),
        f(
            "expired_stale_perc",
            format!("{:.2}", shard.expired_stale_perc * 100.0),
        ),
        f("expired_time_cap_reached_count", 0),
        f("expire_cycle_cpu_milliseconds", shard.expire_cycle_cpu_ms),
        f("evicted_keys", shard.evicted_keys),
        f("evicted_clients", 0),
        f("keyspace_hits", shard.keyspace_hits),
        f("keyspace_misses", shard.keyspace_misses),
        f("pubsub_channels", totals.pubsub[0]),
        f("pubsub_patterns", totals.pubsub[1]),
        f("pubsubshard_channels", totals.pubsub[2]),
        f("latest_fork_usec", 0),
        f("total_forks", 0),
        f("tracking_total_keys", totals.tracking.0),
        f("tracking_total_items", totals.tracking.1),
        f("tracking_total_prefixes", totals.tracking.2),
        f("unexpected_error_replies", 0),
        f("total_error_replies", stats.total_error_replies),
        f("total_reads_processed", stats.total_reads_processed),
        f("total_writes_processed", stats.total_writes_processed),
    ]
}

fn replication(s: &Session) -> Fields {
    vec![
        f("role", "master"),
        f("connected_slaves", 0),
        f("master_failover_state", "no-failover"),
        f("master_replid", &s.core.global.run_id),
        f("master_replid2", "0000000000000000000000000000000000000000"),
        f("master_repl_offset", 0),
        f("second_repl_offset", -1),
        f("repl_backlog_active", 0),
        f("repl_backlog_size", 1048576),
        f("repl_backlog_first_byte_offset", 0),
        f("repl_backlog_histlen", 0),
    ]
}

fn cpu() -> Fields {
    let (user, sys) = cpu_seconds(libc::RUSAGE_SELF);
    let (child_user, child_sys) = cpu_seconds(libc::RUSAGE_CHILDREN);
    let (thread_user, thread_sys) = cpu_seconds(libc::RUSAGE_THREAD);
    vec![
        f("used_cpu_sys", format!("{sys:.6}")),
        f("used_cpu_user", format!("{user:.6}")),
        f("used_cpu_sys_children", format!("{child_sys:.6}")),
        f("used_cpu_user_children", format!("{child_user:.6}")),
        f("used_cpu_sys_main_thread", format!("{thread_sys:.6}")),
        f("used_cpu_user_main_thread", format!("{thread_user:.6}")),
    ]
}

fn commandstats(stats: &CoreStats) -> Fields {
    let table = table();
    let mut fields = Vec::new();
    for (index, counters) in stats.commands.iter().enumerate() {
        if counters.calls == 0 && counters.rejected_calls == 0 && counters.failed_calls == 0 {
            continue;
        }
        let per_call = if counters.calls > 0 {
            counters.usec as f64 / counters.calls as f64
        } else {
            0.0
        };
        fields.push(f(
            &format!("cmdstat_{}", table.get(index as u16).name),
            format!(
                "calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}",
                counters.calls,
                counters.usec,
                per_call,
                counters.rejected_calls,
                counters.failed_calls
            ),
        ));
    }
    fields
}

fn errorstats(stats: &CoreStats) -> Fields {
    stats
        .errors
        .iter()
        .map(|(code, count)| f(&format!("errorstat_{code}"), format!("count={count}")))
        .collect()
}

fn keyspace_section(keyspace: &Keyspace) -> Fields {
    keyspace
        .dbs
        .iter()
        .enumerate()
        .filter(|(_, db)| db.keys > 0)
        .map(|(index, db)| {
            let avg_ttl = db
                .weighted_ttl_ms
                .checked_div(db.volatile as u128)
                .unwrap_or(0);
            let text = format!("keys={},expires={},avg_ttl={avg_ttl}", db.keys, db.volatile);
            f(&format!("db{index}"), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::selected_sections;

    #[test]
    fn section_selection_follows_redis() {
        assert_eq!(selected_sections(&[]).len(), 11);
        assert!(!selected_sections(&[]).contains(&"commandstats"));
        assert!(selected_sections(&[b"all".to_vec()]).contains(&"commandstats"));
        assert_eq!(
            selected_sections(&[b"Memory".to_vec(), b"cpu".to_vec()]),
            vec!["memory", "cpu"]
        );
        assert_eq!(selected_sections(&[b"nosuch".to_vec()]), Vec::<&str>::new());
    }
}
