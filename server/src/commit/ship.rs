//! Shipping effect records from the core that executed them to the log core: once per
//! executor tick, every record the core's shard logged since the last tick travels as one
//! message (the same batching as cross-core commands). Messages from one core arrive in
//! send order, so each core's records reach the sequencer in LSN order.

use crate::core::mesh::Msg;
use crate::core::Core;
use std::rc::Rc;

/// The shipper task of one core.
pub fn spawn(core: &Rc<Core>) {
    let core = core.clone();
    glommio::spawn_local(async move {
        loop {
            core.shipper.wait().await;
            let frames = core.shard.borrow_mut().journal.take_outgoing();
            if frames.is_empty() {
                continue;
            }
            if core.id == super::LOG_CORE {
                core.sequencer().push(core.id, frames);
            } else {
                core.send(
                    super::LOG_CORE,
                    Msg::Commit {
                        from: core.id,
                        frames,
                    },
                )
                .await;
            }
        }
    })
    .detach();
}
