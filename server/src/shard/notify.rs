//! Keyspace notifications raised on one shard: the event classes of
//! `notify-keyspace-events`, and the events a command raised, kept in execution order
//! until the core delivers them (core/notify.rs).
//!
//! ```text
//! handler --ctx.notify(class, "event", key)--> Shard::events (one flag test when off)
//!   execute_shard / a multi-core step / the expiry cron takes them
//!   -> core/notify.rs: `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` on
//!      every core, in the order they were raised
//! ```
//!
//! # Adding the events of a new command
//!
//! Call `ctx.notify(class::X, "event", key)` in the handler right after the change it
//! reports, with the event name and class Redis 7.0 uses for it (src/t_*.c:
//! `notifyKeyspaceEvent(NOTIFY_STREAM, "xadd", ...)` becomes
//! `ctx.notify(class::STREAM, "xadd", key)`), and `ctx.notify(class::GENERIC, "del", key)`
//! where Redis deletes a key the command emptied. Nothing else is needed: the events are
//! collected and delivered by whoever runs the handler, on any core. Keys created
//! through `Ctx::set` raise `new` by themselves (class n, Redis's dbAdd); a handler that
//! inserts into `Db` directly calls `ctx.notify_new(key)` first. Eviction raises
//! `class::EVICTED, "evicted"` for each key it removes; a module-free server never uses
//! `class::MODULE` (accepted for CONFIG compatibility only).

/// Event classes, with Redis's bit values (server.h `NOTIFY_*`), so the parsed
/// configuration (config/params.rs) is used as is.
pub mod class {
    /// K: publish on `__keyspace@<db>__:<key>`.
    pub const KEYSPACE: u32 = 1 << 0;
    /// E: publish on `__keyevent@<db>__:<event>`.
    pub const KEYEVENT: u32 = 1 << 1;
    /// g: commands on any type (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 2;
    /// $: string commands.
    pub const STRING: u32 = 1 << 3;
    /// l: list commands.
    pub const LIST: u32 = 1 << 4;
    /// s: set commands.
    pub const SET: u32 = 1 << 5;
    /// h: hash commands.
    pub const HASH: u32 = 1 << 6;
    /// z: sorted set commands.
    pub const ZSET: u32 = 1 << 7;
    /// x: a key expired (lazily or by the active cycle).
    pub const EXPIRED: u32 = 1 << 8;
    /// e: a key was evicted for maxmemory.
    pub const EVICTED: u32 = 1 << 9;
    /// t: stream commands.
    pub const STREAM: u32 = 1 << 10;
    /// m: a read missed its key.
    pub const KEY_MISS: u32 = 1 << 11;
    /// d: module key type events.
    pub const MODULE: u32 = 1 << 13;
    /// n: a key was created.
    pub const NEW: u32 = 1 << 14;
}

/// One event, with where it goes decided when it was raised (K and/or E).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub db: u8,
    pub event: &'static str,
    pub key: Vec<u8>,
    pub keyspace: bool,
    pub keyevent: bool,
}

/// The flags a shard tests: the configured ones, or 0 when neither K nor E is set (Redis
/// then publishes nothing), so the test in `Shard::notify` is the only cost when off.
pub fn effective(configured: u32) -> u32 {
    if configured & (class::KEYSPACE | class::KEYEVENT) == 0 {
        0
    } else {
        configured
    }
}

/// `Shard::notify` on the shard's fields, for code that holds other fields borrowed.
#[inline]
pub fn record(
    events: &mut Vec<Event>,
    flags: u32,
    db: usize,
    class: u32,
    event: &'static str,
    key: &[u8],
) {
    if flags & class == 0 {
        return;
    }
    events.push(Event {
        db: db as u8,
        event,
        key: key.to_vec(),
        keyspace: flags & class::KEYSPACE != 0,
        keyevent: flags & class::KEYEVENT != 0,
    });
}

impl super::Shard {
    /// Records an event of `class` on `key` in database `db` if that class is enabled.
    #[inline]
    pub fn notify(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        record(&mut self.events, self.notify_flags, db, class, event, key);
    }

    /// The events raised since the last call, in the order they were raised.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

impl super::Ctx<'_> {
    /// Runs `f` with `new` events held back, for a command that raises `new` itself where
    /// Redis's order puts it (SMOVE raises the source's events first).
    pub fn without_new<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let flags = self.shard.notify_flags;
        self.shard.notify_flags &= !class::NEW;
        let result = f(self);
        self.shard.notify_flags = flags;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::Shard;

    #[test]
    fn only_enabled_classes_are_recorded_and_nothing_without_k_or_e() {
        let mut shard = Shard::new(1);
        shard.notify(0, class::STRING, "set", b"k");
        assert!(
            shard.take_events().is_empty(),
            "notifications are off by default"
        );
        shard.notify_flags = effective(class::STRING | class::GENERIC);
        shard.notify(0, class::STRING, "set", b"k");
        assert!(
            shard.take_events().is_empty(),
            "no K nor E: nothing is published"
        );
        shard.notify_flags = effective(class::KEYEVENT | class::STRING);
        shard.notify(3, class::STRING, "set", b"k");
        shard.notify(3, class::GENERIC, "del", b"k");
        assert_eq!(
            shard.take_events(),
            vec![Event {
                db: 3,
                event: "set",
                key: b"k".to_vec(),
                keyspace: false,
                keyevent: true,
            }]
        );
    }
}
