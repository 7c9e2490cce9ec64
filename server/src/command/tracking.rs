//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR and CLIENT TRACKINGINFO (client-side
//! caching), with Redis 7.0's replies and error texts, and the connection-side parts of
//! tracking: remembering the keys of multi-core read-only commands, and turning tracking
//! off when the connection resets or closes.
//!
//! The tables live elsewhere: which keys were read and which prefixes are watched on the
//! shard owning them (shard/tracking.rs), the tracking clients and their delivery on their
//! connection's core (core/tracking.rs).

use super::session::Session;
use super::{flags, Handler, Spec, Status};
use crate::core::tracking::{Mode, Tracker};
use crate::core::Core;
use crate::shard::slot::key_core;
use crate::shard::tracking::{Caller, Reader};

type Argv = Vec<Vec<u8>>;

fn error(text: &str) -> Status {
    Status::Error(format!("ERR {text}").into())
}

/// What CLIENT TRACKING's options asked for.
#[derive(Default)]
struct Options {
    redirect: Option<(u64, u16)>,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    prefixes: Vec<Vec<u8>>,
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p]... [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
pub async fn client_tracking(s: &mut Session, argv: &Argv) -> Result<(), Status> {
    let options = parse_options(s, argv).await?;
    if argv[2].eq_ignore_ascii_case(b"on") {
        check_switch(s, &options)?;
        if options.bcast {
            if let Some(text) = prefix_collision(s, &options.prefixes) {
                // Redis rejects a prefix overlapping one given after it only when it is
                // the first one; for a later one it replies the error and still enables
                // tracking, replying +OK as well (checkPrefixCollisionsOrReply returns
                // the index, which its caller reads as success).
                s.reply().error(&text.0);
                if !text.1 {
                    return Ok(());
                }
            }
        }
        enable(s, options).await;
    } else if argv[2].eq_ignore_ascii_case(b"off") {
        disable(s).await;
    } else {
        return Err(Status::Syntax);
    }
    s.reply().ok();
    Ok(())
}

async fn parse_options(s: &Session, argv: &Argv) -> Result<Options, Status> {
    let mut options = Options::default();
    let mut at = 3;
    while at < argv.len() {
        let word = argv[at].to_ascii_lowercase();
        let more = at + 1 < argv.len();
        match word.as_slice() {
            b"redirect" if more => {
                at += 1;
                if options.redirect.is_some() {
                    return Err(error("A client can only redirect to a single other client"));
                }
                options.redirect = Some(find_client(s, &argv[at]).await?);
            }
            b"bcast" => options.bcast = true,
            b"optin" => options.optin = true,
            b"optout" => options.optout = true,
            b"noloop" => options.noloop = true,
            b"prefix" if more => {
                at += 1;
                options.prefixes.push(argv[at].clone());
            }
            _ => return Err(Status::Syntax),
        }
        at += 1;
    }
    Ok(options)
}

/// The redirect client: it must exist now (it may leave later), on any core.
async fn find_client(s: &Session, arg: &[u8]) -> Result<(u64, u16), Status> {
    let id = std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| error("value is not an integer or out of range"))?;
    let missing = || error("The client ID you want redirect to does not exist");
    let id = u64::try_from(id).map_err(|_| missing())?;
    let homes = s
        .core
        .call_all(move |core| core.clients.borrow().by_id.contains_key(&id))
        .await;
    let core = homes.iter().position(|&here| here).ok_or_else(missing)?;
    Ok((id, core as u16))
}

/// The checks Redis makes, in its order, before enabling tracking.
fn check_switch(s: &Session, options: &Options) -> Result<(), Status> {
    if !options.bcast && !options.prefixes.is_empty() {
        return Err(error("PREFIX option requires BCAST mode to be enabled"));
    }
    let current = s.core.tracking.get(s.id()).map(|t| t.mode.get());
    if current.is_some_and(|mode| mode.bcast != options.bcast) {
        return Err(error("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if options.bcast && (options.optin || options.optout) {
        return Err(error("OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if options.optin && options.optout {
        return Err(error("You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if current.is_some_and(|mode| (options.optin && mode.optout) || (options.optout && mode.optin))
    {
        return Err(error("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    Ok(())
}

/// Redis's checkPrefixCollisionsOrReply: each new prefix against the client's existing
/// ones (in their sorted order), then against the new ones after it. Returns the error
/// text, and whether Redis goes on regardless (the overlap was found past the first
/// prefix).
fn prefix_collision(s: &Session, prefixes: &[Vec<u8>]) -> Option<(String, bool)> {
    let existing = s
        .core
        .tracking
        .get(s.id())
        .map(|t| t.prefixes.borrow().clone())
        .unwrap_or_default();
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, prefix) in prefixes.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, prefix)) {
            return Some((
                format!("ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.", text(prefix), text(old)),
                false,
            ));
        }
        if let Some(later) = prefixes[i + 1..].iter().find(|p| overlap(p, prefix)) {
            return Some((
                format!("ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.", text(prefix), text(later)),
                i > 0,
            ));
        }
    }
    None
}

/// Redis's enableTracking: the mode is replaced, BCAST prefixes add to the client's.
async fn enable(s: &mut Session, options: Options) {
    let mailbox = s.mailbox();
    let core = s.core.clone();
    let (redirect, redirect_core) = options.redirect.unwrap_or((0, 0));
    let mode = Mode {
        bcast: options.bcast,
        optin: options.optin,
        optout: options.optout,
        noloop: options.noloop,
        redirect,
        redirect_core,
        broken: false,
    };
    let tracker = match core.tracking.get(s.id()) {
        Some(tracker) => {
            tracker.mode.set(mode);
            tracker
        }
        None => Tracker::new(s.info.clone(), mailbox, mode),
    };
    core.tracking.insert(tracker.clone());
    if !options.bcast {
        return;
    }
    let mut added = options.prefixes;
    if added.is_empty() {
        added.push(Vec::new());
    }
    {
        let mut prefixes = tracker.prefixes.borrow_mut();
        for prefix in &added {
            if !prefixes.contains(prefix) {
                prefixes.push(prefix.clone());
            }
        }
        prefixes.sort();
    }
    let reader = Reader {
        id: s.id(),
        core: core.id as u16,
    };
    core.call_all(move |core| {
        let mut shard = core.shard.borrow_mut();
        for prefix in &added {
            shard.tracking.add_prefix(prefix, reader);
        }
    })
    .await;
}

/// Redis's disableTracking (CLIENT TRACKING OFF, RESET, the connection closing): the
/// client's BCAST prefixes go from every shard; keys it read stay remembered until they
/// change, and their invalidations are then dropped.
pub async fn disable(s: &mut Session) {
    let Some(tracker) = s.core.tracking.remove(s.id()) else {
        return;
    };
    if tracker.mode.get().bcast {
        let id = s.id();
        s.core
            .call_all(move |core| core.shard.borrow_mut().tracking.remove_client_prefixes(id))
            .await;
    }
}

/// CLIENT CACHING YES|NO.
pub fn client_caching(s: &mut Session, argv: &Argv) -> Result<(), Status> {
    let Some(tracker) = s.core.tracking.get(s.id()) else {
        return Err(error("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    let mode = tracker.mode.get();
    if argv[2].eq_ignore_ascii_case(b"yes") {
        if !mode.optin {
            return Err(error(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
    } else if argv[2].eq_ignore_ascii_case(b"no") {
        if !mode.optout {
            return Err(error(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
    } else {
        return Err(Status::Syntax);
    }
    tracker.arm_caching();
    s.reply().ok();
    Ok(())
}

/// CLIENT GETREDIR: the redirect client's ID, 0 without one, -1 when not tracking.
pub fn client_getredir(s: &mut Session) {
    let redirect = s
        .core
        .tracking
        .get(s.id())
        .map_or(-1, |t| t.mode.get().redirect as i64);
    s.reply().int(redirect);
}

/// CLIENT TRACKINGINFO: flags, redirect, prefixes.
pub fn client_trackinginfo(s: &mut Session) {
    let tracker = s.core.tracking.get(s.id());
    let flags = tracker.as_deref().map_or(vec!["off"], info_flags);
    let redirect = tracker
        .as_ref()
        .map_or(-1, |t| t.mode.get().redirect as i64);
    let prefixes = tracker
        .as_ref()
        .map(|t| t.prefixes.borrow().clone())
        .unwrap_or_default();
    let mut reply = s.reply();
    reply.map(3);
    reply.bulk_str("flags");
    reply.set(flags.len());
    flags.iter().for_each(|flag| reply.bulk_str(flag));
    reply.bulk_str("redirect");
    reply.int(redirect);
    reply.bulk_str("prefixes");
    reply.array(prefixes.len());
    prefixes.iter().for_each(|prefix| reply.bulk(prefix));
}

fn info_flags(tracker: &Tracker) -> Vec<&'static str> {
    let mode = tracker.mode.get();
    let caching = tracker.caching.get();
    let mut flags = vec!["on"];
    let mut add = |on: bool, flag| {
        if on {
            flags.push(flag);
        }
    };
    add(mode.bcast, "bcast");
    add(mode.optin, "optin");
    add(mode.optin && caching, "caching-yes");
    add(mode.optout, "optout");
    add(mode.optout && caching, "caching-no");
    add(mode.noloop, "noloop");
    add(mode.broken, "broken_redirect");
    flags
}

/// Before a read-only command that does not run on one shard (MGET across cores, EXISTS):
/// its keys are remembered on their shards first. Remembering before the read is as safe
/// as during it: a change after the remembering is invalidated, and the value read is
/// never older than the remembering.
pub async fn remember_before(s: &Session, spec: &Spec, args: &super::Args<'_>) {
    if let Some(caller) = remembering(s, spec) {
        let keys = spec
            .keys
            .positions(args.len())
            .map(|at| args.get(at).to_vec());
        remember_keys(s, caller, keys.collect()).await;
    }
}

/// `remember_before` for a command queued in MULTI, run by EXEC, or called by a script.
pub async fn remember_queued(s: &Session, spec: &Spec, argv: &[Vec<u8>]) {
    if let Some(caller) = remembering(s, spec) {
        let keys = spec.keys.positions(argv.len()).map(|at| argv[at].clone());
        remember_keys(s, caller, keys.collect()).await;
    }
}

/// The caller, if this command's keys are remembered for it (single-shard commands
/// remember on their shard, core/exec.rs).
fn remembering(s: &Session, spec: &Spec) -> Option<Caller> {
    if matches!(spec.handler, Handler::Shard(_))
        || spec.flags & flags::READONLY == 0
        || spec.flags & flags::PUBSUB != 0
        // As Redis, a read-only script's keys are not remembered, only what it reads.
        || matches!(spec.name, "eval_ro" | "evalsha_ro" | "fcall_ro")
    {
        return None;
    }
    let caller = crate::core::tracking::caller(&s.core, &s.info);
    caller.remember.then_some(caller)
}

async fn remember_keys(s: &Session, caller: Caller, keys: Vec<Vec<u8>>) {
    let cores = s.core.cores;
    let mut by_core: Vec<Vec<Vec<u8>>> = vec![Vec::new(); cores];
    for key in keys {
        by_core[key_core(&key, cores)].push(key);
    }
    for (dest, keys) in by_core.into_iter().enumerate() {
        if keys.is_empty() {
            continue;
        }
        s.core
            .call(dest, move |core: &Core| {
                let mut shard = core.shard.borrow_mut();
                let previous = std::mem::replace(&mut shard.tracking.caller, caller);
                keys.iter().for_each(|key| shard.tracking.remember(key));
                let max_keys = core.settings.borrow().tracking_table_max_keys;
                shard.tracking.enforce_limit(max_keys);
                shard.tracking.caller = previous;
                crate::core::tracking::deliver_from(core, &mut shard);
            })
            .await;
    }
}
