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
use crate::script::functions::RestorePolicy;
use crate::script::{self, call::CallCtx, convert, functions, payload, Turn};
use crate::shard::effect;
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

/// A script's KEYS and ARGV.
type KeysAndArgs<'a> = (&'a [Vec<u8>], &'a [Vec<u8>]);

/// KEYS and ARGV of EVAL and FCALL (`name numkeys key... arg...`).
fn split_keys(argv: &[Vec<u8>]) -> Result<KeysAndArgs<'_>, Status> {
    let numkeys = parse_i64(&argv[2])?;
    if numkeys < 0 {
        return Err(Status::err("ERR Number of keys can't be negative"));
    }
    if numkeys as usize > argv.len() - 3 {
        return Err(Status::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let split = 3 + numkeys as usize;
    Ok((&argv[3..split], &argv[split..]))
}

async fn run_script(s: &mut Session, argv: Argv, form: Form) -> Result<(), Status> {
    let (keys, args) = split_keys(&argv)?;
    let engine = script::engine().map_err(|e| Status::err(format!("ERR {e}")))?;
    let compiled = if form.by_sha {
        match engine.get(&argv[1]) {
            Some(compiled) => compiled,
            None => return Err(Status::err("NOSCRIPT No matching script. Please use EVAL.")),
        }
    } else {
        engine.compile(&argv[1])
    }
    .map_err(Status::err)?;
    let read_only = form.read_only || compiled.flags.no_writes;
    run_with_holds(
        s,
        &engine,
        keys,
        compiled.flags,
        read_only,
        &compiled.sha,
        |engine| engine.run(&compiled, keys, args),
    )
    .await
}

/// FCALL and FCALL_RO.
async fn run_function(s: &mut Session, argv: Argv, read_only: bool) -> Result<(), Status> {
    let (keys, args) = split_keys(&argv)?;
    let engine = script::engine().map_err(|e| Status::err(format!("ERR {e}")))?;
    let name = String::from_utf8_lossy(&argv[1]).into_owned();
    let Some((meta, function)) = engine.function(&name) else {
        return Err(Status::err("ERR Function not found"));
    };
    let flags = meta.script_flags();
    if read_only && !flags.no_writes {
        return Err(Status::err(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    // The call sees the libraries as logged: its reply waits for their record.
    s.depend(script::functions::logged_lsn());
    run_with_holds(
        s,
        &engine,
        keys,
        flags,
        read_only || flags.no_writes,
        &name,
        |engine| engine.run_function(&function, keys, args),
    )
    .await
}

/// Runs a script or function as one transaction: the script turn, the holds of its keys'
/// cores (every core with `allow-cross-slot-keys`), the call, one record, the reply.
#[allow(clippy::too_many_arguments)]
async fn run_with_holds(
    s: &mut Session,
    engine: &script::Engine,
    keys: &[Vec<u8>],
    flags: script::Flags,
    read_only: bool,
    name: &str,
    call: impl FnOnce(&script::Engine) -> mlua::Result<Result<mlua::Value, mlua::Value>>,
) -> Result<(), Status> {
    let cores = s.core.cores;
    let held: Vec<usize> = if flags.allow_cross_slot_keys {
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
    let mut session = Session::with_reply_capacity(s.core.clone(), s.info.clone(), 0);
    session.db = s.db;
    session.dep = s.dep.clone();
    session.exec = Some(tx.scope());
    script::RUNNING_SINCE_MS.store(crate::shard::unix_ms(), Ordering::Relaxed);
    script::call::enter(CallCtx {
        tx,
        session,
        held,
        read_only,
        proto: Proto::Resp2,
    });
    let outcome = call(engine);
    let ctx = script::call::leave();
    ctx.tx.finish().await;
    drop(turn);
    // Clients blocked on keys the script pushed to were served as each core was released
    // (core/hold.rs).

    match outcome {
        Ok(Ok(value)) => convert::write_lua(&mut s.reply(), &value),
        Ok(Err(error)) => s.reply().error(&error_text(&error, name)),
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

fn fcall(s: &mut Session, argv: Argv) -> Done<'_> {
    run_function(s, argv, false).boxed_local()
}

fn fcall_ro(s: &mut Session, argv: Argv) -> Done<'_> {
    run_function(s, argv, true).boxed_local()
}

/// Logs the library set as it is now (the FUNCTIONS op), so a restart has it back; the
/// reply depends on that record.
async fn log_libraries(s: &mut Session) {
    let codes = functions::codes();
    let own = s.core.id;
    let mut op = MultiCore::new(s, [own]);
    op.run(own, move |shard| {
        if shard.journal.recording() {
            effect::functions(shard.journal.ops(), codes.iter().map(Vec::as_slice));
        }
    })
    .await;
    op.finish().await;
    functions::note_logged(s.dep.get());
}

fn function_command(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match sub.as_str() {
            "load" if argv.len() >= 3 => {
                let replace = argv.len() == 4 && argv[2].eq_ignore_ascii_case(b"replace");
                if argv.len() > 4 || (argv.len() == 4 && !replace) {
                    return Err(Status::err(format!(
                        "ERR Unknown option given: {}",
                        String::from_utf8_lossy(&argv[2])
                    )));
                }
                let name =
                    functions::load(argv.last().expect("arity"), replace).map_err(Status::err)?;
                log_libraries(s).await;
                s.reply().bulk(name.as_bytes());
            }
            "delete" if argv.len() == 3 => {
                functions::delete(&String::from_utf8_lossy(&argv[2])).map_err(Status::err)?;
                log_libraries(s).await;
                s.reply().ok();
            }
            "flush" if argv.len() <= 3 => {
                if let Some(mode) = argv.get(2) {
                    if !mode.eq_ignore_ascii_case(b"sync") && !mode.eq_ignore_ascii_case(b"async") {
                        return Err(Status::err(
                            "ERR FUNCTION FLUSH only supports SYNC|ASYNC option",
                        ));
                    }
                }
                functions::flush();
                log_libraries(s).await;
                s.reply().ok();
            }
            "list" => list_functions(s, &argv[2..])?,
            "stats" if argv.len() == 2 => {
                let libraries = functions::libraries();
                let count: usize = libraries.iter().map(|l| l.functions.len()).sum();
                let mut reply = s.reply();
                reply.map(2);
                reply.bulk_str("running_script");
                reply.null();
                reply.bulk_str("engines");
                reply.map(1);
                reply.bulk_str("LUA");
                reply.map(2);
                reply.bulk_str("libraries_count");
                reply.int(libraries.len() as i64);
                reply.bulk_str("functions_count");
                reply.int(count as i64);
            }
            "kill" if argv.len() == 2 => kill(s)?,
            "dump" if argv.len() == 2 => {
                let libraries = functions::libraries();
                let dump = payload::dump(libraries.iter().map(|l| l.code.as_slice()));
                s.reply().bulk(&dump);
            }
            "restore" if (3..=4).contains(&argv.len()) => {
                let policy = match argv.get(3) {
                    None => RestorePolicy::Append,
                    Some(p) if p.eq_ignore_ascii_case(b"append") => RestorePolicy::Append,
                    Some(p) if p.eq_ignore_ascii_case(b"replace") => RestorePolicy::Replace,
                    Some(p) if p.eq_ignore_ascii_case(b"flush") => RestorePolicy::Flush,
                    Some(_) => return Err(Status::err(
                        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
                    )),
                };
                let codes = payload::parse(&argv[2]).map_err(Status::err)?;
                functions::restore_dump(&codes, policy).map_err(Status::err)?;
                log_libraries(s).await;
                s.reply().ok();
            }
            "restore" => {
                return Err(Status::err(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try FUNCTION HELP.",
                    String::from_utf8_lossy(&argv[1])
                )))
            }
            "help" if argv.len() == 2 => {
                s.reply().array(FUNCTION_HELP.len());
                FUNCTION_HELP.iter().for_each(|line| s.reply().simple(line));
            }
            _ => return Err(unknown_subcommand("FUNCTION", &argv[1])),
        }
        Ok(())
    }
    .boxed_local()
}

/// FUNCTION HELP, as Redis 7.0 words it.
const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn list_functions(s: &mut Session, options: &[Vec<u8>]) -> Result<(), Status> {
    let (mut pattern, mut with_code) = (None, false);
    let mut i = 0;
    while i < options.len() {
        let option = &options[i];
        if option.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
        } else if option.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            i += 1;
            let Some(value) = options.get(i) else {
                return Err(Status::err("ERR library name argument was not given"));
            };
            pattern = Some(value.clone());
        } else {
            return Err(Status::err(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(option)
            )));
        }
        i += 1;
    }
    let libraries: Vec<_> = functions::libraries()
        .into_iter()
        .filter(|l| {
            pattern
                .as_deref()
                .is_none_or(|p| super::glob::glob_match(p, l.name.as_bytes(), false))
        })
        .collect();
    let mut reply = s.reply();
    reply.array(libraries.len());
    for library in &libraries {
        reply.map(if with_code { 4 } else { 3 });
        reply.bulk_str("library_name");
        reply.bulk_str(&library.name);
        reply.bulk_str("engine");
        reply.bulk_str("LUA");
        reply.bulk_str("functions");
        reply.array(library.functions.len());
        for function in &library.functions {
            reply.map(3);
            reply.bulk_str("name");
            reply.bulk_str(&function.name);
            reply.bulk_str("description");
            match &function.description {
                Some(text) => reply.bulk_str(text),
                None => reply.null(),
            }
            reply.bulk_str("flags");
            reply.set(function.flags.len());
            function.flags.iter().for_each(|f| reply.simple(f));
        }
        if with_code {
            reply.bulk_str("library_code");
            reply.bulk(&library.code);
        }
    }
    Ok(())
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
    row(
        "fcall",
        -3,
        NOSCRIPT | SKIP_MONITOR_FLAGS | STALE,
        fcall,
        "Invokes a function.",
        "7.0.0",
    ),
    row(
        "fcall_ro",
        -3,
        NOSCRIPT | SKIP_MONITOR_FLAGS | STALE | READONLY,
        fcall_ro,
        "Invokes a read-only function.",
        "7.0.0",
    ),
    Spec {
        subcommands: &[
            ("load", -3, NOSCRIPT | WRITE | DENYOOM),
            ("delete", 3, NOSCRIPT | WRITE),
            ("flush", -2, NOSCRIPT | WRITE),
            ("list", -2, NOSCRIPT),
            ("stats", 2, NOSCRIPT | ALLOW_BUSY),
            ("kill", 2, NOSCRIPT | ALLOW_BUSY),
            ("dump", 2, NOSCRIPT),
            ("restore", -3, NOSCRIPT | WRITE | DENYOOM),
            ("help", 2, LOADING | STALE),
        ],
        ..row(
            "function",
            -2,
            0,
            function_command,
            "A container for function commands.",
            "7.0.0",
        )
    },
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
