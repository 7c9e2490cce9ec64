//! Scripting commands: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (LOAD, EXISTS, FLUSH,
//! KILL, HELP). The engine is in crate::script.
//!
//! A script holds the cores of its KEYS for its whole run, as EXEC does (every core with
//! the shebang flag `allow-cross-slot-keys`); a key on a core it does not hold is an
//! error. What it writes is logged as one record of CMD ops, so a crash keeps all of a
//! script's writes or none, and replay never runs Lua.

use super::args::parse_i64;
use super::session::Session;
use super::{flags::*, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::core::multi::MultiCore;
use crate::resp::Proto;
use crate::script::{self, call::CallCtx, convert, Turn};
use crate::shard::slot::key_core;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::sync::atomic::Ordering;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// Which form of EVAL ran: by body or by SHA1, and read-only or not.
#[derive(Clone, Copy)]
struct Form {
    by_sha: bool,
    read_only: bool,
}

fn eval(s: &mut Session, argv: Argv) -> Done<'_> {
    run_script(
        s,
        argv,
        Form {
            by_sha: false,
            read_only: false,
        },
    )
    .boxed_local()
}

fn evalsha(s: &mut Session, argv: Argv) -> Done<'_> {
    run_script(
        s,
        argv,
        Form {
            by_sha: true,
            read_only: false,
        },
    )
    .boxed_local()
}

fn eval_ro(s: &mut Session, argv: Argv) -> Done<'_> {
    run_script(
        s,
        argv,
        Form {
            by_sha: false,
            read_only: true,
        },
    )
    .boxed_local()
}

fn evalsha_ro(s: &mut Session, argv: Argv) -> Done<'_> {
    run_script(
        s,
        argv,
        Form {
            by_sha: true,
            read_only: true,
        },
    )
    .boxed_local()
}

async fn run_script(s: &mut Session, argv: Argv, form: Form) -> Result<(), Status> {
    let numkeys = parse_i64(&argv[2])?;
    if numkeys < 0 {
        return Err(Status::err("ERR Number of keys can't be negative"));
    }
    if numkeys as usize > argv.len() - 3 {
        return Err(Status::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let engine = script::engine().map_err(|e| Status::err(format!("ERR {e}")))?;
    let compiled = if form.by_sha {
        let sha = String::from_utf8_lossy(&argv[1]).into_owned();
        match engine.get(&sha) {
            Some(compiled) => compiled,
            None => return Err(Status::err("NOSCRIPT No matching script. Please use EVAL.")),
        }
    } else {
        engine.compile(&argv[1])
    }
    .map_err(Status::err)?;
    let split = 3 + numkeys as usize;
    let (keys, args) = (&argv[3..split], &argv[split..]);
    let cores = s.core.cores;
    let held: Vec<usize> = if compiled.flags.allow_cross_slot_keys {
        (0..cores).collect()
    } else {
        let mut owners: Vec<usize> = keys.iter().map(|k| key_core(k, cores)).collect();
        owners.sort_unstable();
        owners.dedup();
        owners
    };

    // Inside EXEC the transaction took the turn before its holds (transaction.rs).
    let turn = match s.exec {
        None => Some(Turn::take().await),
        Some(_) => None,
    };
    let mut tx = MultiCore::transaction(s, held.iter().copied());
    tx.hold_all().await;
    let mut session = Session::new(s.core.clone(), s.info.clone());
    session.db = s.db;
    session.dep = s.dep.clone();
    session.exec = Some(tx.scope());
    script::RUNNING_SINCE_MS.store(crate::shard::unix_ms(), Ordering::Relaxed);
    script::call::enter(CallCtx {
        tx,
        session,
        held,
        read_only: form.read_only || compiled.flags.no_writes,
        proto: Proto::Resp2,
    });
    let outcome = engine.run(&compiled, keys, args);
    let ctx = script::call::leave();
    ctx.tx.finish().await;
    drop(turn);
    // Pushes by the script may have made blocked clients servable.
    super::blocking::serve_after_all(s, ctx.held.iter().copied()).await;

    match outcome {
        Ok(Ok(value)) => convert::write_lua(&mut s.reply(), &value),
        Ok(Err(error)) => s.reply().error(&error_text(&error, &compiled.sha)),
        Err(e) => s.reply().error(&format!("ERR {e}")),
    }
    Ok(())
}

/// The error reply of a script that raised `error`: its text, and where it happened as
/// Redis 7 reports it (`... script: SHA, on @user_script:LINE.`).
fn error_text(error: &mlua::Value, sha: &str) -> String {
    let mlua::Value::Table(table) = error else {
        return "ERR unknown error running script".into();
    };
    let text = match table.raw_get::<mlua::Value>("err") {
        Ok(mlua::Value::String(text)) => text.to_string_lossy(),
        _ => "ERR unknown error running script".into(),
    };
    let source = table.raw_get::<Option<String>>("source").ok().flatten();
    let line = table.raw_get::<Option<i64>>("line").ok().flatten();
    match (source, line) {
        (Some(source), Some(line)) => format!("{text} script: {sha}, on {source}:{line}."),
        _ => text,
    }
}

fn script_command(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match (sub.as_str(), argv.len()) {
            ("load", 3) => {
                let engine = script::engine().map_err(|e| Status::err(format!("ERR {e}")))?;
                let compiled = engine.compile(&argv[2]).map_err(Status::err)?;
                s.reply().bulk(compiled.sha.as_bytes());
            }
            ("exists", n) if n >= 3 => {
                s.reply().array(n - 2);
                for sha in &argv[2..] {
                    let known = script::body(&String::from_utf8_lossy(sha)).is_some();
                    s.reply().int(known as i64);
                }
            }
            ("flush", 2) => flush(s)?,
            ("flush", 3) => {
                let mode = String::from_utf8_lossy(&argv[2]).to_ascii_lowercase();
                if mode != "sync" && mode != "async" {
                    return Err(Status::err(
                        "ERR SCRIPT FLUSH only support SYNC|ASYNC option",
                    ));
                }
                flush(s)?;
            }
            ("kill", 2) => kill(s)?,
            ("help", 2) => {
                let lines = [
                    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "DEBUG (YES|SYNC|NO)",
                    "    Set the debug mode for subsequent scripts executed.",
                    "EXISTS <sha1> [<sha1> ...]",
                    "    Return information about the existence of the scripts in the script cache.",
                    "FLUSH [ASYNC|SYNC]",
                    "    Flush the Lua scripts cache. Very dangerous on replicas.",
                    "    When called without the optional mode argument, the behavior is determined by the",
                    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                    "    * ASYNC: Asynchronously flush the scripts cache.",
                    "    * SYNC: Synchronously flush the scripts cache.",
                    "KILL",
                    "    Kill the currently executing Lua script.",
                    "LOAD <script>",
                    "    Load a script into the scripts cache without executing it.",
                    "HELP",
                    "    Prints this help.",
                ];
                s.reply().array(lines.len());
                lines.iter().for_each(|line| s.reply().simple(line));
            }
            _ => return Err(unknown_subcommand("SCRIPT", &argv[1])),
        }
        Ok(())
    }
    .boxed_local()
}

fn flush(s: &mut Session) -> Result<(), Status> {
    script::flush();
    s.reply().ok();
    Ok(())
}

/// SCRIPT KILL: stops the running script at its next check, unless it has written (a
/// script is atomic: half of it must not stay).
fn kill(s: &mut Session) -> Result<(), Status> {
    if script::RUNNING_SINCE_MS.load(Ordering::Relaxed) == 0 {
        return Err(Status::err("NOTBUSY No scripts in execution right now."));
    }
    if script::WROTE.load(Ordering::Relaxed) {
        return Err(Status::err(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        ));
    }
    script::KILL.store(true, Ordering::Relaxed);
    s.reply().ok();
    Ok(())
}

const fn row(
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
        "scripting",
        summary,
        since,
    )
}

pub static COMMANDS: &[Spec] = &[
    row(
        "eval",
        -3,
        NOSCRIPT | SKIP_MONITOR_FLAGS | STALE,
        eval,
        "Executes a server-side Lua script.",
        "2.6.0",
    ),
    row(
        "evalsha",
        -3,
        NOSCRIPT | SKIP_MONITOR_FLAGS | STALE,
        evalsha,
        "Executes a server-side Lua script by SHA1 digest.",
        "2.6.0",
    ),
    row(
        "eval_ro",
        -3,
        NOSCRIPT | SKIP_MONITOR_FLAGS | STALE | READONLY,
        eval_ro,
        "Executes a read-only server-side Lua script.",
        "7.0.0",
    ),
    row(
        "evalsha_ro",
        -3,
        NOSCRIPT | SKIP_MONITOR_FLAGS | STALE | READONLY,
        evalsha_ro,
        "Executes a read-only server-side Lua script by SHA1 digest.",
        "7.0.0",
    ),
    Spec {
        subcommands: &[
            ("load", 3, NOSCRIPT | STALE),
            ("exists", -3, NOSCRIPT),
            ("flush", -2, NOSCRIPT),
            ("kill", 2, NOSCRIPT | ALLOW_BUSY),
            ("help", 2, LOADING | STALE),
        ],
        ..row(
            "script",
            -2,
            0,
            script_command,
            "A container for Lua scripts management commands.",
            "2.6.0",
        )
    },
];

/// Redis flags EVAL `skip_monitor` and `may_replicate`, which Holdfast's table does not
/// distinguish: none.
const SKIP_MONITOR_FLAGS: u32 = 0;
