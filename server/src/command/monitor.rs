//! MONITOR: the connection becomes a monitor and receives every command executed on any
//! core (core/monitor.rs formats and fans the lines out). Its lines arrive through the
//! same mailbox a subscriber's messages use, so the connection sends them as they come.

use super::session::Session;
use super::{flags::*, Handler, Spec, Status, NO_KEYS};
use crate::core::monitor;
use crate::core::pubsub::Mailbox;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// MONITOR: +OK, then the stream of lines. A client that already monitors gets no
/// second reply, as in Redis; inside EXEC or a script it is refused.
fn monitor_command(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        if s.exec.is_some() {
            return Err(Status::err(
                "ERR MONITOR isn't allowed for DENY_BLOCKING clients",
            ));
        }
        if s.subs.monitoring {
            return Ok(());
        }
        let mailbox = s
            .subs
            .mailbox
            .get_or_insert_with(|| Mailbox::new(s.info.clone(), s.proto))
            .clone();
        s.subs.monitoring = true;
        monitor::start(&s.core, &mailbox);
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

/// Whether MONITOR shows this command: admin commands (by their own or their
/// subcommand's flags: CONFIG GET, DEBUG, SLOWLOG...) are never shown, as in Redis.
pub fn shown(spec: &Spec, argv: &[Vec<u8>]) -> bool {
    let sub_flags = argv.get(1).map_or(0, |sub| {
        spec.subcommands
            .iter()
            .find(|(name, _, _)| sub.eq_ignore_ascii_case(name.as_bytes()))
            .map_or(0, |&(_, _, flags)| flags)
    });
    (spec.flags | sub_flags) & ADMIN == 0
}

/// Feeds a command a client ran (call only when `monitor::active()`).
pub fn feed_client<'a>(s: &Session, args: impl Iterator<Item = &'a [u8]>) {
    let source = monitor::Source::Client(&s.info.addr);
    monitor::feed(&s.core, s.db, source, args);
}

pub static COMMANDS: &[Spec] = &[Spec::row(
    "monitor",
    1,
    ADMIN | NOSCRIPT | LOADING | STALE,
    NO_KEYS,
    Handler::Conn(monitor_command),
    "server",
    "Listens for all requests received by the server in real-time.",
    "1.0.0",
)];
