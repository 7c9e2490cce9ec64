//! Commands about durability: WAIT and WAITAOF, answered truthfully for the mode the
//! server runs in, and DEBUG HOLD-COMMITS (a test aid that holds the log back).
//!
//! With `--durability local` a write's reply leaves only after its record is fdatasynced,
//! so by the time a client can send WAITAOF after a write, that write is on the local disk
//! (numlocal = 1). There are no replicas yet: a request for replicas waits out its
//! timeout and reports 0, as Redis does when too few replicas acknowledge.

use super::args::parse_i64;
use super::session::Session;
use super::{flags::*, Handler, Spec, Status, NO_KEYS};
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::sync::atomic::Ordering;
use std::time::Duration;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// How often a blocked WAIT looks whether its client was killed.
const WAIT_POLL_MS: u64 = 100;

/// Redis's getTimeoutFromObjectOrReply for milliseconds.
fn timeout_ms(arg: &[u8]) -> Result<u64, Status> {
    let ms =
        parse_i64(arg).map_err(|_| Status::err("ERR timeout is not an integer or out of range"))?;
    u64::try_from(ms).map_err(|_| Status::err("ERR timeout is negative"))
}

/// Blocks for `ms` (0: until the client goes away), as a WAIT that cannot be satisfied.
async fn wait_out(s: &Session, ms: u64) {
    let deadline = std::time::Instant::now() + Duration::from_millis(ms);
    loop {
        if s.info.killed.get() {
            return;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if ms != 0 && left.is_zero() {
            return;
        }
        let step = Duration::from_millis(WAIT_POLL_MS);
        glommio::timer::sleep(if ms == 0 { step } else { left.min(step) }).await;
    }
}

/// WAIT numreplicas timeout: the replicas that acknowledged this client's writes.
fn wait(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let wanted = parse_i64(&argv[1])?;
        let ms = timeout_ms(&argv[2])?;
        let acked = 0i64;
        if acked < wanted {
            wait_out(s, ms).await;
        }
        s.reply().int(acked);
        Ok(())
    }
    .boxed_local()
}

/// WAITAOF numlocal numreplicas timeout: [local fsyncs, replica fsyncs] of this client's
/// writes. The log is the AOF here: `local` mode has fsynced every acknowledged write.
fn waitaof(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let (numlocal, numreplicas) = (parse_i64(&argv[1])?, parse_i64(&argv[2])?);
        let ms = timeout_ms(&argv[3])?;
        let journaled = s.core.global.commit.journaled();
        if numlocal > 0 && !journaled {
            return Err(Status::err(
                "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.",
            ));
        }
        let (local, replicas) = (journaled as i64, 0i64);
        if local < numlocal || replicas < numreplicas {
            wait_out(s, ms).await;
        }
        let mut r = s.reply();
        r.array(2);
        r.int(local);
        r.int(replicas);
        Ok(())
    }
    .boxed_local()
}

/// DEBUG HOLD-COMMITS 1|0: while 1, the log core hands nothing new to the log, so writes
/// execute but their replies (and reads of the keys they wrote) wait; 0 lets them go.
pub async fn hold_commits(s: &mut Session, arg: &[u8]) -> Result<(), Status> {
    let hold = parse_i64(arg)? != 0;
    let commit = &s.core.global.commit;
    if !commit.journaled() {
        return Err(Status::err(
            "ERR DEBUG HOLD-COMMITS needs a log: start the server with --durability local",
        ));
    }
    commit.hold.store(hold, Ordering::Release);
    if !hold {
        s.core
            .call(crate::commit::LOG_CORE, |core| core.sequencer().kick())
            .await;
    }
    s.reply().ok();
    Ok(())
}

/// DEBUG FAIL-LOG: the path a failed write or fdatasync of the log takes (the log
/// poisons itself and the sequencer fails the node), started on purpose so tests can show
/// that no held reply is ever sent and the data survives the restart.
pub async fn fail_log(s: &mut Session) -> Result<(), Status> {
    if !s.core.global.commit.journaled() {
        return Err(Status::err(
            "ERR DEBUG FAIL-LOG needs a log: start the server with --durability local",
        ));
    }
    s.core
        .call(crate::commit::LOG_CORE, |core| {
            core.sequencer().fail_on_purpose()
        })
        .await;
    s.reply().ok();
    Ok(())
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
        "generic",
        summary,
        since,
    )
}

pub static COMMANDS: &[Spec] = &[
    cmd(
        "wait",
        3,
        NOSCRIPT,
        wait,
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        "3.0.0",
    ),
    cmd(
        "waitaof",
        4,
        NOSCRIPT,
        waitaof,
        "Blocks until all of the preceding write commands sent by the connection are written to the append-only file of the master and/or replicas.",
        "7.2.0",
    ),
];
