//! Server commands: COMMAND (generated from the one command table), INFO, TIME, SLOWLOG,
//! DEBUG, SHUTDOWN.

use super::args::{is, parse_f64, parse_i64};
use super::connection::reply_help;
use super::digest::{self, Ttl};
use super::session::Session;
use super::KeySpec;
use super::{flags, flags::*, table, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::resp::Reply;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

/// The Redis API level Holdfast implements; clients gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

fn flag_names(bits: u32) -> Vec<&'static str> {
    flags::NAMES
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// ACL categories as Redis derives them: the command's group plus read/write/fast/slow
/// and admin/dangerous.
fn acl_categories(group: &str, bits: u32) -> Vec<String> {
    let mut cats = Vec::new();
    if bits & WRITE != 0 {
        cats.push("@write".to_string());
    }
    if bits & READONLY != 0 {
        cats.push("@read".to_string());
    }
    match group {
        "generic" => cats.push("@keyspace".into()),
        "server" if bits & ADMIN == 0 => {}
        "server" => {}
        other => cats.push(format!("@{other}")),
    }
    if bits & ADMIN != 0 {
        cats.push("@admin".into());
        cats.push("@dangerous".into());
    }
    cats.push(if bits & FAST != 0 {
        "@fast".into()
    } else {
        "@slow".into()
    });
    if bits & BLOCKING != 0 {
        cats.push("@blocking".into());
    }
    cats
}

/// COMMAND INFO of one row. A container (XGROUP, OBJECT, CONFIG...) shows, as in Redis,
/// no keys and only `@slow`: its subcommands carry the keys, flags and categories.
fn command_info(r: &mut Reply, spec: &Spec) {
    let container = !spec.subcommands.is_empty();
    r.array(10);
    r.bulk_str(spec.name);
    r.int(spec.arity as i64);
    let names = flag_names(spec.flags);
    r.set(names.len());
    for name in names {
        r.simple(name);
    }
    let (keys, cats) = match container {
        true => (NO_KEYS, vec!["@slow".to_string()]),
        false => (spec.keys, acl_categories(spec.group, spec.flags)),
    };
    key_triple(r, keys);
    r.set(cats.len());
    for cat in &cats {
        r.simple(cat);
    }
    r.set(0);
    key_specs(r, keys, spec.flags);
    r.array(spec.subcommands.len());
    for &(sub, arity, sub_flags) in spec.subcommands {
        r.array(10);
        r.bulk_str(&format!("{}|{}", spec.name, sub));
        r.int(arity as i64);
        let names = flag_names(sub_flags);
        r.set(names.len());
        for name in names {
            r.simple(name);
        }
        // The row's key positions belong to the subcommands long enough to have a key
        // there (XGROUP CREATE's, not XGROUP HELP's).
        let keys = match spec.keys.first > 0 && (arity.unsigned_abs() as i16) > spec.keys.first {
            true => spec.keys,
            false => NO_KEYS,
        };
        key_triple(r, keys);
        let cats = acl_categories(spec.group, sub_flags);
        r.set(cats.len());
        for cat in &cats {
            r.simple(cat);
        }
        r.set(0);
        key_specs(r, keys, sub_flags);
        r.array(0);
    }
}

fn key_triple(r: &mut Reply, keys: KeySpec) {
    r.int(keys.first as i64);
    r.int(keys.last as i64);
    r.int(keys.step as i64);
}

/// Redis 7 key specifications derived from the (first, last, step) triple.
fn key_specs(r: &mut Reply, keys: KeySpec, flags: u32) {
    if keys.first == 0 {
        r.array(0);
        return;
    }
    r.array(1);
    r.map(3);
    r.bulk_str("flags");
    let access = if flags & WRITE != 0 { "RW" } else { "RO" };
    r.set(1);
    r.simple(access);
    r.bulk_str("begin_search");
    r.map(2);
    r.bulk_str("type");
    r.bulk_str("index");
    r.bulk_str("spec");
    r.map(1);
    r.bulk_str("index");
    r.int(keys.first as i64);
    r.bulk_str("find_keys");
    r.map(2);
    r.bulk_str("type");
    r.bulk_str("range");
    r.bulk_str("spec");
    r.map(3);
    r.bulk_str("lastkey");
    r.int(if keys.last < 0 {
        keys.last as i64
    } else {
        (keys.last - keys.first) as i64
    });
    r.bulk_str("keystep");
    r.int(keys.step as i64);
    r.bulk_str("limit");
    r.int(0);
}

fn command_docs(r: &mut Reply, spec: &Spec) {
    r.bulk_str(spec.name);
    let has_subs = !spec.subcommands.is_empty();
    r.map(3 + has_subs as usize);
    r.bulk_str("summary");
    r.bulk_str(spec.summary);
    r.bulk_str("since");
    r.bulk_str(spec.since);
    r.bulk_str("group");
    r.bulk_str(spec.group);
    if has_subs {
        r.bulk_str("subcommands");
        r.map(spec.subcommands.len());
        for (sub, _, _) in spec.subcommands {
            r.bulk_str(&format!("{}|{}", spec.name, sub));
            r.map(2);
            r.bulk_str("since");
            r.bulk_str(spec.since);
            r.bulk_str("group");
            r.bulk_str(spec.group);
        }
    }
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

fn command(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let table = table();
        let Some(sub) = argv.get(1) else {
            let mut r = s.reply();
            r.array(table.specs.len());
            for spec in &table.specs {
                command_info(&mut r, spec);
            }
            return Ok(());
        };
        let sub_lower = sub.to_ascii_lowercase();
        match sub_lower.as_slice() {
            b"count" if argv.len() == 2 => s.reply().int(table.specs.len() as i64),
            b"info" => {
                let mut r = s.reply();
                if argv.len() == 2 {
                    r.array(table.specs.len());
                    table
                        .specs
                        .iter()
                        .for_each(|spec| command_info(&mut r, spec));
                } else {
                    r.array(argv.len() - 2);
                    for name in &argv[2..] {
                        match table.lookup(name) {
                            Some((_, spec)) => command_info(&mut r, spec),
                            None => r.null_array(),
                        }
                    }
                }
            }
            b"docs" => {
                let specs: Vec<&Spec> = if argv.len() == 2 {
                    table.specs.clone()
                } else {
                    argv[2..]
                        .iter()
                        .filter_map(|name| table.lookup(name).map(|(_, spec)| spec))
                        .collect()
                };
                let mut r = s.reply();
                r.map(specs.len());
                specs.iter().for_each(|spec| command_docs(&mut r, spec));
            }
            b"list" => command_list(s, &argv)?,
            b"getkeys" | b"getkeysandflags" if argv.len() >= 3 => {
                let with_flags = sub_lower == b"getkeysandflags";
                let Some((_, spec)) = table.lookup(&argv[2]) else {
                    return Err(Status::err("ERR Invalid command specified"));
                };
                let args = &argv[2..];
                if !spec.arity_ok(args.len()) {
                    return Err(Status::err(
                        "ERR Invalid number of arguments specified for command",
                    ));
                }
                let positions: Vec<usize> = match super::movable_key_positions(spec, args) {
                    Some(found) => found
                        .map_err(|()| Status::err("ERR Invalid arguments specified for command"))?,
                    None => spec.keys.positions(args.len()).collect(),
                };
                if positions.is_empty() {
                    return Err(Status::err("ERR The command has no key arguments"));
                }
                let access = if spec.flags & WRITE != 0 { "RW" } else { "RO" };
                let mut r = s.reply();
                r.array(positions.len());
                for p in positions {
                    if with_flags {
                        r.array(2);
                        r.bulk(&args[p]);
                        r.set(1);
                        r.simple(access);
                    } else {
                        r.bulk(&args[p]);
                    }
                }
            }
            b"help" if argv.len() == 2 => reply_help(s, COMMAND_HELP),
            b"count" | b"getkeys" | b"getkeysandflags" | b"help" => {
                return Err(Status::WrongArity(format!(
                    "command|{}",
                    String::from_utf8_lossy(&sub_lower)
                )))
            }
            _ => return Err(unknown_subcommand("command", sub)),
        }
        Ok(())
    }
    .boxed_local()
}

fn command_list(s: &mut Session, argv: &Argv) -> Result<(), Status> {
    let table = table();
    let names: Vec<&str> = match argv.len() {
        2 => table.specs.iter().map(|spec| spec.name).collect(),
        5 if is(&argv[2], "filterby") => {
            let value = &argv[4];
            if is(&argv[3], "pattern") {
                table
                    .specs
                    .iter()
                    .filter(|spec| super::glob::glob_match(value, spec.name.as_bytes(), true))
                    .map(|spec| spec.name)
                    .collect()
            } else if is(&argv[3], "aclcat") {
                let cat = format!("@{}", String::from_utf8_lossy(value).to_ascii_lowercase());
                table
                    .specs
                    .iter()
                    .filter(|spec| acl_categories(spec.group, spec.flags).contains(&cat))
                    .map(|spec| spec.name)
                    .collect()
            } else if is(&argv[3], "module") {
                Vec::new()
            } else {
                return Err(Status::Syntax);
            }
        }
        _ => return Err(Status::Syntax),
    };
    let mut r = s.reply();
    r.array(names.len());
    for name in names {
        r.bulk_str(name);
    }
    Ok(())
}

fn info(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let text = super::info::render(s, &argv[1..]).await;
        s.reply().verbatim(&text);
        Ok(())
    }
    .boxed_local()
}

fn time(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut r = s.reply();
        r.array(2);
        r.bulk_int(now.as_secs() as i64);
        r.bulk_int(now.subsec_micros() as i64);
        Ok(())
    }
    .boxed_local()
}

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

fn slowlog(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = argv[1].to_ascii_lowercase();
        match (sub.as_slice(), argv.len()) {
            (b"get", 2 | 3) => {
                let count = match argv.get(2) {
                    None => 10,
                    Some(arg) => match parse_i64(arg) {
                        Ok(-1) => usize::MAX,
                        Ok(n) if n >= 0 => n as usize,
                        _ => {
                            return Err(Status::err(
                                "ERR count should be greater than or equal to -1",
                            ))
                        }
                    },
                };
                let mut entries: Vec<_> = s
                    .core
                    .call_all(|core| {
                        core.stats
                            .borrow()
                            .slowlog
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                    })
                    .await
                    .into_iter()
                    .flatten()
                    .collect();
                entries.sort_by_key(|entry| std::cmp::Reverse(entry.id));
                entries.truncate(count);
                let mut r = s.reply();
                r.array(entries.len());
                for entry in entries {
                    r.array(6);
                    r.int(entry.id as i64);
                    r.int(entry.unix_s as i64);
                    r.int(entry.micros as i64);
                    r.array(entry.args.len());
                    entry.args.iter().for_each(|a| r.bulk(a));
                    r.bulk_str(&entry.addr);
                    r.bulk(&entry.name);
                }
            }
            (b"len", 2) => {
                let lens = s
                    .core
                    .call_all(|core| core.stats.borrow().slowlog.len())
                    .await;
                s.reply().int(lens.iter().sum::<usize>() as i64);
            }
            (b"reset", 2) => {
                s.core
                    .call_all(|core| core.stats.borrow_mut().slowlog.clear())
                    .await;
                s.reply().ok();
            }
            (b"help", 2) => reply_help(s, SLOWLOG_HELP),
            (b"get" | b"len" | b"reset" | b"help", _) => {
                return Err(Status::WrongArity(format!(
                    "slowlog|{}",
                    String::from_utf8_lossy(&sub)
                )))
            }
            _ => return Err(unknown_subcommand("slowlog", &argv[1])),
        }
        Ok(())
    }
    .boxed_local()
}

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-TTL",
    "    Like DIGEST, but covering each key's absolute expiry time, not only whether",
    "    it has one.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "SLEEP <seconds>",
    "    Stop the server's core for <seconds>. Decimals allowed.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "FAIL-LOG",
    "    Fails the log as a failed fdatasync would: held replies get an error, nothing",
    "    more is acknowledged, and the server exits (a restart recovers from the log).",
    "HOLD-COMMITS <0|1>",
    "    Setting it to 1 holds new log records back from the log: writes execute but",
    "    their replies, and reads of the keys they wrote, wait. 0 releases them.",
    "HELP",
    "    Prints this help.",
];

fn debug(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = argv[1].to_ascii_lowercase();
        match (sub.as_slice(), argv.len()) {
            (b"sleep", 3) => {
                let seconds = parse_f64(&argv[2]).map_err(|_| Status::NotFloat)?;
                // Like Redis, DEBUG SLEEP stalls the server thread (here: this core), to
                // test how clients and tools behave against a stuck server.
                if seconds > 0.0 {
                    std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
                }
                s.reply().ok();
            }
            (b"set-active-expire", 3) => {
                let enabled = parse_i64(&argv[2])? != 0;
                s.core
                    .call_all(move |core| core.active_expire.set(enabled))
                    .await;
                s.reply().ok();
            }
            (b"digest", 2) => digest::dataset(s, Ttl::Marker).await?,
            (b"digest-ttl", 2) => digest::dataset(s, Ttl::Absolute).await?,
            (b"digest-value", _) => digest::values(s, argv).await?,
            (b"hold-commits", 3) => super::durability::hold_commits(s, &argv[2]).await?,
            (b"fail-log", 2) => super::durability::fail_log(s).await?,
            (b"help", 2) => reply_help(s, DEBUG_HELP),
            _ => {
                return Err(Status::Error(
                    format!(
                        "ERR unknown subcommand or wrong number of arguments for '{}'. \
                         Try DEBUG HELP.",
                        String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)])
                    )
                    .into(),
                ))
            }
        }
        Ok(())
    }
    .boxed_local()
}

fn shutdown(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let mut abort = false;
        for arg in &argv[1..] {
            if is(arg, "abort") {
                abort = true;
            } else if !(is(arg, "nosave") || is(arg, "save") || is(arg, "now") || is(arg, "force"))
            {
                return Err(Status::Syntax);
            }
        }
        if abort {
            if argv.len() > 2 {
                return Err(Status::Syntax);
            }
            return Err(Status::err("ERR No shutdown in progress."));
        }
        // Exiting loses nothing acknowledged: a reply leaves only once its record is
        // durable. Writes still waiting for the log were never acknowledged; their clients
        // see the connection close, an unknown outcome, as after a crash.
        println!("holdfast: shutdown requested by client id={}", s.id());
        std::process::exit(0);
    }
    .boxed_local()
}

const fn cmd(
    name: &'static str,
    arity: i16,
    flags: u32,
    handler: super::AsyncFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        arity,
        flags,
        NO_KEYS,
        Handler::Conn(handler),
        "server",
        summary,
        since,
    )
}

pub static COMMANDS: &[Spec] = &[
    Spec {
        subcommands: &[
            ("count", 2, LOADING | STALE),
            ("info", -2, LOADING | STALE),
            ("docs", -2, LOADING | STALE),
            ("list", -2, LOADING | STALE),
            ("getkeys", -3, LOADING | STALE),
            ("getkeysandflags", -3, LOADING | STALE),
            ("help", 2, LOADING | STALE),
        ],
        ..cmd(
            "command",
            -1,
            LOADING | STALE,
            command,
            "Returns detailed information about all commands.",
            "2.8.13",
        )
    },
    cmd(
        "info",
        -1,
        LOADING | STALE,
        info,
        "Returns information and statistics about the server.",
        "1.0.0",
    ),
    cmd(
        "time",
        1,
        LOADING | STALE | FAST,
        time,
        "Returns the server time.",
        "2.6.0",
    ),
    Spec {
        subcommands: &[
            ("get", -2, ADMIN | LOADING | STALE),
            ("len", 2, ADMIN | LOADING | STALE),
            ("reset", 2, ADMIN | LOADING | STALE),
            ("help", 2, LOADING | STALE),
        ],
        ..cmd(
            "slowlog",
            -2,
            0,
            slowlog,
            "A container for slow log commands.",
            "2.2.12",
        )
    },
    cmd(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        debug,
        "A container for debugging commands.",
        "1.0.0",
    ),
    cmd(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        shutdown,
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        "1.0.0",
    ),
];
