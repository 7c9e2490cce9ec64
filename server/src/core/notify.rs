//! Delivering keyspace notifications: the events a core's shard raised (shard/notify.rs)
//! go to the subscribers of every core, as PUBLISH does, on Redis's two channels:
//!
//! ```text
//! execute_shard / multi-core step / expiry cron
//!   -> Notifier::push (in execution order) -> this core's notifier task, once per tick:
//!        deliver here, then one Msg::Call per other core carrying the same events
//!   -> each core: PUBLISH __keyspace@<db>__:<key> <event>   (K)
//!                 PUBLISH __keyevent@<db>__:<event> <key>   (E)
//! ```
//!
//! Order and durability: with a log, a subscriber sees an event only once the write it
//! reports is durable (DESIGN.md invariant 2), and every subscriber sees every core's
//! events in one order, the order they were raised in:
//!
//! ```text
//! push: batch number n (one counter for every core), after_lsn = newest LSN handed out
//!   -> the core's task sends its batches to the log core
//!   -> log core: batches wait by number; batch n goes once n-1 went and the watermark
//!      passed its after_lsn, delivered there and sent to every other core (in order)
//! ```
//!
//! Whatever an event reports was logged at or below the newest LSN handed out when it is
//! pushed, so waiting for that LSN is enough. Numbers follow the order batches were
//! pushed in, and an event is pushed after everything it depends on (a push and the
//! blocked pop it served on another core; RENAME's `rename_from` before `rename_to`, one
//! batch), so one order over the numbers keeps causes before effects: per-core delivery
//! as each core saw its own watermark reordered them. If the log fails, nothing pending
//! is ever delivered. Without a log (`--durability none`) each core sends its events
//! straight to every core, in the order it raised them.
//!
//! Cost while notifications are off: `take_from` tests one empty vector.

use super::mesh::Msg;
use super::signal::Signal;
use super::{Core, Global};
use crate::shard::notify::Event;
use crate::shard::Shard;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

/// Events pushed together, with their place in the order and the LSN they wait for.
struct Batch {
    number: u64,
    after_lsn: u64,
    events: Vec<Event>,
}

#[derive(Default)]
pub struct Notifier {
    pending: RefCell<Vec<Batch>>,
    signal: Signal,
    /// On the log core: every core's batches, waiting for their turn and the watermark.
    order: RefCell<Order>,
}

#[derive(Default)]
struct Order {
    next: u64,
    waiting: BTreeMap<u64, (u64, Vec<Event>)>,
}

impl Notifier {
    /// Queues `events` for delivery after the ones already queued.
    pub fn push(&self, global: &Global, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let number = global.next_event_batch.fetch_add(1, SeqCst);
        let after_lsn = global.next_lsn.load(SeqCst).saturating_sub(1);
        self.pending.borrow_mut().push(Batch {
            number,
            after_lsn,
            events,
        });
        self.signal.raise();
    }

    /// Queues the events `shard` raised since they were last taken.
    #[inline]
    pub fn take_from(&self, global: &Global, shard: &mut Shard) {
        if !shard.events.is_empty() {
            self.push(global, shard.take_events());
        }
    }

    /// The watermark moved: on the log core, batches it lets through go out.
    pub fn durable_advanced(&self) {
        if !self.order.borrow().waiting.is_empty() {
            self.signal.raise();
        }
    }

    /// On the log core: batches join the order.
    fn accept(&self, batches: Vec<Batch>) {
        let mut order = self.order.borrow_mut();
        for batch in batches {
            order
                .waiting
                .insert(batch.number, (batch.after_lsn, batch.events));
        }
    }

    /// On the log core: another core's batches join the order, and the task looks.
    fn accept_remote(&self, batches: Vec<Batch>) {
        self.accept(batches);
        self.signal.raise();
    }

    /// On the log core: the next batch in the order, once its write is durable.
    fn next_ready(&self, watermark: u64) -> Option<Vec<Event>> {
        let mut order = self.order.borrow_mut();
        let (&number, &(after_lsn, _)) = order.waiting.first_key_value()?;
        if number != order.next || after_lsn > watermark {
            return None;
        }
        order.next += 1;
        order.waiting.remove(&number).map(|(_, events)| events)
    }
}

/// Starts the task that delivers this core's events to every core (see the module doc).
pub fn spawn(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        let log_core = crate::commit::LOG_CORE;
        loop {
            core.notifier.signal.wait().await;
            let batches = std::mem::take(&mut *core.notifier.pending.borrow_mut());
            if !core.global.commit.journaled() {
                let events: Vec<Event> = batches.into_iter().flat_map(|b| b.events).collect();
                if !events.is_empty() {
                    broadcast(&core, events).await;
                }
                continue;
            }
            if core.id != log_core {
                if !batches.is_empty() {
                    let call = Box::new(move |core: &Core| core.notifier.accept_remote(batches));
                    core.send(log_core, Msg::Call(call)).await;
                }
                continue;
            }
            core.notifier.accept(batches);
            if core.global.commit.failure().is_some() {
                // Never durable: nothing pending may be shown.
                core.notifier.order.borrow_mut().waiting.clear();
                continue;
            }
            while let Some(events) = core.notifier.next_ready(core.global.commit.watermark()) {
                broadcast(&core, events).await;
            }
        }
    })
    .detach();
}

/// Delivers `events` here and sends them to every other core.
async fn broadcast(core: &Rc<Core>, events: Vec<Event>) {
    let events = Arc::new(events);
    deliver(core, &events);
    for dest in (0..core.cores).filter(|&dest| dest != core.id) {
        let events = events.clone();
        let call = Box::new(move |core: &Core| deliver(core, &events));
        core.send(dest, Msg::Call(call)).await;
    }
}

/// Publishes `events` to this core's subscribers: keyspace channel first, as Redis does.
fn deliver(core: &Core, events: &[Event]) {
    let pubsub = core.pubsub.borrow();
    let mut channel = Vec::new();
    for event in events {
        if event.keyspace {
            keyspace_channel(&mut channel, event);
            pubsub.publish(&channel, event.event.as_bytes(), false);
        }
        if event.keyevent {
            keyevent_channel(&mut channel, event);
            pubsub.publish(&channel, &event.key, false);
        }
    }
}

fn keyspace_channel(channel: &mut Vec<u8>, event: &Event) {
    channel.clear();
    channel.extend_from_slice(format!("__keyspace@{}__:", event.db).as_bytes());
    channel.extend_from_slice(&event.key);
}

fn keyevent_channel(channel: &mut Vec<u8>, event: &Event) {
    channel.clear();
    channel.extend_from_slice(format!("__keyevent@{}__:{}", event.db, event.event).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_are_named_as_redis_names_them() {
        let event = Event {
            db: 3,
            event: "rename_to",
            key: b"k:1".to_vec(),
            keyspace: true,
            keyevent: true,
        };
        let mut channel = Vec::new();
        keyspace_channel(&mut channel, &event);
        assert_eq!(channel, b"__keyspace@3__:k:1");
        keyevent_channel(&mut channel, &event);
        assert_eq!(channel, b"__keyevent@3__:rename_to");
    }
}
