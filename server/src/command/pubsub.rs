//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE,
//! SUNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB (CHANNELS, NUMSUB, NUMPAT, SHARDCHANNELS,
//! SHARDNUMSUB). The per-core registry and mailboxes are in core/pubsub.rs; the
//! connection sends a subscriber's messages as they arrive (net/connection.rs).
//!
//! Holdfast is not a cluster, so shard channels are a namespace of their own that every
//! core delivers, like plain channels, as Redis does outside cluster mode.

use super::session::Session;
use super::{flags::*, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::core::pubsub::{Kind, Mailbox};
use crate::resp::Proto;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::rc::Rc;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// A connection's subscriptions, in the order it made them.
#[derive(Default)]
pub struct Subscriptions {
    pub mailbox: Option<Rc<Mailbox>>,
    channels: Vec<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    shard_channels: Vec<Vec<u8>>,
    /// MONITOR: the mailbox also receives every executed command (core/monitor.rs).
    pub monitoring: bool,
}

impl Subscriptions {
    fn list(&mut self, kind: Kind) -> &mut Vec<Vec<u8>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// What a (un)subscribe reply counts: channels and patterns, or shard channels.
    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard_channels.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// In RESP2 a subscribed connection may only (un)subscribe, PING, QUIT and RESET.
    pub fn active(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }
}

/// The commands a RESP2 connection may send while subscribed.
pub fn allowed_while_subscribed(name: &str) -> bool {
    matches!(
        name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

fn names(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

/// One (un)subscribe confirmation: a push in RESP3, an array in RESP2.
fn confirm(s: &mut Session, what: &str, name: Option<&[u8]>, count: usize) {
    let subs = &s.subs;
    s.info.subscriptions.set([
        subs.channels.len(),
        subs.patterns.len(),
        subs.shard_channels.len(),
    ]);
    let mut reply = s.reply();
    match reply.proto {
        Proto::Resp2 => reply.array(3),
        Proto::Resp3 => reply.push(3),
    }
    reply.bulk_str(what);
    match name {
        Some(name) => reply.bulk(name),
        None => reply.null(),
    }
    reply.int(count as i64);
}

fn subscribe_to(s: &mut Session, argv: Argv, kind: Kind) {
    let mailbox = s.mailbox();
    let core = s.core.clone();
    core.pubsub.borrow_mut().limit = core.settings.borrow().pubsub_output_limit;
    for name in argv.into_iter().skip(1) {
        if !s.subs.list(kind).contains(&name) {
            core.pubsub.borrow_mut().subscribe(kind, &name, &mailbox);
            s.subs.list(kind).push(name.clone());
        }
        let count = s.subs.count(kind);
        confirm(s, names(kind).0, Some(&name), count);
    }
}

fn unsubscribe_from(s: &mut Session, argv: Argv, kind: Kind) {
    let named: Vec<Vec<u8>> = if argv.len() > 1 {
        argv.into_iter().skip(1).collect()
    } else {
        s.subs.list(kind).clone()
    };
    let what = names(kind).1;
    if named.is_empty() {
        let count = s.subs.count(kind);
        confirm(s, what, None, count);
        return;
    }
    let core = s.core.clone();
    for name in named {
        let list = s.subs.list(kind);
        if let Some(at) = list.iter().position(|n| *n == name) {
            list.remove(at);
            if let Some(mailbox) = &s.subs.mailbox {
                core.pubsub.borrow_mut().unsubscribe(kind, &name, mailbox);
            }
        }
        let count = s.subs.count(kind);
        confirm(s, what, Some(&name), count);
    }
}

/// Drops every subscription of the connection, and stops its MONITOR (RESET, close).
pub fn unsubscribe_all(s: &mut Session) {
    let Some(mailbox) = s.subs.mailbox.take() else {
        return;
    };
    if std::mem::take(&mut s.subs.monitoring) {
        crate::core::monitor::stop(&s.core, &mailbox);
    }
    s.info.subscriptions.set([0; 3]);
    let mut pubsub = s.core.pubsub.borrow_mut();
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(s.subs.list(kind)) {
            pubsub.unsubscribe(kind, &name, &mailbox);
        }
    }
}

macro_rules! sub_handlers {
    ($($name:ident => $body:ident($kind:expr);)*) => {
        $(fn $name(s: &mut Session, argv: Argv) -> Done<'_> {
            async move {
                $body(s, argv, $kind);
                Ok(())
            }
            .boxed_local()
        })*
    };
}

sub_handlers! {
    subscribe => subscribe_to(Kind::Channel);
    psubscribe => subscribe_to(Kind::Pattern);
    ssubscribe => subscribe_to(Kind::Shard);
    unsubscribe => unsubscribe_from(Kind::Channel);
    punsubscribe => unsubscribe_from(Kind::Pattern);
    sunsubscribe => unsubscribe_from(Kind::Shard);
}

async fn publish_on_every_core(
    s: &Session,
    channel: Vec<u8>,
    message: Vec<u8>,
    shard: bool,
) -> usize {
    let channel = std::sync::Arc::new(channel);
    let message = std::sync::Arc::new(message);
    s.core
        .call_all(move |core| core.pubsub.borrow().publish(&channel, &message, shard))
        .await
        .into_iter()
        .sum()
}

fn publish(s: &mut Session, mut argv: Argv) -> Done<'_> {
    async move {
        let message = argv.pop().unwrap_or_default();
        let channel = argv.pop().unwrap_or_default();
        let received = publish_on_every_core(s, channel, message, false).await;
        s.reply().int(received as i64);
        Ok(())
    }
    .boxed_local()
}

fn spublish(s: &mut Session, mut argv: Argv) -> Done<'_> {
    async move {
        let message = argv.pop().unwrap_or_default();
        let channel = argv.pop().unwrap_or_default();
        let received = publish_on_every_core(s, channel, message, true).await;
        s.reply().int(received as i64);
        Ok(())
    }
    .boxed_local()
}

fn pubsub(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
        match (sub.as_str(), argv.len()) {
            ("channels", 2 | 3) | ("shardchannels", 2 | 3) => {
                let kind = if sub == "channels" { Kind::Channel } else { Kind::Shard };
                let pattern = argv.get(2).cloned();
                let mut names: Vec<Vec<u8>> = s
                    .core
                    .call_all(move |core| core.pubsub.borrow().names(kind, pattern.as_deref()))
                    .await
                    .into_iter()
                    .flatten()
                    .collect();
                names.sort();
                names.dedup();
                s.reply().array(names.len());
                names.iter().for_each(|n| s.reply().bulk(n));
            }
            ("numsub", _) | ("shardnumsub", _) => {
                let kind = if sub == "numsub" { Kind::Channel } else { Kind::Shard };
                let channels: Vec<Vec<u8>> = argv[2..].to_vec();
                let wanted = std::sync::Arc::new(channels.clone());
                let per_core = s
                    .core
                    .call_all(move |core| {
                        let pubsub = core.pubsub.borrow();
                        wanted.iter().map(|c| pubsub.count(kind, c)).collect::<Vec<_>>()
                    })
                    .await;
                let mut reply = s.reply();
                reply.map(channels.len());
                for (i, channel) in channels.iter().enumerate() {
                    reply.bulk(channel);
                    reply.int(per_core.iter().map(|counts| counts[i]).sum::<usize>() as i64);
                }
            }
            ("numpat", 2) => {
                let counts = s
                    .core
                    .call_all(|core| core.pubsub.borrow().pattern_subscriptions())
                    .await;
                s.reply().int(counts.into_iter().sum::<usize>() as i64);
            }
            ("help", 2) => {
                let lines = [
                    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CHANNELS [<pattern>]",
                    "    Return the currently active channels matching a <pattern> (default: '*').",
                    "NUMPAT",
                    "    Return number of subscriptions to patterns.",
                    "NUMSUB [<channel> ...]",
                    "    Return the number of subscribers for the specified channels, excluding",
                    "    pattern subscriptions(default: no channels).",
                    "SHARDCHANNELS [<pattern>]",
                    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                    "SHARDNUMSUB [<shardchannel> ...]",
                    "    Return the number of subscribers for the specified shard level channel(s)",
                    "HELP",
                    "    Prints this help.",
                ];
                s.reply().array(lines.len());
                lines.iter().for_each(|line| s.reply().simple(line));
            }
            _ => return Err(unknown_subcommand("PUBSUB", &argv[1])),
        }
        Ok(())
    }
    .boxed_local()
}

const fn row(
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
        "pubsub",
        summary,
        since,
    )
}

pub static COMMANDS: &[Spec] = &[
    row(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        subscribe,
        "Listens for messages published to channels.",
        "2.0.0",
    ),
    row(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        unsubscribe,
        "Stops listening to messages posted to channels.",
        "2.0.0",
    ),
    row(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        psubscribe,
        "Listens for messages published to channels that match one or more patterns.",
        "2.0.0",
    ),
    row(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        punsubscribe,
        "Stops listening to messages published to channels that match one or more patterns.",
        "2.0.0",
    ),
    row(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        ssubscribe,
        "Listens for messages published to shard channels.",
        "7.0.0",
    ),
    row(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE,
        sunsubscribe,
        "Stops listening to messages posted to shard channels.",
        "7.0.0",
    ),
    row(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        publish,
        "Posts a message to a channel.",
        "2.0.0",
    ),
    row(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        spublish,
        "Post a message to a shard channel",
        "7.0.0",
    ),
    Spec {
        subcommands: &[
            ("channels", -2, PUBSUB | LOADING | STALE),
            ("numsub", -2, PUBSUB | LOADING | STALE),
            ("numpat", 2, PUBSUB | LOADING | STALE),
            ("shardchannels", -2, PUBSUB | LOADING | STALE),
            ("shardnumsub", -2, PUBSUB | LOADING | STALE),
            ("help", 2, LOADING | STALE),
        ],
        ..row(
            "pubsub",
            -2,
            0,
            pubsub,
            "A container for Pub/Sub commands.",
            "2.8.0",
        )
    },
];
