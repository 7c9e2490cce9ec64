//! Pub/Sub on one core: the channels and patterns its connections subscribe to, and the
//! mailbox through which each subscribed connection gets its messages.
//!
//! ```text
//! PUBLISH ch msg (any core) --call_all--> every core: deliver to its own subscribers
//!                                           -> Mailbox (encoded frames) -> connection
//! ```
//!
//! Subscriptions live on the subscriber's own core, so delivering is local and a publish
//! is one message per core. Messages from one publisher reach every subscriber in publish
//! order: PUBLISH waits for every core before it replies, and the channel from one core
//! to another keeps order.
//!
//! A subscriber that does not read its messages is disconnected past
//! `client-output-buffer-limit pubsub` (hard limit at once, soft limit held for its
//! seconds), as Redis does, so a slow subscriber never grows memory without bound.

use super::clients::ClientInfo;
use crate::command::glob::glob_match;
use crate::config::params::OutputLimit;
use crate::resp::{Proto, Reply};
use ahash::AHashMap as HashMap;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use super::signal::Signal;

/// A subscribed connection's pending messages, encoded for its protocol.
pub struct Mailbox {
    pub frames: RefCell<Vec<u8>>,
    pub signal: Signal,
    pub proto: Cell<Proto>,
    client: Rc<ClientInfo>,
    /// When the pending bytes first went past the soft limit (None: under it).
    over_soft_since: Cell<Option<Instant>>,
}

impl Mailbox {
    pub fn new(client: Rc<ClientInfo>, proto: Proto) -> Rc<Mailbox> {
        Rc::new(Mailbox {
            frames: RefCell::default(),
            signal: Signal::default(),
            proto: Cell::new(proto),
            client,
            over_soft_since: Cell::new(None),
        })
    }

    /// The pending messages, for the connection to send.
    pub fn take(&self) -> Vec<u8> {
        self.over_soft_since.set(None);
        std::mem::take(&mut *self.frames.borrow_mut())
    }

    /// Queues one frame encoded by the caller (CLIENT TRACKING's invalidations).
    pub fn push_frame(&self, frame: &[u8]) {
        if self.client.killed.get() {
            return;
        }
        let mut frames = self.frames.borrow_mut();
        frames.extend_from_slice(frame);
        self.client.omem.set(frames.len());
        drop(frames);
        self.signal.raise();
    }

    fn deliver(&self, parts: &[&[u8]], limit: OutputLimit) {
        if self.client.killed.get() {
            return;
        }
        let mut frames = self.frames.borrow_mut();
        let mut reply = Reply::new(&mut frames, self.proto.get());
        match reply.proto {
            Proto::Resp2 => reply.array(parts.len()),
            Proto::Resp3 => reply.push(parts.len()),
        }
        parts.iter().for_each(|part| reply.bulk(part));
        let pending = frames.len() as u64;
        drop(frames);
        self.client.omem.set(pending as usize);
        if self.over_limit(pending, limit) {
            self.frames.borrow_mut().clear();
            self.client.kill();
        }
        self.signal.raise();
    }

    /// Appends bytes already encoded (MONITOR's lines, core/monitor.rs), with the same
    /// output limit as messages.
    pub fn deliver_raw(&self, bytes: &[u8], limit: OutputLimit) {
        if self.client.killed.get() {
            return;
        }
        let pending = {
            let mut frames = self.frames.borrow_mut();
            frames.extend_from_slice(bytes);
            frames.len() as u64
        };
        self.client.omem.set(pending as usize);
        if self.over_limit(pending, limit) {
            self.frames.borrow_mut().clear();
            self.client.kill();
        }
        self.signal.raise();
    }

    fn over_limit(&self, pending: u64, limit: OutputLimit) -> bool {
        if limit.hard_bytes > 0 && pending > limit.hard_bytes {
            return true;
        }
        if limit.soft_bytes == 0 || pending <= limit.soft_bytes {
            self.over_soft_since.set(None);
            return false;
        }
        let since = self.over_soft_since.get().unwrap_or_else(Instant::now);
        self.over_soft_since.set(Some(since));
        since.elapsed().as_secs() >= limit.soft_seconds.max(0) as u64
    }
}

/// Which namespace a subscription is in: channels, patterns, shard channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

pub struct PubSub {
    channels: HashMap<Vec<u8>, Vec<Rc<Mailbox>>>,
    patterns: HashMap<Vec<u8>, Vec<Rc<Mailbox>>>,
    shard_channels: HashMap<Vec<u8>, Vec<Rc<Mailbox>>>,
    pub limit: OutputLimit,
}

impl Default for PubSub {
    fn default() -> Self {
        PubSub {
            channels: HashMap::default(),
            patterns: HashMap::default(),
            shard_channels: HashMap::default(),
            limit: crate::config::Settings::default().pubsub_output_limit,
        }
    }
}

impl PubSub {
    fn table(&mut self, kind: Kind) -> &mut HashMap<Vec<u8>, Vec<Rc<Mailbox>>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    pub fn subscribe(&mut self, kind: Kind, name: &[u8], mailbox: &Rc<Mailbox>) {
        let subscribers = self.table(kind).entry(name.to_vec()).or_default();
        if !subscribers.iter().any(|m| Rc::ptr_eq(m, mailbox)) {
            subscribers.push(mailbox.clone());
        }
    }

    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8], mailbox: &Rc<Mailbox>) {
        let table = self.table(kind);
        if let Some(subscribers) = table.get_mut(name) {
            subscribers.retain(|m| !Rc::ptr_eq(m, mailbox));
            if subscribers.is_empty() {
                table.remove(name);
            }
        }
    }

    /// Delivers to this core's subscribers; returns how many received it.
    pub fn publish(&self, channel: &[u8], message: &[u8], shard: bool) -> usize {
        let limit = self.limit;
        if shard {
            let subscribers = self
                .shard_channels
                .get(channel)
                .map_or(&[][..], Vec::as_slice);
            for mailbox in subscribers {
                mailbox.deliver(&[b"smessage", channel, message], limit);
            }
            return subscribers.len();
        }
        let mut received = 0;
        if let Some(subscribers) = self.channels.get(channel) {
            for mailbox in subscribers {
                mailbox.deliver(&[b"message", channel, message], limit);
            }
            received += subscribers.len();
        }
        for (pattern, subscribers) in &self.patterns {
            if glob_match(pattern, channel, false) {
                for mailbox in subscribers {
                    mailbox.deliver(&[b"pmessage", pattern, channel, message], limit);
                }
                received += subscribers.len();
            }
        }
        received
    }

    /// Active channels (with at least one subscriber) matching `pattern`, for PUBSUB.
    pub fn names(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let table = match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        };
        table
            .keys()
            .filter(|name| pattern.is_none_or(|p| glob_match(p, name, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel on this core (PUBSUB NUMSUB / SHARDNUMSUB).
    pub fn count(&self, kind: Kind, name: &[u8]) -> usize {
        let table = match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        };
        table.get(name).map_or(0, Vec::len)
    }

    /// Pattern subscriptions on this core (PUBSUB NUMPAT counts every client's).
    pub fn pattern_subscriptions(&self) -> usize {
        self.patterns.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Rc<ClientInfo> {
        Rc::new(ClientInfo::for_tests())
    }

    #[test]
    fn channels_and_patterns_reach_their_subscribers_in_order() {
        let mut pubsub = PubSub::default();
        let a = Mailbox::new(client(), Proto::Resp2);
        let b = Mailbox::new(client(), Proto::Resp3);
        pubsub.subscribe(Kind::Channel, b"news", &a);
        pubsub.subscribe(Kind::Pattern, b"n*", &b);
        assert_eq!(pubsub.publish(b"news", b"one", false), 2);
        assert_eq!(pubsub.publish(b"news", b"two", false), 2);
        assert_eq!(pubsub.publish(b"other", b"x", false), 0);
        assert_eq!(
            a.take(),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$3\r\none\r\n*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$3\r\ntwo\r\n"
        );
        assert!(b
            .take()
            .starts_with(b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n"));
        pubsub.unsubscribe(Kind::Channel, b"news", &a);
        assert_eq!(pubsub.publish(b"news", b"three", false), 1);
        assert!(pubsub.names(Kind::Channel, None).is_empty());
    }

    #[test]
    fn a_subscriber_past_the_hard_limit_is_disconnected() {
        let mut pubsub = PubSub {
            limit: OutputLimit {
                hard_bytes: 100,
                soft_bytes: 0,
                soft_seconds: 0,
            },
            ..PubSub::default()
        };
        let info = client();
        let slow = Mailbox::new(info.clone(), Proto::Resp2);
        pubsub.subscribe(Kind::Channel, b"c", &slow);
        for _ in 0..10 {
            pubsub.publish(b"c", b"0123456789", false);
        }
        assert!(
            info.killed.get(),
            "the slow subscriber was not disconnected"
        );
        assert!(
            slow.frames.borrow().is_empty(),
            "its messages were not dropped"
        );
    }
}
