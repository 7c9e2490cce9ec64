//! MONITOR: every command executed, on any core, as one line to every monitoring client,
//! in Redis's format:
//!
//! ```text
//! +1339518083.107412 [0 127.0.0.1:60866] "keys" "*"      a client's command
//! +1339518083.107500 [0 lua] "get" "a"                    a command a script called
//! ```
//!
//! ```text
//! dispatch (connection's core) --monitor::active()?--> feed: format the line
//!   -> this core's Monitors::pending -> its feeder task, once per tick:
//!      deliver here, then one Msg::Call per other core with the same bytes
//!   -> each core: append to every monitor's mailbox (core/pubsub.rs Mailbox)
//! ```
//!
//! Cost while nobody monitors: one relaxed load of `MONITORS` per command. Lines of one
//! connection are fed by its own core in execution order, and one task forwards them
//! over channels that keep order, so every monitor sees a connection's commands in the
//! order they ran.
//!
//! What is shown is what Redis 7.0 shows: commands that ran (an error reply included),
//! not those refused before running (unknown, wrong arity, -LOADING...); never admin
//! commands (CONFIG, DEBUG, MONITOR, SLOWLOG...); AUTH's and HELLO AUTH's secrets as
//! "(redacted)"; EVAL/FCALL and their variants before the commands their script calls,
//! as Redis feeds them before running the script; the commands queued in MULTI when EXEC
//! runs them, before EXEC itself.
//!
//! A monitor is a client of Redis's `normal` class: past `client-output-buffer-limit
//! normal` it is disconnected. That class is unlimited by default in Redis; Holdfast then
//! still cuts a monitor off past `limits::MONITOR_PENDING_BYTES_MAX` so a monitor that
//! stops reading cannot grow memory without bound.

use super::mesh::Msg;
use super::pubsub::Mailbox;
use super::signal::Signal;
use super::Core;
use crate::config::params::OutputLimit;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Monitoring clients on every core: zero skips all of MONITOR's work.
static MONITORS: AtomicUsize = AtomicUsize::new(0);

/// Whether any client monitors (the per-command check).
#[inline]
pub fn active() -> bool {
    MONITORS.load(Ordering::Relaxed) != 0
}

/// This core's monitoring clients and the lines fed here not yet sent.
#[derive(Default)]
pub struct Monitors {
    clients: RefCell<Vec<Rc<Mailbox>>>,
    pending: RefCell<Vec<u8>>,
    signal: Signal,
}

/// Where a command came from, as the line shows it.
pub enum Source<'a> {
    /// A client connection: its address (`127.0.0.1:60866`).
    Client(&'a str),
    /// A script's `redis.call`.
    Lua,
}

/// Scripting commands Redis feeds to monitors before they run (their `skip_monitor`
/// flag stops the feed after the call), so they precede the commands the script calls.
pub fn fed_before_run(name: &str) -> bool {
    matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Makes `mailbox`'s client a monitor on this core.
pub fn start(core: &Core, mailbox: &Rc<Mailbox>) {
    core.monitors.clients.borrow_mut().push(mailbox.clone());
    MONITORS.fetch_add(1, Ordering::Relaxed);
}

/// The client of `mailbox` stops monitoring (RESET, or it disconnected).
pub fn stop(core: &Core, mailbox: &Rc<Mailbox>) {
    let mut clients = core.monitors.clients.borrow_mut();
    let before = clients.len();
    clients.retain(|m| !Rc::ptr_eq(m, mailbox));
    MONITORS.fetch_sub(before - clients.len(), Ordering::Relaxed);
}

/// Feeds one executed command to every monitor. Call only when `active()`.
pub fn feed<'a>(core: &Core, db: usize, source: Source<'_>, args: impl Iterator<Item = &'a [u8]>) {
    let mut pending = core.monitors.pending.borrow_mut();
    format_line(&mut pending, unix_us(), db, source, args);
    drop(pending);
    core.monitors.signal.raise();
}

/// The line's time: Unix microseconds, as Redis prints it.
fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Appends Redis's monitor line for a command.
fn format_line<'a>(
    out: &mut Vec<u8>,
    unix_us: u64,
    db: usize,
    source: Source<'_>,
    args: impl Iterator<Item = &'a [u8]>,
) {
    let _ = write!(
        out,
        "+{}.{:06} [{db} ",
        unix_us / 1_000_000,
        unix_us % 1_000_000
    );
    match source {
        Source::Client(addr) => out.extend_from_slice(addr.as_bytes()),
        Source::Lua => out.extend_from_slice(b"lua"),
    }
    out.push(b']');
    let args: Vec<&[u8]> = args.collect();
    let hidden = redacted(&args);
    for (i, arg) in args.iter().enumerate() {
        out.push(b' ');
        if hidden.contains(&i) {
            out.extend_from_slice(b"\"(redacted)\"");
        } else {
            quote(out, arg);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// The arguments Redis replaces with "(redacted)": AUTH's, and HELLO's AUTH username and
/// password.
fn redacted(args: &[&[u8]]) -> Vec<usize> {
    let name = args.first().copied().unwrap_or_default();
    if name.eq_ignore_ascii_case(b"auth") {
        return (1..args.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"hello") {
        if let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
            return (at + 1..(at + 3).min(args.len())).collect();
        }
    }
    Vec::new()
}

/// Redis's sdscatrepr: a double-quoted string with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`,
/// `\b` escaped and other unprintable bytes as `\xHH`.
fn quote(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'"');
    for &byte in arg {
        match byte {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', byte]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(byte),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push(b'"');
}

/// Starts the task that sends the lines fed on this core to every core's monitors.
pub fn spawn(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            core.monitors.signal.wait().await;
            let lines = std::mem::take(&mut *core.monitors.pending.borrow_mut());
            if lines.is_empty() {
                continue;
            }
            let lines = Arc::new(lines);
            deliver(&core, &lines);
            for dest in (0..core.cores).filter(|&dest| dest != core.id) {
                let lines = lines.clone();
                let call = Box::new(move |core: &Core| deliver(core, &lines));
                core.send(dest, Msg::Call(call)).await;
            }
        }
    })
    .detach();
}

/// Appends `lines` to every monitor of this core, disconnecting one past its limit.
fn deliver(core: &Core, lines: &[u8]) {
    let limit = monitor_limit(core.settings.borrow().normal_output_limit);
    for mailbox in core.monitors.clients.borrow().iter() {
        mailbox.deliver_raw(lines, limit);
    }
}

/// The `normal` class limit, or the fixed backstop when that class is unlimited.
fn monitor_limit(normal: OutputLimit) -> OutputLimit {
    if normal.hard_bytes == 0 && normal.soft_bytes == 0 {
        OutputLimit {
            hard_bytes: crate::limits::MONITOR_PENDING_BYTES_MAX,
            ..normal
        }
    } else {
        normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(db: usize, source: Source<'_>, args: &[&[u8]]) -> String {
        let mut out = Vec::new();
        format_line(
            &mut out,
            1_339_518_083_107_412,
            db,
            source,
            args.iter().copied(),
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_in_redis_format_with_its_escaping() {
        assert_eq!(
            line(0, Source::Client("127.0.0.1:60866"), &[b"keys", b"*"]),
            "+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n"
        );
        assert_eq!(
            line(
                3,
                Source::Lua,
                &[b"set", b"x\"y\\z", b"\x01\n\t\xff\r\x07\x08"]
            ),
            "+1339518083.107412 [3 lua] \"set\" \"x\\\"y\\\\z\" \"\\x01\\n\\t\\xff\\r\\a\\b\"\r\n"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            line(0, Source::Lua, &[b"AUTH", b"user", b"pass"]),
            "+1339518083.107412 [0 lua] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"
        );
        assert_eq!(
            line(0, Source::Lua, &[b"hello", b"3", b"auth", b"u", b"p", b"setname", b"n"]),
            "+1339518083.107412 [0 lua] \"hello\" \"3\" \"auth\" \"(redacted)\" \"(redacted)\" \"setname\" \"n\"\r\n"
        );
    }

    #[test]
    fn an_unlimited_normal_class_still_bounds_a_monitor() {
        let unlimited = OutputLimit {
            hard_bytes: 0,
            soft_bytes: 0,
            soft_seconds: 0,
        };
        assert_eq!(
            monitor_limit(unlimited).hard_bytes,
            crate::limits::MONITOR_PENDING_BYTES_MAX
        );
    }
}
