//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! ```text
//! MULTI     the connection queues every later command (dispatch.rs calls `queue`)
//! EXEC      holds every core the queued commands and the watched keys live on, checks the
//!           watches, runs the commands in order, logs them as ONE record, releases
//! WATCH k   registers the connection's flag on the core owning k (shard/watch.rs); a
//!           change to k marks it, and EXEC aborts with a null reply
//! ```
//!
//! Atomicity comes from the multi-core path (core/multi.rs): EXEC holds its cores for its
//! whole run (two-phase locking), so no client anywhere sees part of it, and its record
//! gets one LSN while the holds are in place, so a crash keeps all of it or none. Inside
//! the record, a single-shard command is a CMD op (its arguments and clock) and a command
//! over several cores contributes the physical ops it records (`Scope`).
//!
//! A transaction of single-key commands (and PING, ECHO, TIME) holds only its keys and
//! its watched keys on each core (core/hold.rs), so commands and other transactions on
//! other keys run beside it, and runs each core's commands in one step (`run_grouped`):
//! one round trip per core. Anything else (scripts, KEYS, operations over several cores)
//! holds whole cores and runs command by command.
//!
//! A command with a queuing error (unknown, wrong arity, refused, keys across cores for a
//! single-shard command) fails the transaction: EXEC answers EXECABORT. Errors while
//! running are replies inside EXEC's array, as in Redis.

use super::session::Session;
use super::{flags::*, table, Handler, Spec, Status, ALL_KEYS, NO_KEYS};
use crate::core::exec::{execute_in_step, StepReply};
use crate::core::multi::MultiCore;
use crate::core::stopwatch::Stopwatch;
use crate::shard::notify::Event;
use crate::shard::slot::key_core;
use crate::shard::watch::WatchFlag;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// The commands queued since MULTI.
#[derive(Default)]
pub struct Queue {
    commands: Vec<(u16, Argv)>,
    /// A command was refused while queuing: EXEC will answer EXECABORT.
    failed: bool,
    /// The queued commands' flags together: EXEC is denyoom when one of them is.
    flags: u32,
}

/// A connection's watched keys (database, key) and the flag their cores mark.
#[derive(Default)]
pub struct Watching {
    flag: Arc<WatchFlag>,
    keys: Vec<(usize, Vec<u8>)>,
}

impl Watching {
    /// The watched (database, key) pairs grouped by the core owning each key.
    fn by_core(&self, cores: usize) -> BTreeMap<usize, Vec<(usize, Vec<u8>)>> {
        let mut groups: BTreeMap<usize, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
        for (db, key) in &self.keys {
            groups
                .entry(key_core(key, cores))
                .or_default()
                .push((*db, key.clone()));
        }
        groups
    }
}

/// The commands MULTI does not queue: they act on the transaction itself.
pub fn controls_transaction(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Queues a command after MULTI, or refuses it (and with it the transaction).
pub fn queue(session: &mut Session, index: u16, spec: &Spec, flags: u32, argv: Argv) {
    let refusal = if flags & NO_MULTI != 0 {
        Some("ERR Command not allowed inside a transaction")
    } else if matches!(spec.handler, Handler::Shard(_)) && spans_cores(session, spec, &argv) {
        Some("CROSSSLOT Keys in request don't hash to the same slot")
    } else {
        None
    };
    if let Some(text) = refusal {
        session.reply().error(text);
        session.core.stats.borrow_mut().reject(Some(index), text);
        fail_queue(session);
        return;
    }
    if let Some(queue) = session.multi.as_mut() {
        queue.commands.push((index, argv));
        queue.flags |= flags;
        session.info.multi.set(queue.commands.len() as i64);
    }
    session.reply().simple("QUEUED");
}

/// Whether EXEC would run a denyoom command: then it is refused past maxmemory, as
/// Redis refuses it (processCommand looks at the queued commands' flags).
pub fn queued_denyoom(session: &Session) -> bool {
    session
        .multi
        .as_ref()
        .is_some_and(|queue| queue.flags & super::flags::DENYOOM != 0)
}

/// A command was refused after MULTI: the transaction cannot run.
pub fn fail_queue(session: &mut Session) {
    if let Some(queue) = session.multi.as_mut() {
        queue.failed = true;
    }
}

fn spans_cores(session: &Session, spec: &Spec, argv: &[Vec<u8>]) -> bool {
    let cores = session.core.cores;
    let mut owners = spec
        .keys
        .positions(argv.len())
        .map(|at| key_core(&argv[at], cores));
    let first = owners.next();
    owners.any(|core| Some(core) != first)
}

/// The core a queued single-shard command runs on: its keys' (checked while queuing to be
/// one core), or the connection's own for a keyless one.
fn shard_core(session: &Session, spec: &Spec, argv: &[Vec<u8>]) -> usize {
    let cores = session.core.cores;
    spec.keys
        .positions(argv.len())
        .next()
        .map_or(session.core.id, |at| key_core(&argv[at], cores))
}

fn multi(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        if s.multi.is_some() {
            return Err(Status::err("ERR MULTI calls can not be nested"));
        }
        s.multi = Some(Queue::default());
        s.info.multi.set(0);
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

fn discard(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        if s.multi.take().is_none() {
            return Err(Status::err("ERR DISCARD without MULTI"));
        }
        s.info.multi.set(-1);
        unwatch_all(s).await;
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

fn watch(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        if s.multi.is_some() {
            return Err(Status::err("ERR WATCH inside MULTI is not allowed"));
        }
        let db = s.db;
        let watching = s.watching.get_or_insert_with(Watching::default);
        let flag = watching.flag.clone();
        let mut added = Vec::new();
        for key in argv.into_iter().skip(1) {
            if !watching.keys.iter().any(|(d, k)| *d == db && *k == key) {
                watching.keys.push((db, key.clone()));
                added.push(key);
            }
        }
        for key in added {
            let owner = key_core(&key, s.core.cores);
            let flag = flag.clone();
            s.core
                .call(owner, move |core| {
                    let mut shard = core.shard.borrow_mut();
                    let now_ms = shard.now_ms();
                    let stale = shard.dbs[db]
                        .raw_get(&key)
                        .is_some_and(|e| e.expire_at_ms != 0 && e.expire_at_ms <= now_ms);
                    shard.watches.watch(db, &key, &flag, stale);
                })
                .await;
        }
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

fn unwatch(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        unwatch_all(s).await;
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

/// Forgets every watched key of the connection, on the cores that own them.
pub async fn unwatch_all(s: &mut Session) {
    let Some(watching) = s.watching.take() else {
        return;
    };
    for (owner, keys) in watching.by_core(s.core.cores) {
        let flag = watching.flag.clone();
        s.core
            .call(owner, move |core| {
                let mut shard = core.shard.borrow_mut();
                for (db, key) in keys {
                    shard.watches.unwatch(db, &key, &flag);
                }
            })
            .await;
    }
}

/// Ends the connection's transaction state (RESET, a closed connection).
pub async fn reset(s: &mut Session) {
    s.multi = None;
    s.info.multi.set(-1);
    unwatch_all(s).await;
}

fn exec(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        let Some(queue) = s.multi.take() else {
            return Err(Status::err("ERR EXEC without MULTI"));
        };
        s.info.multi.set(-1);
        if queue.failed {
            unwatch_all(s).await;
            return Err(Status::err(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        let table = table();
        let scripted = queue
            .commands
            .iter()
            .any(|(i, _)| runs_script(table.get(*i)));
        let turn = match scripted {
            true => Some(crate::script::Turn::take().await),
            false => None,
        };
        let locks = transaction_locks(s, &queue.commands);
        let cores = match &locks {
            // Every core it touches has keys to lock there.
            Some(locks) => (0..s.core.cores)
                .filter(|&core| !locks[core].is_empty())
                .collect(),
            None => transaction_cores(s, &queue.commands),
        };
        let mut tx = MultiCore::transaction(s, cores.iter().copied());
        let grouped = locks.is_some()
            && queue
                .commands
                .iter()
                .all(|(index, _)| groupable(table.get(*index)));
        if let Some(locks) = locks {
            tx.lock_keys_only(locks);
        }
        if !grouped || s.watching.is_some() {
            tx.hold_all().await;
        }
        if watch_broken(s, &mut tx).await {
            tx.finish().await;
            drop(turn);
            unwatch_all(s).await;
            s.reply().null_array();
            return Ok(());
        }
        s.exec = Some(tx.scope());
        s.reply().array(queue.commands.len());
        if grouped {
            run_grouped(s, &mut tx, queue.commands).await;
        } else {
            for (index, argv) in queue.commands {
                run_queued(s, &mut tx, index, argv).await;
            }
        }
        s.exec = None;
        tx.finish().await;
        drop(turn);
        // Clients blocked on keys the transaction pushed to were served as each core was
        // released (core/hold.rs).
        unwatch_all(s).await;
        Ok(())
    }
    .boxed_local()
}

/// Commands that touch no shard: they need no core held.
const CONNECTION_ONLY: &[&str] = &["ping", "echo", "select", "time", "unwatch", "hello"];

/// Whether a queued command runs a script, which must take the script turn before the
/// transaction takes its holds (the order every script takes them in).
fn runs_script(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Every core EXEC must hold: those of its single-shard commands, every core when it runs
/// an operation over several cores (their cores depend on their arguments at run time,
/// e.g. after a SELECT), and those of the watched keys, so the watch check and the run are
/// one atomic step.
fn transaction_cores(s: &Session, commands: &[(u16, Argv)]) -> BTreeSet<usize> {
    let table = table();
    let mut cores = BTreeSet::new();
    for (index, argv) in commands {
        let spec = table.get(*index);
        match spec.handler {
            Handler::Shard(_) => {
                cores.insert(shard_core(s, spec, argv));
            }
            // Operations over several cores, and server commands that may start one (KEYS,
            // FLUSHALL, EVAL...): their cores depend on their arguments at run time.
            Handler::Multi(_) | Handler::Conn(_) if !CONNECTION_ONLY.contains(&spec.name) => {
                cores.extend(0..s.core.cores)
            }
            Handler::Multi(_) | Handler::Conn(_) => {}
        }
    }
    if let Some(watching) = &s.watching {
        let owners = watching.keys.iter().map(|(_, k)| key_core(k, s.core.cores));
        cores.extend(owners);
    }
    cores
}

/// The keys EXEC locks on each core instead of whole shards (core/mod.rs `Hold`), when
/// they are all it can touch: every queued command is a single-shard command naming its
/// keys, or touches no shard. The watched keys are locked too, so the watch check and the
/// run stay one atomic step. None: a command may reach keys its arguments do not name (a
/// script, KEYS, SORT ... GET, FLUSHDB, an operation over several cores).
fn transaction_locks(s: &Session, commands: &[(u16, Argv)]) -> Option<Vec<Vec<Vec<u8>>>> {
    let cores = s.core.cores;
    let table = table();
    let mut locks = vec![Vec::new(); cores];
    for (index, argv) in commands {
        let spec = table.get(*index);
        match spec.handler {
            Handler::Shard(_) => {
                let mut positions = spec.keys.positions(argv.len()).peekable();
                positions.peek()?;
                let owner = shard_core(s, spec, argv);
                for at in positions {
                    let key = &argv[at];
                    if key_core(key, cores) != owner {
                        return None;
                    }
                    locks[owner].push(key.clone());
                }
            }
            _ if CONNECTION_ONLY.contains(&spec.name) => {}
            _ => return None,
        }
    }
    if let Some(watching) = &s.watching {
        for (_, key) in &watching.keys {
            locks[key_core(key, cores)].push(key.clone());
        }
    }
    Some(locks)
}

/// Whether a watched key changed since WATCH, or expired since (a key already expired at
/// WATCH time does not count). Runs while EXEC holds every watched key's core. EXEC's
/// reply depends on the watched keys' newest writes either way.
async fn watch_broken(s: &Session, tx: &mut MultiCore) -> bool {
    let Some(watching) = &s.watching else {
        return false;
    };
    let mut expired = false;
    for (owner, keys) in watching.by_core(s.core.cores) {
        let flag = watching.flag.clone();
        expired |= tx
            .run(owner, move |shard| {
                let now_ms = shard.now_ms();
                keys.iter().any(|(db, key)| {
                    shard.journal.read(*db, key);
                    let stale = shard.watches.is_stale(*db, key, &flag);
                    let entry = shard.dbs[*db].raw_get(key);
                    let expired =
                        entry.is_some_and(|e| e.expire_at_ms != 0 && e.expire_at_ms <= now_ms);
                    expired && !stale
                })
            })
            .await;
    }
    expired || watching.flag.is_dirty()
}

/// Whether EXEC may run the command in its core's one step (`run_grouped`): a
/// single-shard command, or one that touches neither a shard nor the session's state.
fn groupable(spec: &Spec) -> bool {
    matches!(spec.handler, Handler::Shard(_)) || matches!(spec.name, "ping" | "echo" | "time")
}

/// A single-shard command run by `run_grouped`, with what it gave back.
struct Ran {
    index: u16,
    argv: Argv,
    reply: StepReply,
    events: Vec<Event>,
}

/// EXEC of single-shard commands (and PING, ECHO, TIME): each core runs all of its
/// commands in one step, in queue order, so the transaction costs one round trip per core
/// instead of one per command. Commands on different cores share no key, so running them
/// core by core is running them in queue order; replies and keyspace events are put back
/// in queue order.
async fn run_grouped(s: &mut Session, tx: &mut MultiCore, commands: Vec<(u16, Argv)>) {
    let table = table();
    let (db, proto) = (s.db, s.proto);
    let mut groups: BTreeMap<usize, Vec<(usize, u16, Argv)>> = BTreeMap::new();
    let mut slots: Vec<Result<Option<Ran>, (u16, Argv)>> = Vec::with_capacity(commands.len());
    for (at, (index, argv)) in commands.into_iter().enumerate() {
        let spec = table.get(index);
        if matches!(spec.handler, Handler::Shard(_)) {
            let owner = shard_core(s, spec, &argv);
            groups.entry(owner).or_default().push((at, index, argv));
            slots.push(Ok(None));
        } else {
            slots.push(Err((index, argv)));
        }
    }
    for (owner, group) in groups {
        let ran = tx
            .run(owner, move |shard| {
                let mut ran = Vec::with_capacity(group.len());
                for (at, index, argv) in group {
                    let reply = execute_in_step(shard, super::table().get(index), db, &argv, proto);
                    let events = shard.take_events();
                    ran.push((
                        at,
                        Ran {
                            index,
                            argv,
                            reply,
                            events,
                        },
                    ));
                }
                ran
            })
            .await;
        for (at, ran) in ran {
            slots[at] = Ok(Some(ran));
        }
    }
    for slot in slots {
        match slot {
            Ok(Some(ran)) => {
                s.out.extend_from_slice(&ran.reply.out);
                let mut stats = s.core.stats.borrow_mut();
                stats.record(ran.index, ran.reply.took);
                if let Some(text) = &ran.reply.error {
                    stats.failed(ran.index, text);
                }
                drop(stats);
                tx.add_events(ran.events);
                let spec = table.get(ran.index);
                if crate::core::monitor::active() && super::monitor::shown(spec, &ran.argv) {
                    super::monitor::feed_client(s, ran.argv.iter().map(Vec::as_slice));
                }
            }
            Ok(None) => unreachable!("every single-shard command ran in its core's step"),
            Err((index, argv)) => run_queued(s, tx, index, argv).await,
        }
    }
}

/// Runs one queued command inside EXEC; its reply (or error) goes into EXEC's array.
async fn run_queued(s: &mut Session, tx: &mut MultiCore, index: u16, argv: Argv) {
    let spec = table().get(index);
    // MONITOR shows a queued command once EXEC ran it (before EXEC's own line).
    let monitored = crate::core::monitor::active() && super::monitor::shown(spec, &argv);
    let line = monitored.then(|| argv.clone());
    match spec.handler {
        Handler::Shard(_) => {
            let owner = shard_core(s, spec, &argv);
            let (db, proto) = (s.db, s.proto);
            let done = tx
                .run(owner, move |shard| {
                    execute_in_step(shard, table().get(index), db, &argv, proto)
                })
                .await;
            s.out.extend_from_slice(&done.out);
            let mut stats = s.core.stats.borrow_mut();
            stats.record(index, done.took);
            if let Some(text) = done.error {
                stats.failed(index, &text);
            }
        }
        Handler::Multi(handler) | Handler::Conn(handler) => {
            super::tracking::remember_queued(s, spec, &argv).await;
            let started = Stopwatch::start();
            let result = handler(s, argv).await;
            let core = s.core.clone();
            core.stats.borrow_mut().record(index, started.elapsed());
            if let Err(status) = result {
                let text = status.text();
                s.reply().error(&text);
                core.stats.borrow_mut().failed(index, &text);
            }
        }
    }
    if let Some(line) = line {
        super::monitor::feed_client(s, line.iter().map(Vec::as_slice));
    }
}

/// A table row of this family: connection-side handlers, as Redis flags them.
const fn tx_row(
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
        "transactions",
        summary,
        since,
    )
}

pub static COMMANDS: &[Spec] = &[
    tx_row(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        multi,
        "Starts a transaction.",
        "1.2.0",
    ),
    tx_row(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE,
        exec,
        "Executes all commands in a transaction.",
        "1.2.0",
    ),
    tx_row(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        discard,
        "Discards a transaction.",
        "2.0.0",
    ),
    Spec {
        keys: ALL_KEYS,
        ..tx_row(
            "watch",
            -2,
            NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
            watch,
            "Monitors changes to keys to determine the execution of a transaction.",
            "2.2.0",
        )
    },
    tx_row(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        unwatch,
        "Forgets about watched keys of a transaction.",
        "2.2.0",
    ),
];
