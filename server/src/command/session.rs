//! A client's command-level state: selected database, protocol, reply mode, the reply
//! buffer, and the run of commands it has waiting on another core.

use crate::core::clients::ClientInfo;
use crate::core::Core;
use crate::resp::{Proto, Reply};
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
}

impl Session {
    pub fn new(core: Rc<Core>, info: Rc<ClientInfo>) -> Self {
        Session {
            core,
            info,
            db: 0,
            proto: Proto::Resp2,
            out: Vec::with_capacity(16 * 1024),
            reply_mode: ReplyMode::On,
            close: false,
            run: None,
        }
    }

    pub fn reply(&mut self) -> Reply<'_> {
        Reply::new(&mut self.out, self.proto)
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }

    /// Collects the replies of the commands waiting on another core, so that replies
    /// leave in request order and the next command runs after them.
    pub async fn finish_run(&mut self) {
        if let Some(dest) = self.run.take() {
            let replies =
                self.core.outbox().seal(dest).await.unwrap_or_else(|_| {
                    b"-ERR internal error: a core dropped a batch\r\n".to_vec()
                });
            self.out.extend_from_slice(&replies);
        }
    }
}
