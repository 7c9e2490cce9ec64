//! `redis.call` / `redis.pcall`: a command from a running script, through the same table
//! and handlers as a client's, inside the script's transaction.
//!
//! The script runs synchronously (see mod.rs), so each call drives the async parts of
//! the path to completion with `block_on`: a step on another core is a message that core
//! runs while the transaction holds it, and messages are sent without waiting on this
//! core's executor (`blocking`), which is not polled while the script runs.

use super::convert::{lua_to_arg, reply_to_lua};
use crate::command::session::Session;
use crate::command::{flags, table, Handler};
use crate::core::exec::execute_in_step;
use crate::core::multi::MultiCore;
use crate::resp::Proto;
use crate::shard::slot::key_core;
use mlua::{Lua, MultiValue, Value};
use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering;

/// Keyless commands that read or change every core (MultiCore::all, or a core picked at
/// run time): a script must hold every core to call them.
const EVERY_CORE: &[&str] = &[
    "keys",
    "dbsize",
    "scan",
    "randomkey",
    "swapdb",
    "flushdb",
    "flushall",
    "debug",
];

/// What a running script's calls need.
pub struct CallCtx {
    pub tx: MultiCore,
    /// Runs the calls whose handler needs a session (several cores, server commands):
    /// the script's database and the transaction's scope.
    pub session: Session,
    /// Cores the transaction holds: keys elsewhere are out of the script's reach.
    pub held: Vec<usize>,
    pub read_only: bool,
    /// The protocol replies come to the script in (redis.setresp).
    pub proto: Proto,
}

thread_local! {
    static CTX: RefCell<Option<CallCtx>> = const { RefCell::new(None) };
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread runs a script: messages to other cores must then be sent without
/// awaiting this core's executor.
pub fn blocking() -> bool {
    BLOCKING.get()
}

/// Makes `ctx` the running script's, until `leave`.
pub fn enter(ctx: CallCtx) {
    CTX.set(Some(ctx));
    BLOCKING.set(true);
}

pub fn leave() -> CallCtx {
    BLOCKING.set(false);
    CTX.take().expect("a script left without entering")
}

/// redis.pcall (through a Lua wrapper, lib.rs): (reply, failed), the error as a table.
pub fn raw_call(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    let error = |text: &str| -> mlua::Result<(Value, bool)> {
        let table = lua.create_table()?;
        table.set("err", text)?;
        Ok((Value::Table(table), true))
    };
    let mut argv = Vec::with_capacity(args.len());
    for arg in args.iter() {
        match lua_to_arg(arg) {
            Some(bytes) => argv.push(bytes),
            None => {
                return error("ERR Lua redis lib command arguments must be strings or integers")
            }
        }
    }
    if argv.is_empty() {
        return error("ERR Please specify at least one argument for this redis lib call");
    }
    let Some((index, spec)) = table().lookup(&argv[0]) else {
        return error("ERR Unknown Redis command called from script");
    };
    if !spec.arity_ok(argv.len()) {
        return error("ERR Wrong number of args calling Redis command from script");
    }
    if spec.flags & flags::NOSCRIPT != 0 {
        return error("ERR This Redis command is not allowed from script");
    }
    // A subcommand's own flags count (XGROUP CREATE writes, its row does not).
    let command_flags = spec.flags_for(argv.get(1).map(Vec::as_slice));
    let write = command_flags & flags::WRITE != 0;
    // Redis counts what it may propagate (PUBLISH, PFCOUNT) as a write here.
    let refused_read_only = write || command_flags & flags::MAY_REPLICATE != 0;
    let taken = CTX.with(|cell| cell.borrow_mut().take());
    let Some(mut ctx) = taken else {
        return error("ERR redis.call outside of a running script");
    };
    if refused_read_only && ctx.read_only {
        CTX.set(Some(ctx));
        return error("ERR Write commands are not allowed from read-only scripts.");
    }
    // MONITOR shows a command the script ran ("[db lua]"), not one refused before running.
    let monitored = crate::core::monitor::active() && crate::command::monitor::shown(spec, &argv);
    let line = monitored.then(|| argv.clone());
    let outcome = run(&mut ctx, index, argv);
    if let (Some(line), Ok(_)) = (&line, &outcome) {
        let (core, db) = (&ctx.session.core, ctx.session.db);
        let source = crate::core::monitor::Source::Lua;
        crate::core::monitor::feed(core, db, source, line.iter().map(Vec::as_slice));
    }
    let proto = ctx.proto;
    CTX.set(Some(ctx));
    let encoded = match outcome {
        Ok(encoded) => encoded,
        Err(text) => return error(&text),
    };
    if write && !encoded.starts_with(b"-") {
        super::WROTE.store(true, Ordering::Relaxed);
    }
    match reply_to_lua(lua, &encoded, proto == Proto::Resp3)? {
        Ok(value) => Ok((value, false)),
        Err(table) => Ok((table, true)),
    }
}

/// An error for the script's error handler (sandbox in lib.rs) to take as it is: the
/// marker separates the reply text from what mlua adds around it.
pub fn raised(text: &str) -> mlua::Error {
    mlua::Error::runtime(format!("\u{1}{text}"))
}

/// An error a library function (cjson, cmsgpack) raises, placed at the script line that
/// called it, as Redis's C libraries report theirs (`user_script:N: message`).
pub fn raised_at_caller(lua: &Lua, message: &str) -> mlua::Error {
    let place = lua
        .inspect_stack(1)
        .map(|frame| {
            let line = frame.curr_line();
            match frame.source().short_src {
                Some(source) if line > 0 => format!("{source}:{line}: "),
                _ => String::new(),
            }
        })
        .unwrap_or_default();
    raised(&format!("ERR {place}{message}"))
}

/// redis.call: the reply, or the error reply raised as the script's error.
pub fn raising_call(lua: &Lua, args: MultiValue) -> mlua::Result<Value> {
    match raw_call(lua, args)? {
        (Value::Table(table), true) => {
            let text: mlua::String = table.raw_get("err")?;
            Err(raised(&text.to_string_lossy()))
        }
        (value, _) => Ok(value),
    }
}

/// Runs one command inside the script's transaction; returns its encoded reply, or the
/// text of an error that stops it before it runs.
fn run(ctx: &mut CallCtx, index: u16, argv: Vec<Vec<u8>>) -> Result<Vec<u8>, String> {
    let spec = table().get(index);
    let cores = ctx.session.core.cores;
    // The same positions COMMAND GETKEYS reports, so a movable key (SORT ... STORE, a
    // ZMPOP key) is checked against the held cores like any other.
    let owners: Vec<usize> = crate::command::key_positions(spec, &argv)
        .into_iter()
        .map(|at| key_core(&argv[at], cores))
        .collect();
    let needed: Vec<usize> = if EVERY_CORE.contains(&spec.name) {
        (0..cores).collect()
    } else {
        owners.clone()
    };
    if needed.iter().any(|core| !ctx.held.contains(core)) {
        return Err(
            "ERR Script attempted to access a non local key in a cluster node script".into(),
        );
    }
    match spec.handler {
        Handler::Shard(_) => {
            if owners.windows(2).any(|w| w[0] != w[1]) {
                return Err("CROSSSLOT Keys in request don't hash to the same slot".into());
            }
            let core = owners.first().copied().unwrap_or(ctx.session.core.id);
            if !ctx.held.contains(&core) {
                return Err(
                    "ERR Script attempted to access a non local key in a cluster node script"
                        .into(),
                );
            }
            let (db, proto) = (ctx.session.db, ctx.proto);
            let step = move |shard: &mut crate::shard::Shard| {
                execute_in_step(shard, table().get(index), db, &argv, proto)
            };
            let done = futures::executor::block_on(ctx.tx.run(core, step));
            Ok(done.out)
        }
        Handler::Multi(handler) | Handler::Conn(handler) => {
            let session = &mut ctx.session;
            // CLIENT TRACKING: a multi-core read (MGET over cores) remembers its keys for
            // the script's client, as a client's own does (single-shard reads remember in
            // their step). Messages to held cores are run by them at once (Msg::Call).
            let remembered = crate::command::tracking::remember_queued(session, spec, &argv);
            futures::executor::block_on(remembered);
            session.proto = ctx.proto;
            session.out.clear();
            let result = futures::executor::block_on(handler(session, argv));
            if let Err(status) = result {
                session.out.clear();
                session.reply().error(&status.text());
            }
            Ok(std::mem::take(&mut session.out))
        }
    }
}

/// redis.setresp(2|3): the protocol of the replies the script's calls get.
pub fn set_resp(_: &Lua, version: i64) -> mlua::Result<()> {
    let proto = match version {
        2 => Proto::Resp2,
        3 => Proto::Resp3,
        _ => return Err(mlua::Error::runtime("RESP version must be 2 or 3.")),
    };
    CTX.with(|cell| {
        if let Some(ctx) = cell.borrow_mut().as_mut() {
            ctx.proto = proto;
        }
    });
    Ok(())
}
