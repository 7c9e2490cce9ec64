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
//! Order: a core's events reach every subscriber in the order they were raised, because
//! one task sends them and the channel between two cores keeps order. A multi-core
//! operation hands the events of each step to its coordinating core as the step returns
//! (core/multi.rs), so RENAME's `rename_from` always precedes its `rename_to`. Events
//! raised on different cores by unrelated commands have no order between them, as the
//! commands themselves have none.
//!
//! Durability (a known gap): events go out when raised, before the write they describe is
//! durable, so a subscriber can see an event for a write a crash then loses (Redis makes
//! no promise here; DESIGN.md's "no client sees uncommitted state" does). Holding each
//! core's batches for the watermark was tried and reordered causally related events
//! raised on two cores (a push and the blocked pop it served), since each core's task
//! then wakes on its own: doing it right needs one order over every core's batches.
//!
//! Cost while notifications are off: `take_from` tests one empty vector.

use super::mesh::Msg;
use super::signal::Signal;
use super::Core;
use crate::shard::notify::Event;
use crate::shard::Shard;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

#[derive(Default)]
pub struct Notifier {
    pending: RefCell<Vec<Event>>,
    signal: Signal,
}

impl Notifier {
    /// Queues `events` for delivery after the ones already queued.
    pub fn push(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.pending.borrow_mut().extend(events);
        self.signal.raise();
    }

    /// Queues the events `shard` raised since they were last taken.
    #[inline]
    pub fn take_from(&self, shard: &mut Shard) {
        if !shard.events.is_empty() {
            self.push(shard.take_events());
        }
    }
}

/// Starts the task that delivers this core's events to every core.
pub fn spawn(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            core.notifier.signal.wait().await;
            let events = std::mem::take(&mut *core.notifier.pending.borrow_mut());
            if events.is_empty() {
                continue;
            }
            let events = Arc::new(events);
            deliver(&core, &events);
            for dest in (0..core.cores).filter(|&dest| dest != core.id) {
                let events = events.clone();
                let call = Box::new(move |core: &Core| deliver(core, &events));
                core.send(dest, Msg::Call(call)).await;
            }
        }
    })
    .detach();
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
