//! Blocking commands: the attempt / register / wait loop every blocking command shares
//! (a data type plugs in through `Blockable`), the list ones (BLPOP BRPOP BLMOVE
//! BRPOPLPUSH BLMPOP), and CLIENT UNBLOCK.
//!
//! ```text
//! attempt + register, atomically (one MultiCore operation holding the keys' cores):
//!   data now   -> pop/move as the non-blocking command would, reply
//!   none       -> register a waiter on every core owning one of the keys
//! wait for the first of:
//!   Wakeup::Served  the owning shard served it right after a push (single-core waiters)
//!   Wakeup::Retry   a key spanning cores got data: deregister, attempt again
//!   Unblocked       CLIENT UNBLOCK (TIMEOUT: the timeout reply; ERROR: -UNBLOCKED)
//!   the timeout, or the client disconnecting / being killed: deregister, then use a
//!   Served reply that raced with it, if any (its pop happened)
//! ```
//!
//! Served pops are logged on the owning shard as the deterministic commands they amount
//! to (shard/blocking.rs): `LPOP k 1`, `RPOP a 1` + `LPUSH b v`.
//!
//! Inside EXEC or a script a blocking command does not block: when the non-blocking try
//! finds nothing it answers the timeout reply, as Redis does. Waiters its pushes made
//! servable are served when the transaction ends, not inside it: each core serves them as
//! its last hold is released (core/hold.rs).

use super::args::{is, parse_i64};
use super::list::{self, mpop, mpop_here, parse_end, parse_mpop, reply_mpop, Mpop};
use super::long_double::{self, Parsed};
use super::session::Session;
use super::{flags::*, Handler, KeySpec, Spec, Status, NO_KEYS};
use crate::core::multi::MultiCore;
use crate::resp::{Proto, Reply};
use crate::shard::blocking::{Serve, Waiter, Wakeup};
use crate::shard::list::End;
use crate::shard::slot::key_core;
use crate::shard::{unix_ms, Ctx, Shard};
use futures::channel::mpsc;
use futures::future::{select, Either, LocalBoxFuture};
use futures::{FutureExt, StreamExt};
use std::collections::BTreeMap;
use std::time::Duration;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// How often a blocked connection checks that its client is still there (Redis notices
/// a closed socket at once; we look at it this often while the command waits).
const LIVENESS_CHECK_MS: u64 = 100;

/// Redis 7.0's getTimeoutFromObjectOrReply in seconds: a `long double` (strtold's syntax,
/// hex included) times 1000, cast to a long long. Whatever that cast makes negative
/// (infinity and values past 2^63 ms included) is "timeout is negative"; what truncates
/// to 0 waits forever. Returns the absolute deadline in Unix ms (0: none).
pub(super) fn parse_timeout(arg: &[u8]) -> Result<u64, Status> {
    let negative = || Status::err("ERR timeout is negative");
    let value = match long_double::parse(arg) {
        None => return Err(Status::err("ERR timeout is not a float or out of range")),
        Some(Parsed::Infinite) => return Err(negative()),
        Some(Parsed::Finite(value)) => value,
    };
    let mut text = Vec::new();
    long_double::format_human(value, &mut text);
    match whole_ms(&text) {
        Some(0) => Ok(0),
        Some(ms) if ms > 0 => Ok(unix_ms().saturating_add(ms as u64)),
        _ => Err(negative()),
    }
}

/// Seconds written in plain decimal ("-12.3456") as whole milliseconds, truncated toward
/// zero as a cast does; None past what an i64 holds.
fn whole_ms(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (whole, fraction) = match digits.iter().position(|&c| c == b'.') {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &b""[..]),
    };
    let mut ms: i64 = 0;
    for &digit in whole.iter().chain(fraction.iter().chain(b"000").take(3)) {
        ms = ms.checked_mul(10)?.checked_add((digit - b'0') as i64)?;
    }
    Some(if negative { -ms } else { ms })
}

/// What a blocked command does once it can.
#[derive(Clone)]
enum Request {
    /// BLPOP/BRPOP (`single`: the `[key, element]` reply) and BLMPOP.
    Pop { pop: PopArgs, single: bool },
    /// BLMOVE/BRPOPLPUSH.
    Move {
        src: Vec<u8>,
        dst: Vec<u8>,
        from: End,
        to: End,
    },
}

#[derive(Clone)]
struct PopArgs {
    keys: Vec<Vec<u8>>,
    end: End,
    count: usize,
}

/// A blocking command's data-type side. The attempt / register / wait loop below is
/// shared: sorted-set pops (BZPOPMIN...) and streams (XREAD BLOCK) implement this too.
pub trait Blockable: 'static {
    /// The keys the command waits on, in argument order.
    fn wait_keys(&self) -> &[Vec<u8>];
    /// Keys an attempt writes besides those (BLMOVE's destination): their cores are held
    /// during an attempt, and their waiters served after a successful one.
    fn other_keys(&self) -> &[Vec<u8>] {
        &[]
    }
    /// The non-blocking form, with the cores of every key held: the reply (in `proto`)
    /// when it found something, None when it would block.
    fn try_now<'a>(
        &'a self,
        op: &'a mut MultiCore,
        db: usize,
        cores: usize,
        proto: Proto,
    ) -> LocalBoxFuture<'a, Result<Option<Vec<u8>>, Status>>;
    /// What serves the command on the shard of one of its keys once it has data.
    fn server(&self, proto: Proto) -> Box<dyn Serve>;
    /// The reply when it may not block (inside EXEC or a script) and found nothing: a null
    /// array, as Redis's CLIENT_DENY_BLOCKING path gives for pops.
    fn would_block_reply(&self, reply: &mut Reply<'_>) {
        reply.null_array();
    }
}

impl Blockable for Request {
    /// BLMOVE and BRPOPLPUSH answer a null bulk string there (their timeout is a null
    /// array: Redis's two paths differ).
    fn would_block_reply(&self, reply: &mut Reply<'_>) {
        match self {
            Request::Move { .. } => reply.null(),
            Request::Pop { .. } => reply.null_array(),
        }
    }

    fn wait_keys(&self) -> &[Vec<u8>] {
        match self {
            Request::Pop { pop, .. } => &pop.keys,
            Request::Move { src, .. } => std::slice::from_ref(src),
        }
    }

    fn other_keys(&self) -> &[Vec<u8>] {
        match self {
            Request::Pop { .. } => &[],
            Request::Move { dst, .. } => std::slice::from_ref(dst),
        }
    }

    fn try_now<'a>(
        &'a self,
        op: &'a mut MultiCore,
        db: usize,
        cores: usize,
        proto: Proto,
    ) -> LocalBoxFuture<'a, Result<Option<Vec<u8>>, Status>> {
        async move {
            let got = try_list(op, db, cores, self).await?;
            if !got.found() {
                return Ok(None);
            }
            let mut out = Vec::new();
            let single = matches!(self, Request::Pop { single: true, .. });
            got.reply(&mut Reply::new(&mut out, proto), single);
            Ok(Some(out))
        }
        .boxed_local()
    }

    fn server(&self, proto: Proto) -> Box<dyn Serve> {
        Box::new(ListServe {
            request: self.clone(),
            proto,
        })
    }
}

/// The outcome of a pop or move in reply form.
enum Got {
    Popped(Option<(Vec<u8>, Vec<Vec<u8>>)>),
    Moved(Option<Vec<u8>>),
}

impl Got {
    fn found(&self) -> bool {
        match self {
            Got::Popped(popped) => popped.is_some(),
            Got::Moved(moved) => moved.is_some(),
        }
    }

    fn reply(self, reply: &mut Reply, single: bool) {
        match self {
            Got::Popped(Some((key, values))) if single => {
                reply.array(2);
                reply.bulk(&key);
                reply.bulk(&values[0]);
            }
            Got::Popped(popped) => reply_mpop(reply, popped),
            Got::Moved(Some(value)) => reply.bulk(&value),
            Got::Moved(None) => reply.null(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Serving on the shard

/// A waiter's request as the owning shard serves it.
struct ListServe {
    request: Request,
    proto: Proto,
}

impl Serve for ListServe {
    fn serve(&self, ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut reply = Reply::new(&mut out, self.proto);
        match &self.request {
            Request::Pop { pop, single } => {
                let keys = [key.to_vec()];
                let popped = mpop_here(ctx, &keys, pop.end, pop.count);
                match popped {
                    Ok(None) => return None,
                    Ok(popped) => Got::Popped(popped).reply(&mut reply, *single),
                    // The key holds another type now: not this waiter's business yet.
                    Err(_) => return None,
                }
            }
            Request::Move { src, dst, from, to } => {
                if list::offer(ctx, src) != list::Offer::List {
                    return None;
                }
                match list::move_on_one_core(ctx, src, dst, *from, *to) {
                    Ok(None) => return None,
                    Ok(moved) => Got::Moved(moved).reply(&mut reply, false),
                    // The source is a list, so the destination has the wrong type: Redis
                    // answers the waiter with the error and unblocks it, moving nothing.
                    Err(status) => reply.error(&status.text()),
                }
            }
        }
        Some(out)
    }
}

// ---------------------------------------------------------------------------------------
// Attempt, register, wait

/// What one attempt ended with.
enum Attempt {
    /// Done: the reply.
    Done(Vec<u8>),
    /// Nothing yet: registered on these cores.
    Blocked(Vec<usize>),
    /// Nothing, inside a transaction or script, where a command never blocks.
    WouldBlock,
}

/// The cores owning `keys`, with their keys in argument order.
fn keys_by_core(keys: &[Vec<u8>], cores: usize) -> BTreeMap<usize, Vec<Vec<u8>>> {
    let mut by_core: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
    for key in keys {
        let keys = by_core.entry(key_core(key, cores)).or_default();
        if !keys.contains(key) {
            keys.push(key.clone());
        }
    }
    by_core
}

/// Tries the request now and, if there is nothing, registers the waiter on the cores of
/// its keys, all in one operation holding those cores (a push cannot fall in between).
async fn attempt(
    s: &mut Session,
    request: &impl Blockable,
    wake: &mpsc::UnboundedSender<Wakeup>,
) -> Result<Attempt, Status> {
    let (db, cores, id, proto) = (s.db, s.core.cores, s.id(), s.proto);
    let by_core = keys_by_core(request.wait_keys(), cores);
    let others: Vec<usize> = request
        .other_keys()
        .iter()
        .map(|key| key_core(key, cores))
        .collect();
    let involved: Vec<usize> = by_core
        .keys()
        .copied()
        .chain(others.iter().copied())
        .collect();
    // Held even when every key is on one core: a single-core operation holds nothing
    // between its steps, and a push arriving between the try and the registration would
    // find no waiter to serve, leaving this one blocked with data present.
    let mut op = MultiCore::transaction(s, involved.iter().copied());
    let done = request.try_now(&mut op, db, cores, proto).await;
    if !matches!(done, Ok(None)) {
        // Clients blocked on a key it pushed to (BLMOVE's destination) are served as
        // its holds are released (core/hold.rs), or by EXEC's or the script's.
        op.finish().await;
        return done.map(|reply| Attempt::Done(reply.expect("checked")));
    }
    if s.exec.is_some() {
        // Inside EXEC or a script nothing may wait: the timeout reply, as Redis gives.
        op.finish().await;
        return Ok(Attempt::WouldBlock);
    }
    let local = involved.iter().all(|&c| c == involved[0]);
    for (&core, keys) in &by_core {
        let waiter = Waiter {
            db,
            keys: keys.clone(),
            local,
            serve: Some(request.server(proto)),
            wake: wake.clone(),
        };
        op.run(core, move |shard: &mut Shard| {
            shard.blocked.register(id, waiter)
        })
        .await;
    }
    op.finish().await;
    Ok(Attempt::Blocked(by_core.keys().copied().collect()))
}

/// The non-blocking form of a list request, with its cores held.
async fn try_list(
    op: &mut MultiCore,
    db: usize,
    cores: usize,
    request: &Request,
) -> Result<Got, Status> {
    match request {
        Request::Pop { pop, .. } => {
            let mpop_request = Mpop {
                keys: pop.keys.clone(),
                end: pop.end,
                count: pop.count,
            };
            mpop(op, db, cores, &mpop_request).await.map(Got::Popped)
        }
        Request::Move { src, dst, from, to } => {
            let (src_core, dst_core) = (key_core(src, cores), key_core(dst, cores));
            list::move_element(
                op,
                db,
                (src_core, src.clone()),
                (dst_core, dst.clone()),
                (*from, *to),
            )
            .await
            .map(Got::Moved)
        }
    }
}

/// Removes the waiter from every core it registered on. A reply served before the
/// removal reached its core is already in the channel.
async fn deregister(s: &Session, cores: &[usize]) {
    let id = s.id();
    for &core in cores {
        s.core
            .call(core, move |core| {
                core.shard.borrow_mut().blocked.remove(id);
            })
            .await;
    }
}

/// Whether the client closed its connection (or was killed) while blocked.
fn client_gone(s: &Session) -> bool {
    if s.info.killed.get() {
        return true;
    }
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local on the descriptor this connection owns; it
    // neither consumes data nor blocks.
    let n = unsafe {
        libc::recv(
            s.info.fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n == 0
}

/// How a wait ended.
enum Ended {
    Wakeup(Wakeup),
    TimedOut,
    Gone,
}

/// Waits for a wakeup, the deadline, or the client going away.
async fn wait(s: &Session, rx: &mut mpsc::UnboundedReceiver<Wakeup>, deadline_ms: u64) -> Ended {
    loop {
        let now = unix_ms();
        if deadline_ms != 0 && now >= deadline_ms {
            return Ended::TimedOut;
        }
        let left = match deadline_ms {
            0 => LIVENESS_CHECK_MS,
            deadline => (deadline - now).min(LIVENESS_CHECK_MS),
        };
        let sleep = glommio::timer::sleep(Duration::from_millis(left));
        match select(rx.next(), Box::pin(sleep)).await {
            Either::Left((Some(wakeup), _)) => return Ended::Wakeup(wakeup),
            Either::Left((None, _)) => return Ended::Gone,
            Either::Right(_) if client_gone(s) => return Ended::Gone,
            Either::Right(_) => {}
        }
    }
}

/// Runs a blocking request to its end: attempt, block, serve or retry, time out.
pub async fn block(
    s: &mut Session,
    request: impl Blockable,
    deadline_ms: u64,
) -> Result<(), Status> {
    let (wake, mut rx) = mpsc::unbounded();
    // CLIENT UNBLOCK finds the waiter through the connection's own core.
    let id = s.id();
    let unblock = wake.clone();
    s.core.shard.borrow_mut().blocked.watch_client(id, unblock);
    let result = wait_or_timeout(s, &request, deadline_ms, &wake, &mut rx).await;
    s.core.shard.borrow_mut().blocked.unwatch_client(id);
    match result? {
        Some(Finished::Done(reply)) => s.out.extend_from_slice(&reply),
        Some(Finished::Served { reply, lsn }) => {
            s.out.extend_from_slice(&reply);
            s.depend(lsn);
        }
        Some(Finished::Error(text)) => s.reply().error(&text),
        Some(Finished::WouldBlock) => request.would_block_reply(&mut s.reply()),
        // A null array for every list command, BLMOVE included (Redis 7.0's
        // replyToBlockedClientTimedOut).
        None => s.reply().null_array(),
    }
    Ok(())
}

enum Finished {
    /// The attempt found something: its reply (the operation's LSN is the session's).
    Done(Vec<u8>),
    Served {
        reply: Vec<u8>,
        lsn: u64,
    },
    Error(String),
    /// Nothing, where it may not block.
    WouldBlock,
}

/// The attempt/wait loop; None when the wait ended with nothing (timeout, unblock).
async fn wait_or_timeout(
    s: &mut Session,
    request: &impl Blockable,
    deadline_ms: u64,
    wake: &mpsc::UnboundedSender<Wakeup>,
    rx: &mut mpsc::UnboundedReceiver<Wakeup>,
) -> Result<Option<Finished>, Status> {
    loop {
        let cores = match attempt(s, request, wake).await? {
            Attempt::Done(reply) => return Ok(Some(Finished::Done(reply))),
            Attempt::Blocked(cores) => cores,
            Attempt::WouldBlock => return Ok(Some(Finished::WouldBlock)),
        };
        let mut ended = wait(s, rx, deadline_ms).await;
        if let Ended::Wakeup(Wakeup::Served { reply, lsn }) = ended {
            return Ok(Some(Finished::Served { reply, lsn }));
        }
        deregister(s, &cores).await;
        // A serve that raced with the end of the wait already popped: it wins. An unblock
        // that came with a retry ends the wait; repeated retries are one.
        while let Ok(wakeup) = rx.try_recv() {
            match wakeup {
                Wakeup::Served { reply, lsn } => {
                    return Ok(Some(Finished::Served { reply, lsn }));
                }
                Wakeup::Unblocked { .. } if matches!(ended, Ended::Wakeup(Wakeup::Retry)) => {
                    ended = Ended::Wakeup(wakeup);
                }
                _ => {}
            }
        }
        match ended {
            Ended::Wakeup(Wakeup::Retry) => continue,
            Ended::Wakeup(Wakeup::Unblocked { error: true }) => {
                let text = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
                return Ok(Some(Finished::Error(text.into())));
            }
            Ended::Gone => {
                s.close = true;
                return Ok(None);
            }
            _ => return Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The commands

/// BLPOP/BRPOP key [key ...] timeout.
fn bpop(s: &mut Session, argv: Argv, end: End) -> Done<'_> {
    async move {
        let deadline = parse_timeout(argv.last().expect("arity"))?;
        let keys = argv[1..argv.len() - 1].to_vec();
        let pop = PopArgs {
            keys,
            end,
            count: 1,
        };
        block(s, Request::Pop { pop, single: true }, deadline).await
    }
    .boxed_local()
}

fn blpop(s: &mut Session, argv: Argv) -> Done<'_> {
    bpop(s, argv, End::Left)
}

fn brpop(s: &mut Session, argv: Argv) -> Done<'_> {
    bpop(s, argv, End::Right)
}

/// BLMOVE/BRPOPLPUSH: the ends are parsed before the timeout, as in Redis.
async fn bmove(s: &mut Session, argv: &Argv, from: End, to: End) -> Result<(), Status> {
    let deadline = parse_timeout(argv.last().expect("arity"))?;
    let (src, dst) = (argv[1].clone(), argv[2].clone());
    block(s, Request::Move { src, dst, from, to }, deadline).await
}

fn blmove(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let from = parse_end(&argv[3])?;
        let to = parse_end(&argv[4])?;
        bmove(s, &argv, from, to).await
    }
    .boxed_local()
}

fn brpoplpush(s: &mut Session, argv: Argv) -> Done<'_> {
    async move { bmove(s, &argv, End::Right, End::Left).await }.boxed_local()
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
fn blmpop(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        // The timeout is checked last, after numkeys, the keys' end and COUNT, as Redis
        // checks it (lmpopGenericCommand).
        let Mpop { keys, end, count } = parse_mpop(&argv, 2)?;
        let deadline = parse_timeout(&argv[1])?;
        let pop = PopArgs { keys, end, count };
        block(s, Request::Pop { pop, single: false }, deadline).await
    }
    .boxed_local()
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when a client blocked on a key was unblocked.
pub async fn client_unblock(s: &mut Session, argv: &Argv) -> Result<(), Status> {
    if argv.len() > 4 {
        return Err(Status::err(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&argv[1])
        )));
    }
    let id = parse_i64(&argv[2])?;
    let error = match argv.get(3) {
        None => false,
        Some(reason) if is(reason, "TIMEOUT") => false,
        Some(reason) if is(reason, "ERROR") => true,
        Some(_) => {
            return Err(Status::err(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let found = s
        .core
        .call_all(move |core| {
            let blocked = &core.shard.borrow().blocked;
            blocked.unblock_client(id as u64, error)
        })
        .await;
    s.reply().int(found.contains(&true) as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Table rows

const fn blocking(
    name: &'static str,
    arity: i16,
    flags: u32,
    keys: KeySpec,
    handler: super::AsyncFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        arity,
        flags,
        keys,
        Handler::Multi(handler),
        "list",
        summary,
        since,
    )
}

const ALL_BUT_TIMEOUT: KeySpec = KeySpec {
    first: 1,
    last: -2,
    step: 1,
};

const SRC_DST: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    blocking("blpop", -3, WRITE | NOSCRIPT | BLOCKING, ALL_BUT_TIMEOUT, blpop, "Remove and get the first element in a list, or block until one is available", "2.0.0"),
    blocking("brpop", -3, WRITE | NOSCRIPT | BLOCKING, ALL_BUT_TIMEOUT, brpop, "Remove and get the last element in a list, or block until one is available", "2.0.0"),
    blocking("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, SRC_DST, blmove, "Pop an element from a list, push it to another list and return it; or block until one is available", "6.2.0"),
    blocking("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, SRC_DST, brpoplpush, "Pop an element from a list, push it to another list and return it; or block until one is available", "2.2.0"),
    blocking("blmpop", -5, WRITE | BLOCKING, NO_KEYS, blmpop, "Pop elements from a list, or block until one is available", "7.0.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_convert_like_a_long_double_cast() {
        assert_eq!(whole_ms(b"1.5"), Some(1500));
        assert_eq!(whole_ms(b"0.0009"), Some(0));
        assert_eq!(whole_ms(b"-0.0001"), Some(0));
        assert_eq!(whole_ms(b"-2.25"), Some(-2250));
        assert_eq!(whole_ms(b"12"), Some(12_000));
        assert_eq!(whole_ms(b"9223372036854775807"), None);
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"0.0009"), Ok(0));
        assert!(parse_timeout(b"0x10").unwrap() >= unix_ms() + 15_000);
        let negative = Err(Status::err("ERR timeout is negative"));
        for text in [&b"-1"[..], b"-inf", b"inf", b"1e30", b"9223372036854775807"] {
            assert_eq!(parse_timeout(text), negative, "{text:?}");
        }
        let not_float = Err(Status::err("ERR timeout is not a float or out of range"));
        for text in [&b"nan"[..], b" 1", b"1abc", b""] {
            assert_eq!(parse_timeout(text), not_float, "{text:?}");
        }
    }
}
