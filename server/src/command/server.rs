//! Server commands. (COMMAND COUNT first; the rest of the family follows.)

use super::session::Session;
use super::{flags::*, table, Handler, Spec, Status, NO_KEYS};
use futures::future::LocalBoxFuture;
use futures::FutureExt;

/// The Redis API level Holdfast implements; clients gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

fn command(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        s.reply().int(table().specs.len() as i64);
        Ok(())
    }
    .boxed_local()
}

pub static COMMANDS: &[Spec] = &[Spec {
    name: "command",
    arity: -1,
    flags: LOADING | STALE,
    keys: NO_KEYS,
    handler: Handler::Conn(command),
    group: "server",
    summary: "Returns detailed information about all commands.",
    since: "2.8.13",
    subcommands: &[],
}];
