//! From a parsed request to its reply: table lookup, arity check, routing by key.
//!
//! ```text
//! lookup -> arity -> Handler::Shard: keys -> core
//!                       own core    -> execute now (after replies already pending)
//!                       other core  -> outbox run for that core (batched per tick)
//!                    Handler::Multi / Conn -> await the handler on this core
//! ```
//! After MULTI, commands are checked the same way and then queued (transaction.rs).
//!
//! A connection's commands execute in request order: a command for another core (or a
//! multi-core one) is started only after the replies of the run before it came back, so
//! a pipelined "SET a; SET flag" is never observed the other way round.

use super::session::{ReplyMode, Session};
use super::{table, transaction, unknown_command, Args, Handler, Spec, Status};
use crate::core::exec::execute_shard;
use crate::core::stopwatch::Stopwatch;
use crate::shard::slot::key_core;

/// Executes one request; its reply is in `session.out` (or pending in the session's run).
pub async fn dispatch(session: &mut Session, args: Args<'_>) {
    let mode_before = session.reply_mode;
    if mode_before != ReplyMode::On {
        // Replies are about to be dropped: collect pending ones first so the cut is exact.
        session.finish_run().await;
    }
    let before = session.out.len();
    run(session, args).await;
    let in_multi = session.multi.is_some();
    crate::core::tracking::after_command(&session.core, &session.info, in_multi);
    if mode_before != ReplyMode::On || session.reply_mode != ReplyMode::On {
        session.finish_run().await;
        apply_reply_mode(session, before);
    }
}

async fn run(session: &mut Session, mut args: Args<'_>) {
    let Some((index, spec)) = table().lookup(args.name()) else {
        session.finish_run().await;
        let text = unknown_command(&args);
        session.reply().error_bytes(&text);
        session.core.stats.borrow_mut().reject(None, "ERR");
        transaction::fail_queue(session);
        return;
    };
    let sub = (args.len() > 1)
        .then(|| {
            spec.subcommands
                .iter()
                .find(|(name, _, _)| args.get(1).eq_ignore_ascii_case(name.as_bytes()))
        })
        .flatten();
    let flags = spec.flags | sub.map_or(0, |&(_, _, flags)| flags);
    // Redis checks a subcommand's own arity too, naming it `container|sub`.
    let sub_arity_wrong = sub.is_some_and(|&(_, arity, _)| !super::arity_allows(arity, args.len()));
    let sub = sub.map(|(name, _, _)| *name);
    session.info.last_cmd.set((spec.name, sub));
    session.info.last_s.set(session.core.clock_s.get());
    if !spec.arity_ok(args.len()) || sub_arity_wrong {
        session.finish_run().await;
        let name = match sub {
            Some(sub) if sub_arity_wrong => format!("{}|{sub}", spec.name),
            _ => spec.name.to_string(),
        };
        let text = Status::WrongArity(name).text().into_owned();
        session.reply().error(&text);
        session.core.stats.borrow_mut().reject(Some(index), &text);
        transaction::fail_queue(session);
        return;
    }
    if let Some(text) = refusal(session, flags) {
        session.finish_run().await;
        session.reply().error(&text);
        session.core.stats.borrow_mut().reject(Some(index), &text);
        transaction::fail_queue(session);
        return;
    }
    if out_of_memory(session, spec, flags) {
        session.finish_run().await;
        let oom = "OOM command not allowed when used memory > 'maxmemory'.";
        let text = if spec.name == "exec" {
            // Redis's execCommandAbort: the transaction is discarded (watches too).
            transaction::reset(session).await;
            format!("EXECABORT Transaction discarded because of: {oom}")
        } else {
            transaction::fail_queue(session);
            oom.to_string()
        };
        session.reply().error(&text);
        session.core.stats.borrow_mut().reject(Some(index), &text);
        return;
    }
    crate::core::pause::wait(spec.name, flags).await;
    if session.subs.active()
        && session.proto == crate::resp::Proto::Resp2
        && !super::pubsub::allowed_while_subscribed(spec.name)
    {
        session.finish_run().await;
        let text = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            String::from_utf8_lossy(args.name()).to_lowercase()
        );
        session.reply().error(&text);
        session.core.stats.borrow_mut().reject(Some(index), &text);
        return;
    }
    if session.multi.is_some() && !transaction::controls_transaction(spec) {
        session.finish_run().await;
        transaction::queue(session, index, spec, flags, args.to_vec());
        return;
    }
    // MONITOR shows what ran, after it ran (SELECT shows the new database), except the
    // scripting commands Redis shows before the commands their script calls.
    let monitored = crate::core::monitor::active() && flags & super::flags::ADMIN == 0;
    let fed_before = monitored && crate::core::monitor::fed_before_run(spec.name);
    if fed_before {
        super::monitor::feed_client(session, args.all());
    }
    match spec.handler {
        Handler::Shard(_) => route_shard(session, index, spec, &mut args).await,
        Handler::Multi(handler) | Handler::Conn(handler) => {
            session.finish_run().await;
            super::tracking::remember_before(session, spec, &args).await;
            let started = Stopwatch::start();
            let result = handler(session, args.to_vec()).await;
            let took = started.elapsed();
            let core = session.core.clone();
            core.command_timed(index, spec.flags & super::flags::FAST != 0, took);
            core.stats.borrow_mut().record(index, took);
            if let Err(status) = result {
                let text = status.text();
                session.reply().error(&text);
                core.stats.borrow_mut().failed(index, &text);
            }
            core.slowlog_check(took, || args.all(), Some(&session.info));
        }
    }
    if monitored && !fed_before {
        super::monitor::feed_client(session, args.all());
    }
}

/// Why the server cannot run this command now, as the client will read it: the log is
/// still being replayed (Redis's -LOADING), or the log failed.
fn refusal(session: &Session, flags: u32) -> Option<String> {
    if flags & super::flags::ALLOW_BUSY == 0 && script_busy() {
        return Some(
            "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
                .into(),
        );
    }
    let commit = &session.core.global.commit;
    if !commit.journaled() {
        return None;
    }
    if commit.is_loading() && flags & super::flags::LOADING == 0 {
        return Some("LOADING Redis is loading the dataset in memory".into());
    }
    if let Some(reason) = commit.failure() {
        return Some(crate::commit::failure_text(&reason));
    }
    None
}

/// Whether the command is refused for memory (Redis's processCommand with maxmemory set):
/// a command that may grow memory (`denyoom`, or EXEC of a transaction that queued one),
/// or any command queued in MULTI, is refused
/// when the process is over `maxmemory` and no core has a key left that the policy may
/// evict (always, under noeviction). Costs one settings read while no limit is set.
fn out_of_memory(session: &Session, spec: &Spec, flags: u32) -> bool {
    use crate::core::eviction;
    let core = &session.core;
    let maxmemory = core.settings.borrow().maxmemory_bytes;
    if maxmemory == 0 || crate::process::used_memory(core.id) <= maxmemory {
        return false;
    }
    let queued =
        session.multi.is_some() && !matches!(spec.name, "exec" | "discard" | "quit" | "reset");
    let denyoom = flags & super::flags::DENYOOM != 0
        || (spec.name == "exec" && transaction::queued_denyoom(session));
    if !denyoom && !queued {
        return false;
    }
    // A single-shard write evicts on the shard that executes it (core/exec.rs); other
    // commands evict here, on this core's shard.
    if !matches!(spec.handler, Handler::Shard(_)) {
        eviction::perform(core);
    }
    eviction::nothing_to_evict() && crate::process::used_memory(core.id) > maxmemory
}

/// A script has run past `busy-reply-threshold` (on another core: the script's own core
/// reads nothing while it runs).
fn script_busy() -> bool {
    use std::sync::atomic::Ordering;
    let since = crate::script::RUNNING_SINCE_MS.load(Ordering::Relaxed);
    if since == 0 {
        return false;
    }
    let elapsed = crate::shard::unix_ms().saturating_sub(since);
    let threshold = crate::server::CONFIG
        .lock()
        .ok()
        .and_then(|config| {
            let config = config.as_ref()?;
            let value = config.get(b"busy-reply-threshold");
            value.first()?.1.parse::<u64>().ok()
        })
        .unwrap_or(5000);
    threshold > 0 && elapsed > threshold
}

async fn route_shard(session: &mut Session, index: u16, spec: &Spec, args: &mut Args<'_>) {
    let core = session.core.clone();
    let Some(dest) = keys_core(spec, args, core.cores) else {
        session.finish_run().await;
        let text = "CROSSSLOT Keys in request don't hash to the same slot";
        session.reply().error(text);
        core.stats.borrow_mut().reject(Some(index), text);
        return;
    };
    let dest = dest.unwrap_or(core.id);
    if dest == core.id {
        session.finish_run().await;
        if core.is_held() {
            // Transactions holding only other keys let it run (core/hold.rs).
            let keys: Vec<&[u8]> = spec
                .keys
                .positions(args.len())
                .map(|at| args.get(at))
                .collect();
            core.wait_admitted(&keys).await;
        }
        let mut shard = core.shard.borrow_mut();
        let mut reply = crate::resp::Reply::new(&mut session.out, session.proto);
        let (db, info) = (session.db, Some(&*session.info));
        let no_touch = session.info.no_touch.get();
        let caller = crate::core::tracking::caller(&core, info.expect("set above"));
        let dep = execute_shard(
            &core, index, spec, &mut shard, db, args, &mut reply, info, no_touch, caller,
        );
        session.depend(dep);
    } else {
        if session.run.is_some_and(|run| run != dest) {
            session.finish_run().await;
        }
        let no_touch = session.info.no_touch.get();
        let caller = crate::core::tracking::caller(&core, &session.info);
        core.outbox().push(
            dest,
            session.db as u8,
            session.proto,
            index,
            no_touch,
            args.all(),
            caller,
        );
        session.run = Some(dest);
    }
}

/// The core owning every key of the request: `Some(None)` without keys, `None` when the
/// keys live on different cores.
fn keys_core(spec: &Spec, args: &Args<'_>, cores: usize) -> Option<Option<usize>> {
    let mut positions = spec.keys.positions(args.len());
    let Some(first) = positions.next() else {
        return Some(None);
    };
    let core = key_core(args.get(first), cores);
    for position in positions {
        if key_core(args.get(position), cores) != core {
            return None;
        }
    }
    Some(Some(core))
}

/// CLIENT REPLY OFF/SKIP: drop what this command wrote, as Redis's resetClient does.
/// The mode after the command decides: a command that turned replies on (CLIENT REPLY ON)
/// keeps its reply; SKIP set before this command skips it; CLIENT REPLY SKIP (even while
/// skipping) arms the skip for the next command.
fn apply_reply_mode(session: &mut Session, before: usize) {
    match session.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => session.out.truncate(before),
        ReplyMode::Skip => {
            session.out.truncate(before);
            session.reply_mode = ReplyMode::On;
        }
        ReplyMode::SkipNext => {
            session.out.truncate(before);
            session.reply_mode = ReplyMode::Skip;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::keys_core;
    use crate::command::{table, Args};
    use crate::shard::slot::key_core;

    /// Builds a request's argument offsets over one buffer, as the parser does.
    fn request(words: &[&str]) -> (Vec<u8>, Vec<(u32, u32)>) {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for word in words {
            ranges.push((buf.len() as u32, (buf.len() + word.len()) as u32));
            buf.extend_from_slice(word.as_bytes());
        }
        (buf, ranges)
    }

    fn route(words: &[&str], cores: usize) -> Option<Option<usize>> {
        let (buf, ranges) = request(words);
        let spec = table().lookup(words[0].as_bytes()).unwrap().1;
        keys_core(spec, &Args::new(&buf, &ranges), cores)
    }

    #[test]
    fn single_key_commands_go_to_the_owning_core() {
        for cores in [1, 2, 5] {
            for key in ["foo", "bar", "{user1}:a", "x"] {
                let owner = key_core(key.as_bytes(), cores);
                assert_eq!(route(&["GET", key], cores), Some(Some(owner)));
                assert_eq!(
                    route(&["SET", key, "v", "EX", "10"], cores),
                    Some(Some(owner))
                );
            }
        }
    }

    #[test]
    fn keyless_commands_stay_and_spanning_keys_are_refused() {
        assert_eq!(route(&["PING"], 2), Some(None));
        // Hashtags put both keys on one core whatever the core count.
        let core = key_core(b"{t}a", 4);
        assert_eq!(route(&["GETSET", "{t}a", "v"], 4), Some(Some(core)));
        // Find two keys on different cores: a single-shard handler cannot take them.
        let on_core = |core: usize| {
            (0..1000)
                .map(|i| format!("k{i}"))
                .find(|k| key_core(k.as_bytes(), 2) == core)
                .unwrap()
        };
        let (a, b) = (on_core(0), on_core(1));
        let get = table().lookup(b"get").unwrap().1;
        let spec = crate::command::Spec {
            keys: crate::command::ALL_KEYS,
            ..*get
        };
        let (buf, ranges) = request(&["GET", &a, &b]);
        assert_eq!(keys_core(&spec, &Args::new(&buf, &ranges), 2), None);
    }
}
