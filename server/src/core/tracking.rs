//! CLIENT TRACKING on one core: the tracking clients whose connections live here, and
//! delivering the invalidations shards owe them.
//!
//! ```text
//! shard (any core): write -> Note{target id, core} --same core----------> deliver
//!                                                   --other core: outbound -> Msg::Call
//! deliver (target's core): mode now? NOLOOP? -> own mailbox (RESP3 push)
//!                                            -> REDIRECT client (any core): its mailbox,
//!                                               or `tracking-redir-broken` if it is gone
//! ```
//!
//! The client's mode is decided here, where its connection is, at delivery: a note for a
//! client that stopped tracking, left (or entered) BCAST mode, or asked for NOLOOP about
//! its own write is dropped, as Redis checks the target's flags when it invalidates.
//!
//! BCAST invalidations are gathered for one turn of the core's sender task, so the keys
//! a command (or a pipeline, a transaction) changed under one of a client's prefixes come
//! in one message, one message per prefix, as Redis gathers them until it sleeps.
//!
//! Invalidations go through the connection's mailbox (core/pubsub.rs), which the
//! connection sends when it is idle or before its next reply: on the writer's own
//! connection the invalidation therefore follows the write's reply, as Redis 7.0 sends
//! it (its `tracking_pending_keys`). Other connections get theirs asynchronously, as in
//! Redis.

use super::clients::ClientInfo;
use super::mesh::Msg;
use super::pubsub::Mailbox;
use super::signal::Signal;
use super::Core;
use crate::shard::tracking::{Caller, Note, Reader};
use crate::shard::Shard;
use ahash::AHashMap as HashMap;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// A tracking client's options (CLIENT TRACKING ON ...).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// The redirect client's ID (0: none) and the core its connection lives on.
    pub redirect: u64,
    pub redirect_core: u16,
    /// The redirect client was gone when an invalidation was due.
    pub broken: bool,
}

/// One tracking client of this core.
pub struct Tracker {
    pub info: Rc<ClientInfo>,
    pub mailbox: Rc<Mailbox>,
    pub mode: Cell<Mode>,
    /// BCAST prefixes, in the order given.
    pub prefixes: RefCell<Vec<Vec<u8>>>,
    /// CLIENT CACHING YES/NO was given: it decides the next command (or transaction).
    pub caching: Cell<bool>,
}

impl Tracker {
    pub fn new(info: Rc<ClientInfo>, mailbox: Rc<Mailbox>, mode: Mode) -> Rc<Tracker> {
        Rc::new(Tracker {
            info,
            mailbox,
            mode: Cell::new(mode),
            prefixes: RefCell::default(),
            caching: Cell::new(false),
        })
    }

    /// Whether the keys of a read-only command now are remembered for this client
    /// (Redis's trackingRememberKeys).
    pub fn remembers(&self) -> bool {
        let mode = self.mode.get();
        let caching = self.caching.get();
        let allowed = if mode.optin {
            caching
        } else if mode.optout {
            !caching
        } else {
            true
        };
        !mode.bcast && allowed
    }

    /// CLIENT CACHING YES|NO.
    pub fn arm_caching(&self) {
        self.caching.set(true);
    }

    /// CLIENT LIST's view of the mode.
    pub fn publish_flags(&self) {
        let mode = self.mode.get();
        self.info.tracking.set(Some(super::clients::Tracking {
            redirect: mode.redirect,
            broken: mode.broken,
            bcast: mode.bcast,
        }));
    }
}

/// Work for another core.
enum Remote {
    /// An invalidation for a client of that core.
    Note(Note),
    /// A message for a redirect client of that core, on behalf of `from`.
    Redirect {
        to: u64,
        from: Reader,
        keys: Option<Vec<Vec<u8>>>,
        null_resp3: bool,
    },
    /// `client`'s redirect client is gone.
    Broken { client: u64 },
}

/// A connection a redirected invalidation can reach.
type Reachable = (Rc<ClientInfo>, Rc<Mailbox>);

#[derive(Default)]
pub struct Registry {
    trackers: RefCell<HashMap<u64, Rc<Tracker>>>,
    /// Every connection of this core with a mailbox (subscribed or tracking): where a
    /// redirected invalidation can land.
    mailboxes: RefCell<HashMap<u64, Reachable>>,
    outbound: RefCell<Vec<(usize, Remote)>>,
    signal: Signal,
}

impl Registry {
    pub fn get(&self, id: u64) -> Option<Rc<Tracker>> {
        let trackers = self.trackers.borrow();
        if trackers.is_empty() {
            return None;
        }
        trackers.get(&id).cloned()
    }

    pub fn insert(&self, tracker: Rc<Tracker>) {
        tracker.publish_flags();
        self.trackers.borrow_mut().insert(tracker.info.id, tracker);
    }

    pub fn remove(&self, id: u64) -> Option<Rc<Tracker>> {
        let tracker = self.trackers.borrow_mut().remove(&id)?;
        tracker.info.tracking.set(None);
        Some(tracker)
    }

    /// Tracking clients on this core (INFO tracking_clients).
    pub fn len(&self) -> usize {
        self.trackers.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.trackers.borrow().is_empty()
    }

    /// `info`'s connection can receive redirected invalidations through `mailbox`.
    pub fn add_mailbox(&self, info: &Rc<ClientInfo>, mailbox: &Rc<Mailbox>) {
        self.mailboxes
            .borrow_mut()
            .insert(info.id, (info.clone(), mailbox.clone()));
    }

    pub fn has_client(&self, id: u64) -> bool {
        self.mailboxes.borrow().contains_key(&id)
    }

    /// The connection closed: it neither tracks nor receives redirected messages.
    pub fn forget(&self, id: u64) {
        self.remove(id);
        self.mailboxes.borrow_mut().remove(&id);
    }

    /// Delivers a note to its target, a client of this core.
    fn deliver(&self, core: &Core, note: Note) {
        let Some(tracker) = self.get(note.target.id) else {
            return;
        };
        let mode = tracker.mode.get();
        if mode.bcast != note.bcast || (mode.noloop && note.by_target) {
            return;
        }
        self.send(core, &tracker, note.keys);
    }

    /// Every tracking client of this core gets a null invalidation (a flush).
    fn null_to_all(&self, core: &Core) {
        let trackers: Vec<Rc<Tracker>> = self.trackers.borrow().values().cloned().collect();
        for tracker in trackers {
            self.send(core, &tracker, None);
        }
    }

    /// Sends `keys` (None: null) to `tracker`'s connection, or its redirect client.
    fn send(&self, core: &Core, tracker: &Tracker, keys: Option<Vec<Vec<u8>>>) {
        let mode = tracker.mode.get();
        // Redis encodes the null with the tracking client's own protocol.
        let null_resp3 = tracker.info.proto.get() >= 3;
        if mode.redirect == 0 {
            if null_resp3 {
                tracker
                    .mailbox
                    .push_frame(&invalidate_push(keys.as_deref(), true));
            }
            return;
        }
        let from = Reader {
            id: tracker.info.id,
            core: core.id as u16,
        };
        if mode.redirect_core as usize == core.id {
            self.to_redirect(core, mode.redirect, from, keys, null_resp3);
        } else {
            let remote = Remote::Redirect {
                to: mode.redirect,
                from,
                keys,
                null_resp3,
            };
            self.queue(mode.redirect_core as usize, remote);
        }
    }

    /// The redirect client `to`, of this core, gets `from`'s invalidation: a push in
    /// RESP3, a `__redis__:invalidate` message in RESP2 if it is in Pub/Sub mode,
    /// nothing otherwise (as Redis's sendTrackingMessage).
    fn to_redirect(
        &self,
        core: &Core,
        to: u64,
        from: Reader,
        keys: Option<Vec<Vec<u8>>>,
        null_resp3: bool,
    ) {
        let target = self.mailboxes.borrow().get(&to).cloned();
        let Some((info, mailbox)) = target else {
            if core.clients.borrow().by_id.contains_key(&to) {
                // Connected with no mailbox: a RESP2 connection neither subscribed nor
                // tracking (every RESP3 one has a mailbox), which Redis sends nothing.
                return;
            }
            if from.core as usize == core.id {
                self.broken(from.id);
            } else {
                self.queue(from.core as usize, Remote::Broken { client: from.id });
            }
            return;
        };
        if info.proto.get() >= 3 {
            mailbox.push_frame(&invalidate_push(keys.as_deref(), null_resp3));
        } else if info.subscriptions.get().iter().any(|&n| n > 0) {
            mailbox.push_frame(&invalidate_message(keys.as_deref(), null_resp3));
        }
    }

    /// `client`'s redirect client is gone: flag it (CLIENT TRACKINGINFO), and tell a
    /// RESP3 client on its own connection.
    fn broken(&self, client: u64) {
        let Some(tracker) = self.get(client) else {
            return;
        };
        let mut mode = tracker.mode.get();
        mode.broken = true;
        tracker.mode.set(mode);
        tracker.publish_flags();
        if tracker.info.proto.get() >= 3 {
            let mut frame = b">2\r\n$21\r\ntracking-redir-broken\r\n".to_vec();
            frame.extend_from_slice(format!(":{}\r\n", mode.redirect).as_bytes());
            tracker.mailbox.push_frame(&frame);
        }
    }

    fn queue(&self, dest: usize, remote: Remote) {
        self.outbound.borrow_mut().push((dest, remote));
        self.signal.raise();
    }

    fn receive(&self, core: &Core, work: Vec<Remote>) {
        let mut bcast: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
        for remote in work {
            match remote {
                Remote::Note(note) if note.bcast => self.gather_bcast(&mut bcast, note),
                Remote::Note(note) => self.deliver(core, note),
                Remote::Redirect {
                    to,
                    from,
                    keys,
                    null_resp3,
                } => self.to_redirect(core, to, from, keys, null_resp3),
                Remote::Broken { client } => self.broken(client),
            }
        }
        for (client, keys) in bcast {
            let Some(tracker) = self.get(client) else {
                continue;
            };
            let messages = by_prefix(&tracker.prefixes.borrow(), keys);
            for keys in messages {
                self.send(core, &tracker, Some(keys));
            }
        }
    }

    /// Adds a BCAST note's keys to what its client gets this turn, unless the client left
    /// BCAST mode or asked for NOLOOP about its own changes.
    fn gather_bcast(&self, bcast: &mut Vec<(u64, Vec<Vec<u8>>)>, note: Note) {
        let Some(tracker) = self.get(note.target.id) else {
            return;
        };
        let mode = tracker.mode.get();
        if !mode.bcast || (mode.noloop && note.by_target) {
            return;
        }
        let keys = note.keys.unwrap_or_default();
        match bcast.iter_mut().find(|(id, _)| *id == note.target.id) {
            Some((_, gathered)) => gathered.extend(keys),
            None => bcast.push((note.target.id, keys)),
        }
    }
}

/// A BCAST client's keys of one turn as Redis sends them: one message per prefix (its
/// prefixes never overlap, so a key falls under one), prefixes in byte order (`prefixes`
/// is kept sorted), each prefix's keys sorted and each once, as its radix tree gives
/// them. No prefix is the empty prefix: every key. A key under no prefix of the client
/// (it changed them meanwhile) is dropped.
fn by_prefix(prefixes: &[Vec<u8>], keys: Vec<Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
    let mut groups: Vec<Vec<Vec<u8>>> = vec![Vec::new(); prefixes.len().max(1)];
    for key in keys {
        if prefixes.is_empty() {
            groups[0].push(key);
        } else if let Some(at) = prefixes.iter().position(|p| key.starts_with(p)) {
            groups[at].push(key);
        }
    }
    groups.retain(|keys| !keys.is_empty());
    for keys in &mut groups {
        keys.sort();
        keys.dedup();
    }
    groups
}

/// Takes the invalidations `shard` owes after a command or step, delivers those for this
/// core's clients and queues the others for their cores.
pub fn deliver_from(core: &Core, shard: &mut Shard) {
    if !shard.tracking.has_notes() {
        return;
    }
    let (notes, flushed) = shard.tracking.take_notes(core.is_held());
    let registry = &core.tracking;
    if flushed {
        registry.null_to_all(core);
    }
    for note in notes {
        let dest = note.target.core as usize;
        // BCAST notes wait for the sender's turn, which gathers every change of this
        // turn into one message per client, as Redis sends them before it sleeps.
        if dest == core.id && !note.bcast {
            registry.deliver(core, note);
        } else {
            registry.queue(dest, Remote::Note(note));
        }
    }
}

/// Starts the task that sends this core's invalidations for other cores, one message per
/// destination each time it runs.
pub fn spawn_sender(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            core.tracking.signal.wait().await;
            let work = std::mem::take(&mut *core.tracking.outbound.borrow_mut());
            let mut by_core: Vec<Vec<Remote>> = (0..core.cores).map(|_| Vec::new()).collect();
            for (dest, remote) in work {
                by_core[dest].push(remote);
            }
            for (dest, work) in by_core.into_iter().enumerate() {
                if work.is_empty() {
                    continue;
                }
                if dest == core.id {
                    core.tracking.receive(&core, work);
                    continue;
                }
                let call = move |core: &Core| core.tracking.receive(core, work);
                core.send(dest, Msg::Call(Box::new(call))).await;
            }
        }
    })
    .detach();
}

/// Who runs a command of `info`'s connection on `core`, for the shards it reaches.
pub fn caller(core: &Core, info: &ClientInfo) -> Caller {
    Caller {
        id: info.id,
        core: core.id as u16,
        remember: core.tracking.get(info.id).is_some_and(|t| t.remembers()),
        read_only: false,
    }
}

/// `caller` for a multi-core operation, which does not know its command: the connection's
/// current one decides whether it can change keys (EXEC and scripts can; EXISTS cannot).
pub fn operation_caller(core: &Core, info: &ClientInfo) -> Caller {
    let (name, sub) = info.last_cmd.get();
    let flags = crate::command::table()
        .lookup(name.as_bytes())
        .map_or(0, |(_, spec)| {
            let sub = spec.subcommands.iter().find(|(n, _, _)| Some(*n) == sub);
            spec.flags | sub.map_or(0, |&(_, _, flags)| flags)
        });
    let read_only = flags & crate::command::flags::READONLY != 0;
    Caller {
        read_only,
        ..caller(core, info)
    }
}

/// A command of `info`'s connection ended: CLIENT CACHING's flag lasts until the next
/// command, or the whole transaction, as Redis's resetClient keeps it while the client is
/// in MULTI and after any CLIENT command (CACHING itself, but also TRACKINGINFO).
pub fn after_command(core: &Core, info: &ClientInfo, in_multi: bool) {
    let Some(tracker) = core.tracking.get(info.id) else {
        return;
    };
    if !in_multi && info.last_cmd.get().0 != "client" {
        tracker.caching.set(false);
    }
}

/// `>2 invalidate [keys]` (or the null).
fn invalidate_push(keys: Option<&[Vec<u8>]>, null_resp3: bool) -> Vec<u8> {
    let mut frame = b">2\r\n$10\r\ninvalidate\r\n".to_vec();
    payload(&mut frame, keys, null_resp3);
    frame
}

/// RESP2 redirection: `message __redis__:invalidate [keys]`.
fn invalidate_message(keys: Option<&[Vec<u8>]>, null_resp3: bool) -> Vec<u8> {
    let mut frame = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec();
    payload(&mut frame, keys, null_resp3);
    frame
}

fn payload(frame: &mut Vec<u8>, keys: Option<&[Vec<u8>]>, null_resp3: bool) {
    let Some(keys) = keys else {
        frame.extend_from_slice(if null_resp3 { b"_\r\n" } else { b"$-1\r\n" });
        return;
    };
    frame.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
    for key in keys {
        frame.extend_from_slice(format!("${}\r\n", key.len()).as_bytes());
        frame.extend_from_slice(key);
        frame.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_match_redis_bytes() {
        assert_eq!(
            invalidate_push(Some(&[b"k".to_vec()]), true),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        assert_eq!(
            invalidate_push(None, true),
            b">2\r\n$10\r\ninvalidate\r\n_\r\n"
        );
        assert_eq!(
            invalidate_message(None, false),
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
        );
    }

    #[test]
    fn caching_decides_what_optin_and_optout_remember() {
        let info = Rc::new(ClientInfo::for_tests());
        let mailbox = Mailbox::new(info.clone(), crate::resp::Proto::Resp3);
        let optin = Mode {
            optin: true,
            ..Mode::default()
        };
        let tracker = Tracker::new(info, mailbox, optin);
        assert!(!tracker.remembers());
        tracker.arm_caching();
        assert!(tracker.remembers());
        tracker.mode.set(Mode {
            optout: true,
            ..Mode::default()
        });
        assert!(!tracker.remembers());
        tracker.caching.set(false);
        assert!(tracker.remembers());
    }
}
