//! The clients connected to this core, for CLIENT LIST / INFO / KILL across cores.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// What CLIENT LIST shows about one connection. Shared between the connection's session
/// (which updates it) and the core's registry (which lists it).
pub struct ClientInfo {
    pub id: u64,
    pub fd: i32,
    pub addr: String,
    pub laddr: String,
    pub created_s: u32,
    pub name: RefCell<Vec<u8>>,
    pub lib_name: RefCell<Vec<u8>>,
    pub lib_ver: RefCell<Vec<u8>>,
    pub db: Cell<usize>,
    pub proto: Cell<u8>,
    /// The last command, and its subcommand for container commands (`client|list`).
    pub last_cmd: Cell<(&'static str, Option<&'static str>)>,
    pub last_s: Cell<u32>,
    pub killed: Cell<bool>,
    pub qbuf: Cell<usize>,
    pub omem: Cell<usize>,
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST sub psub ssub).
    pub subscriptions: Cell<[usize; 3]>,
    /// Commands queued since MULTI (-1: not in a transaction), CLIENT LIST's `multi`.
    pub multi: Cell<i64>,
    /// CLIENT NO-EVICT and CLIENT NO-TOUCH (flags `e` and `T`).
    pub no_evict: Cell<bool>,
    pub no_touch: Cell<bool>,
    /// CLIENT TRACKING's mode as CLIENT LIST shows it (None: not tracking).
    pub tracking: Cell<Option<Tracking>>,
}

/// What CLIENT LIST shows of a tracking client: flags t, R, B and `redir`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracking {
    pub redirect: u64,
    pub broken: bool,
    pub bcast: bool,
}

#[derive(Default)]
pub struct Clients {
    pub by_id: BTreeMap<u64, Rc<ClientInfo>>,
}

impl ClientInfo {
    /// A client with no connection behind it, for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> ClientInfo {
        ClientInfo {
            id: 0,
            fd: -1,
            addr: String::new(),
            laddr: String::new(),
            created_s: 0,
            name: Default::default(),
            lib_name: Default::default(),
            lib_ver: Default::default(),
            db: Default::default(),
            proto: Cell::new(2),
            last_cmd: Cell::new(("NULL", None)),
            last_s: Cell::new(0),
            killed: Default::default(),
            qbuf: Default::default(),
            omem: Default::default(),
            subscriptions: Default::default(),
            multi: Cell::new(-1),
            no_evict: Default::default(),
            no_touch: Default::default(),
            tracking: Cell::new(None),
        }
    }

    /// Ends the connection: its task sees `killed` when its pending read returns, which
    /// shutting the socket down makes it do at once.
    pub fn kill(&self) {
        self.killed.set(true);
        // SAFETY: shutdown(2) on the descriptor this client's connection owns; the
        // connection closes it only after unregistering from this table.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }

    /// A pubsub client in CLIENT LIST TYPE / CLIENT KILL TYPE terms: subscribed, in RESP2.
    pub fn is_pubsub(&self) -> bool {
        self.proto.get() == 2 && self.subscriptions.get().iter().any(|&n| n > 0)
    }

    /// CLIENT LIST's flags: P subscribed, x in MULTI, e no-evict, T no-touch, N none.
    fn flags(&self) -> String {
        let mut flags = String::new();
        if self.subscriptions.get().iter().any(|&n| n > 0) {
            flags.push('P');
        }
        if self.multi.get() >= 0 {
            flags.push('x');
        }
        // Redis's order: tracking's t, R, B come before e and T.
        if let Some(tracking) = self.tracking.get() {
            flags.push('t');
            if tracking.broken {
                flags.push('R');
            }
            if tracking.bcast {
                flags.push('B');
            }
        }
        if self.no_evict.get() {
            flags.push('e');
        }
        if self.no_touch.get() {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        flags
    }

    /// One CLIENT LIST line in Redis 7.0's field order.
    pub fn list_line(&self, now_s: u32) -> String {
        let name = String::from_utf8_lossy(&self.name.borrow()).into_owned();
        let lib_name = String::from_utf8_lossy(&self.lib_name.borrow()).into_owned();
        let lib_ver = String::from_utf8_lossy(&self.lib_ver.borrow()).into_owned();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            now_s.saturating_sub(self.created_s),
            now_s.saturating_sub(self.last_s.get()),
            self.flags(),
            self.db.get(),
            self.subscriptions.get()[0],
            self.subscriptions.get()[1],
            self.subscriptions.get()[2],
            self.multi.get(),
            self.qbuf.get(),
            self.omem.get(),
            match self.last_cmd.get() {
                (name, Some(sub)) => format!("{name}|{sub}"),
                (name, None) => name.to_string(),
            },
            self.tracking.get().map_or(-1, |t| t.redirect as i64),
            self.proto.get(),
            lib_name,
            lib_ver,
        )
    }
}
