//! Connection commands: PING, ECHO, HELLO, AUTH, QUIT, RESET, SELECT, CLIENT.

use super::args::{is, parse_i64};
use super::session::{ReplyMode, Session};
use super::{flags::*, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::limits::DATABASES;
use crate::resp::Proto;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

fn ping(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        if argv.len() > 2 {
            return Err(Status::WrongArity("ping".into()));
        }
        if s.subs.active() && s.proto == Proto::Resp2 {
            // A subscribed RESP2 connection reads pushes: PING answers in their shape.
            let mut reply = s.reply();
            reply.array(2);
            reply.bulk(b"pong");
            reply.bulk(argv.get(1).map_or(&b""[..], Vec::as_slice));
            return Ok(());
        }
        match argv.get(1) {
            None => s.reply().simple("PONG"),
            Some(message) => s.reply().bulk(message),
        }
        Ok(())
    }
    .boxed_local()
}

fn echo(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        s.reply().bulk(&argv[1]);
        Ok(())
    }
    .boxed_local()
}

const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Without ACLs configured, the default user has `nopass`: any password is accepted for
/// it, and no other user exists.
fn check_user(user: &[u8]) -> Result<(), Status> {
    if user == b"default" {
        Ok(())
    } else {
        Err(Status::err(WRONGPASS))
    }
}

fn auth(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        match argv.len() {
            2 => return Err(Status::err(NO_PASSWORD)),
            3 => check_user(&argv[1])?,
            _ => return Err(Status::Syntax),
        }
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

fn hello(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let mut proto = s.proto;
        let mut name = None;
        let mut i = 1;
        if let Some(version) = argv.get(1) {
            let version = parse_i64(version).map_err(|_| {
                Status::err("ERR Protocol version is not an integer or out of range")
            })?;
            proto = match version {
                2 => Proto::Resp2,
                3 => Proto::Resp3,
                _ => return Err(Status::err("NOPROTO unsupported protocol version")),
            };
            i = 2;
        }
        while i < argv.len() {
            let more = argv.len() - i - 1;
            if is(&argv[i], "AUTH") && more >= 2 {
                check_user(&argv[i + 1])?;
                i += 3;
            } else if is(&argv[i], "SETNAME") && more >= 1 {
                validate_name(&argv[i + 1])?;
                name = Some(argv[i + 1].clone());
                i += 2;
            } else {
                return Err(Status::Error(
                    format!(
                        "ERR Syntax error in HELLO option '{}'",
                        String::from_utf8_lossy(&argv[i])
                    )
                    .into(),
                ));
            }
        }
        if let Some(name) = name {
            *s.info.name.borrow_mut() = name;
        }
        s.proto = proto;
        s.info.proto.set(proto as u8);
        if proto == Proto::Resp3 {
            // A RESP3 connection takes pushes at any time, even while it neither tracks
            // nor subscribes: another client's REDIRECT invalidations (Redis's
            // sendTrackingMessage) need a mailbox to land in.
            s.mailbox();
        } else if let Some(mailbox) = &s.subs.mailbox {
            mailbox.proto.set(proto);
        }
        let id = s.id() as i64;
        let mut r = s.reply();
        r.map(7);
        r.bulk_str("server");
        r.bulk_str("redis");
        r.bulk_str("version");
        r.bulk_str(crate::command::server::REDIS_VERSION);
        r.bulk_str("proto");
        r.int(proto as i64);
        r.bulk_str("id");
        r.int(id);
        r.bulk_str("mode");
        r.bulk_str("standalone");
        r.bulk_str("role");
        r.bulk_str("master");
        r.bulk_str("modules");
        r.array(0);
        Ok(())
    }
    .boxed_local()
}

fn quit(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        s.reply().ok();
        s.close = true;
        Ok(())
    }
    .boxed_local()
}

fn reset(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        super::transaction::reset(s).await;
        super::pubsub::unsubscribe_all(s);
        super::tracking::disable(s).await;
        s.db = 0;
        s.info.db.set(0);
        s.proto = Proto::Resp2;
        s.info.proto.set(2);
        s.reply_mode = ReplyMode::On;
        s.info.name.borrow_mut().clear();
        s.reply().simple("RESET");
        Ok(())
    }
    .boxed_local()
}

fn select(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let index = parse_i64(&argv[1])?;
        if index < 0 || index >= DATABASES as i64 {
            return Err(Status::err("ERR DB index is out of range"));
        }
        s.db = index as usize;
        s.info.db.set(s.db);
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

/// CLIENT NO-EVICT / NO-TOUCH's argument.
fn on_off(arg: &[u8]) -> Result<bool, Status> {
    if is(arg, "on") {
        Ok(true)
    } else if is(arg, "off") {
        Ok(false)
    } else {
        Err(Status::Syntax)
    }
}

fn validate_name(name: &[u8]) -> Result<(), Status> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Status::err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
    "HELP",
    "    Prints this help.",
];

pub fn reply_help(s: &mut Session, lines: &[&str]) {
    let mut r = s.reply();
    r.array(lines.len());
    for line in lines {
        r.simple(line);
    }
}

fn client(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = argv[1].to_ascii_lowercase();
        let arity_error =
            || Status::WrongArity(format!("client|{}", String::from_utf8_lossy(&sub)));
        match sub.as_slice() {
            b"id" if argv.len() == 2 => {
                let id = s.id() as i64;
                s.reply().int(id)
            }
            b"getname" if argv.len() == 2 => {
                let name = s.info.name.borrow().clone();
                if name.is_empty() {
                    s.reply().null()
                } else {
                    s.reply().bulk(&name)
                }
            }
            b"setname" if argv.len() == 3 => {
                validate_name(&argv[2])?;
                *s.info.name.borrow_mut() = argv[2].clone();
                s.reply().ok();
            }
            b"setinfo" if argv.len() == 4 => {
                if argv[3].iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
                    return Err(Status::Error(
                        format!(
                            "ERR {} cannot contain spaces, newlines or special characters.",
                            String::from_utf8_lossy(&argv[2]).to_ascii_lowercase()
                        )
                        .into(),
                    ));
                }
                if is(&argv[2], "lib-name") {
                    *s.info.lib_name.borrow_mut() = argv[3].clone();
                } else if is(&argv[2], "lib-ver") {
                    *s.info.lib_ver.borrow_mut() = argv[3].clone();
                } else {
                    return Err(Status::Error(
                        format!(
                            "ERR Unrecognized option '{}'",
                            String::from_utf8_lossy(&argv[2])
                        )
                        .into(),
                    ));
                }
                s.reply().ok();
            }
            b"reply" if argv.len() == 3 => {
                if is(&argv[2], "on") {
                    s.reply_mode = ReplyMode::On;
                    s.reply().ok();
                } else if is(&argv[2], "off") {
                    s.reply_mode = ReplyMode::Off;
                } else if is(&argv[2], "skip") {
                    if s.reply_mode != ReplyMode::Off {
                        s.reply_mode = ReplyMode::SkipNext;
                    }
                } else {
                    return Err(Status::Syntax);
                }
            }
            // NO-EVICT exempts the client from client eviction (maxmemory-clients),
            // which Holdfast does not do: the flag is kept and shown, as Redis shows it.
            b"no-evict" if argv.len() == 3 => {
                s.info.no_evict.set(on_off(&argv[2])?);
                s.reply().ok();
            }
            // NO-TOUCH (Redis 7.2): this client's commands leave the keys' LRU/LFU bits
            // alone (core/exec.rs passes it to the shard), except TOUCH itself.
            b"no-touch" if argv.len() == 3 => {
                s.info.no_touch.set(on_off(&argv[2])?);
                s.reply().ok();
            }
            b"info" if argv.len() == 2 => {
                let line = s.info.list_line(s.core.clock_s.get());
                s.reply().verbatim(&format!("{line}\n"));
            }
            b"list" => client_list(s, &argv).await?,
            b"kill" if argv.len() >= 3 => client_kill(s, &argv).await?,
            b"unblock" if argv.len() >= 3 => super::blocking::client_unblock(s, &argv).await?,
            b"pause" if argv.len() == 3 || argv.len() == 4 => client_pause(s, &argv)?,
            b"unpause" if argv.len() == 2 => {
                crate::core::pause::unpause();
                s.reply().ok();
            }
            b"help" if argv.len() == 2 => reply_help(s, CLIENT_HELP),
            b"tracking" if argv.len() >= 3 => super::tracking::client_tracking(s, &argv).await?,
            b"caching" if argv.len() == 3 => super::tracking::client_caching(s, &argv)?,
            b"getredir" if argv.len() == 2 => super::tracking::client_getredir(s),
            b"trackinginfo" if argv.len() == 2 => super::tracking::client_trackinginfo(s),
            b"id" | b"getname" | b"setname" | b"setinfo" | b"reply" | b"info" | b"kill"
            | b"unblock" | b"pause" | b"unpause" | b"help" | b"no-evict" | b"no-touch"
            | b"tracking" | b"caching" | b"getredir" | b"trackinginfo" => return Err(arity_error()),
            _ => return Err(unknown_subcommand("client", &argv[1])),
        }
        Ok(())
    }
    .boxed_local()
}

/// CLIENT PAUSE timeout [WRITE|ALL].
fn client_pause(s: &mut Session, argv: &Argv) -> Result<(), Status> {
    let timeout = parse_i64(&argv[2])
        .map_err(|_| Status::err("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(Status::err("ERR timeout is negative"));
    }
    let all = match argv.get(3) {
        None => true,
        Some(mode) if is(mode, "all") => true,
        Some(mode) if is(mode, "write") => false,
        Some(_) => return Err(Status::err("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    crate::core::pause::pause(timeout as u64, all);
    s.reply().ok();
    Ok(())
}

async fn client_list(s: &mut Session, argv: &Argv) -> Result<(), Status> {
    let mut ids: Option<Vec<u64>> = None;
    // TYPE normal / pubsub: whether to list pubsub clients (or only the others).
    let mut kind_filter: Option<bool> = None;
    let mut i = 2;
    while i < argv.len() {
        if is(&argv[i], "type") && i + 1 < argv.len() {
            let kind = argv[i + 1].to_ascii_lowercase();
            if !matches!(
                kind.as_slice(),
                b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
            ) {
                return Err(Status::Error(
                    format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(&argv[i + 1])
                    )
                    .into(),
                ));
            }
            // No replication yet: a client is a pubsub client while it is subscribed in
            // RESP2 (as Redis's getClientType), a normal client otherwise.
            kind_filter = Some(kind == b"pubsub");
            if kind != b"normal" && kind != b"pubsub" {
                ids = Some(Vec::new());
            }
            i += 2;
        } else if is(&argv[i], "id") && i + 1 < argv.len() {
            let mut list = Vec::new();
            for id in &argv[i + 1..] {
                match parse_i64(id) {
                    Ok(n) if n > 0 => list.push(n as u64),
                    _ => return Err(Status::err("ERR Invalid client ID")),
                }
            }
            ids = Some(list);
            i = argv.len();
        } else {
            return Err(Status::Syntax);
        }
    }
    let lines = s
        .core
        .call_all(move |core| {
            let now = core.clock_s.get();
            core.clients
                .borrow()
                .by_id
                .values()
                .filter(|c| kind_filter.is_none_or(|pubsub| c.is_pubsub() == pubsub))
                .map(|c| (c.id, c.list_line(now)))
                .collect::<Vec<_>>()
        })
        .await;
    let mut all: Vec<(u64, String)> = lines.into_iter().flatten().collect();
    all.sort_by_key(|(id, _)| *id);
    let mut text = String::new();
    for (id, line) in all {
        if ids.as_ref().is_none_or(|ids| ids.contains(&id)) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    s.reply().verbatim(&text);
    Ok(())
}

#[derive(Clone, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<Vec<u8>>,
    kind_matches: bool,
    skip: Option<u64>,
}

async fn client_kill(s: &mut Session, argv: &Argv) -> Result<(), Status> {
    let old_style = argv.len() == 3;
    let mut filter = KillFilter {
        kind_matches: true,
        skip: Some(s.id()),
        ..Default::default()
    };
    if old_style {
        filter.addr = Some(String::from_utf8_lossy(&argv[2]).into_owned());
        filter.skip = None;
    } else {
        let mut i = 2;
        while i < argv.len() {
            let Some(value) = argv.get(i + 1) else {
                return Err(Status::Syntax);
            };
            let text = String::from_utf8_lossy(value).into_owned();
            match argv[i].to_ascii_lowercase().as_slice() {
                b"id" => match parse_i64(value) {
                    Ok(n) if n > 0 => filter.id = Some(n as u64),
                    _ => return Err(Status::err("ERR client-id should be greater than 0")),
                },
                b"addr" => filter.addr = Some(text),
                b"laddr" => filter.laddr = Some(text),
                b"user" => filter.user = Some(value.clone()),
                b"type" => match text.to_ascii_lowercase().as_str() {
                    "normal" => filter.kind_matches = true,
                    "master" | "replica" | "slave" | "pubsub" => filter.kind_matches = false,
                    _ => {
                        return Err(Status::Error(
                            format!("ERR Unknown client type '{text}'").into(),
                        ))
                    }
                },
                b"skipme" => match text.to_ascii_lowercase().as_str() {
                    "yes" => filter.skip = Some(s.id()),
                    "no" => filter.skip = None,
                    _ => return Err(Status::Syntax),
                },
                _ => return Err(Status::Syntax),
            }
            i += 2;
        }
    }
    let f = filter.clone();
    let killed: usize = s
        .core
        .call_all(move |core| {
            let mut count = 0;
            for client in core.clients.borrow().by_id.values() {
                let matches = f.kind_matches
                    && f.id.is_none_or(|id| id == client.id)
                    && f.addr.as_ref().is_none_or(|a| *a == client.addr)
                    && f.laddr.as_ref().is_none_or(|a| *a == client.laddr)
                    && f.user.as_ref().is_none_or(|u| u == b"default")
                    && f.skip != Some(client.id);
                if matches && !client.killed.get() {
                    client.kill();
                    count += 1;
                }
            }
            count
        })
        .await
        .into_iter()
        .sum();
    if old_style {
        if killed == 0 {
            return Err(Status::err("ERR No such client"));
        }
        s.reply().ok();
    } else {
        s.reply().int(killed as i64);
    }
    Ok(())
}

const fn conn(
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
        "connection",
        summary,
        since,
    )
}

pub static COMMANDS: &[Spec] = &[
    conn(
        "ping",
        -1,
        FAST,
        ping,
        "Returns the server's liveliness response.",
        "1.0.0",
    ),
    conn("echo", 2, FAST, echo, "Returns the given string.", "1.0.0"),
    conn(
        "hello",
        -1,
        FAST | NO_AUTH | LOADING | STALE | NOSCRIPT,
        hello,
        "Handshakes with the Redis server.",
        "6.0.0",
    ),
    conn(
        "auth",
        -2,
        FAST | NO_AUTH | LOADING | STALE | NOSCRIPT,
        auth,
        "Authenticates the connection.",
        "1.0.0",
    ),
    conn(
        "quit",
        -1,
        FAST | NO_AUTH | LOADING | STALE | NOSCRIPT | ALLOW_BUSY,
        quit,
        "Closes the connection.",
        "1.0.0",
    ),
    conn(
        "reset",
        1,
        FAST | NO_AUTH | LOADING | STALE | NOSCRIPT,
        reset,
        "Resets the connection.",
        "6.2.0",
    ),
    conn(
        "select",
        2,
        FAST | LOADING | STALE,
        select,
        "Changes the selected database.",
        "1.0.0",
    ),
    Spec {
        subcommands: &[
            ("id", 2, LOADING | STALE),
            ("getname", 2, LOADING | STALE),
            ("setname", 3, LOADING | STALE),
            ("setinfo", 4, LOADING | STALE),
            ("info", 2, LOADING | STALE),
            ("list", -2, ADMIN | LOADING | STALE),
            ("kill", -3, ADMIN | LOADING | STALE),
            ("unblock", -3, ADMIN | LOADING | STALE),
            ("pause", -3, ADMIN | LOADING | STALE),
            ("unpause", 2, ADMIN | LOADING | STALE),
            ("reply", 3, LOADING | STALE),
            ("no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE),
            ("no-touch", 3, NOSCRIPT | LOADING | STALE),
            ("help", 2, LOADING | STALE),
            ("tracking", -3, LOADING | STALE),
            ("caching", 3, LOADING | STALE),
            ("getredir", 2, LOADING | STALE),
            ("trackinginfo", 2, LOADING | STALE),
        ],
        ..conn(
            "client",
            -2,
            0,
            client,
            "A container for client connection commands.",
            "2.4.0",
        )
    },
];
