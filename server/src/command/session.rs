//! A client's command-level state: selected database, protocol, reply mode, the reply
//! buffer, the run of commands it has waiting on another core, and its transaction state.

use crate::core::clients::ClientInfo;
use crate::core::Core;
use crate::resp::{Proto, Reply};
use std::cell::Cell;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Set by CLIENT REPLY SKIP: the next command's reply is skipped.
    SkipNext,
    /// This command's reply is skipped.
    Skip,
}

pub struct Session {
    pub core: Rc<Core>,
    pub info: Rc<ClientInfo>,
    pub db: usize,
    pub proto: Proto,
    pub out: Vec<u8>,
    pub reply_mode: ReplyMode,
    /// Set by QUIT, a kill, or a protocol error: close once the replies so far are sent.
    pub close: bool,
    /// The destination core of commands pushed to the outbox whose replies are pending.
    pub(crate) run: Option<usize>,
    /// The highest LSN the replies in `out` depend on: `out` is sent once it is durable
    /// (commit/ring.rs). Shared with multi-core operations, which raise it as they log.
    pub dep: Rc<Cell<u64>>,
    /// Between MULTI and EXEC: the commands queued (see transaction.rs).
    pub multi: Option<super::transaction::Queue>,
    /// The keys this connection WATCHes, and the flag their cores mark when one changes.
    pub watching: Option<super::transaction::Watching>,
    /// While EXEC runs: the transaction the operations of its commands join.
    pub exec: Option<crate::core::multi::Scope>,
    /// Channels and patterns this connection subscribes to, and its mailbox.
    pub subs: super::pubsub::Subscriptions,
}

impl Session {
    pub fn new(core: Rc<Core>, info: Rc<ClientInfo>) -> Self {
        Self::with_reply_capacity(core, info, 16 * 1024)
    }

    /// A session whose reply buffer starts with `capacity` bytes: a connection's is sized
    /// for pipelined replies, a script's (one reply per call) starts empty.
    pub fn with_reply_capacity(core: Rc<Core>, info: Rc<ClientInfo>, capacity: usize) -> Self {
        Session {
            core,
            info,
            db: 0,
            proto: Proto::Resp2,
            out: Vec::with_capacity(capacity),
            reply_mode: ReplyMode::On,
            close: false,
            run: None,
            dep: Rc::new(Cell::new(0)),
            multi: None,
            watching: None,
            exec: None,
            subs: Default::default(),
        }
    }

    /// The reply being built depends on `lsn` being durable.
    pub fn depend(&self, lsn: u64) {
        if lsn > self.dep.get() {
            self.dep.set(lsn);
        }
    }

    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(&mut self.out, self.proto)
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// The connection's mailbox, made on first use: what reaches the connection between
    /// its replies (Pub/Sub messages, invalidations, MONITOR lines). It is registered as
    /// a place a tracking client's REDIRECT invalidations can land.
    pub fn mailbox(&mut self) -> Rc<crate::core::pubsub::Mailbox> {
        let (info, proto) = (&self.info, self.proto);
        let mailbox = self
            .subs
            .mailbox
            .get_or_insert_with(|| crate::core::pubsub::Mailbox::new(info.clone(), proto))
            .clone();
        mailbox.proto.set(proto);
        self.core.tracking.add_mailbox(&self.info, &mailbox);
        mailbox
    }

    /// Collects the replies of the commands waiting on another core, so that replies
    /// leave in request order and the next command runs after them.
    pub async fn finish_run(&mut self) {
        if let Some(dest) = self.run.take() {
            let (replies, dep) = self.core.outbox().seal(dest).await.unwrap_or_else(|_| {
                (
                    b"-ERR internal error: a core dropped a batch\r\n".to_vec(),
                    0,
                )
            });
            self.out.extend_from_slice(&replies);
            self.depend(dep);
        }
    }
}
