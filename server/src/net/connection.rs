//! One client connection: read, parse every complete request in the buffer, dispatch each,
//! and write all replies of the batch with one send.
//!
//! The read buffer is a zero-initialised Vec used up to `filled`; requests are parsed in
//! place and handlers borrow their arguments from it. A protocol error is answered with
//! `-ERR Protocol error: ...` and closes the connection, as in Redis; any other error is
//! one reply and the connection goes on.

use super::socket::Socket;
use crate::command::dispatch::dispatch;
use crate::command::session::Session;
use crate::command::Args;
use crate::core::clients::ClientInfo;
use crate::core::Core;
use crate::limits::{
    READ_BUFFER_KEEP_BYTES, READ_CHUNK_BYTES, REPLY_BUFFER_KEEP_BYTES, REPLY_FLUSH_BYTES,
};
use crate::resp::{parse_request, Parsed};
use std::rc::Rc;
use std::sync::atomic::Ordering;

pub async fn refuse(mut socket: Socket, error: &str) {
    let _ = socket.send_all(format!("-{error}\r\n").into_bytes()).await;
    socket.close().await;
}

fn register(core: &Rc<Core>, socket: &Socket) -> Rc<ClientInfo> {
    let id = core.global.next_client_id.fetch_add(1, Ordering::Relaxed);
    let (addr, laddr) = socket.addrs();
    let info = Rc::new(ClientInfo {
        id,
        fd: socket.fd(),
        addr,
        laddr,
        created_s: core.clock_s.get(),
        name: Default::default(),
        lib_name: Default::default(),
        lib_ver: Default::default(),
        db: Default::default(),
        proto: std::cell::Cell::new(2),
        last_cmd: std::cell::Cell::new(("NULL", None)),
        last_s: std::cell::Cell::new(core.clock_s.get()),
        killed: Default::default(),
        qbuf: Default::default(),
        omem: Default::default(),
        subscriptions: Default::default(),
        multi: std::cell::Cell::new(-1),
        no_evict: Default::default(),
        no_touch: Default::default(),
        tracking: std::cell::Cell::new(None),
    });
    core.clients.borrow_mut().by_id.insert(id, info.clone());
    info
}

pub async fn serve(core: Rc<Core>, mut socket: Socket) {
    socket.set_nodelay();
    let info = register(&core, &socket);
    let mut session = Session::new(core.clone(), info.clone());
    let _ = serve_requests(&mut session, &mut socket).await;
    crate::command::transaction::reset(&mut session).await;
    crate::command::pubsub::unsubscribe_all(&mut session);
    crate::command::tracking::disable(&mut session).await;
    core.tracking.forget(info.id);
    core.clients.borrow_mut().by_id.remove(&info.id);
    core.global
        .connected_clients
        .fetch_sub(1, Ordering::Relaxed);
    socket.close().await;
}

async fn serve_requests(session: &mut Session, socket: &mut Socket) -> std::io::Result<()> {
    let core = session.core.clone();
    let mut buf = vec![0u8; READ_CHUNK_BYTES];
    let (mut start, mut filled) = (0usize, 0usize);
    let mut ranges = Vec::new();
    let mut writer = None;
    loop {
        if filled == buf.len() {
            if start > 0 {
                buf.copy_within(start..filled, 0);
                (start, filled) = (0, filled - start);
            } else {
                buf.resize(buf.len() * 2, 0);
            }
        }
        let (result, back) = receive(session, socket, &mut writer, buf, filled).await?;
        buf = back;
        let n = result?;
        if n == 0 || session.info.killed.get() {
            return Ok(());
        }
        filled += n;
        core.stats.borrow_mut().total_net_input_bytes += n as u64;
        let settings = core.settings.borrow().clone();
        loop {
            let parsed = parse_request(
                &buf[start..filled],
                start,
                settings.proto_max_bulk_len,
                &mut ranges,
            );
            match parsed {
                Ok(Parsed::Request { consumed }) => {
                    take_messages(session);
                    if !ranges.is_empty() {
                        dispatch(session, Args::new(&buf, &ranges)).await;
                    }
                    start += consumed;
                }
                Ok(Parsed::Owned { consumed, args }) => {
                    take_messages(session);
                    let mut scratch = Vec::new();
                    ranges.clear();
                    for arg in &args {
                        ranges.push((scratch.len() as u32, (scratch.len() + arg.len()) as u32));
                        scratch.extend_from_slice(arg);
                    }
                    if !ranges.is_empty() {
                        dispatch(session, Args::new(&scratch, &ranges)).await;
                    }
                    start += consumed;
                }
                Ok(Parsed::Incomplete) => break,
                Err(err) => {
                    session.finish_run().await;
                    let mut text = b"ERR Protocol error: ".to_vec();
                    text.extend_from_slice(&err.0);
                    session.reply().error_bytes(&text);
                    session.close = true;
                }
            }
            if session.close || session.info.killed.get() {
                break;
            }
            if session.out.len() >= REPLY_FLUSH_BYTES {
                session.finish_run().await;
                flush(session, socket).await?;
            }
        }
        session.finish_run().await;
        flush(session, socket).await?;
        if session.close || session.info.killed.get() {
            return Ok(());
        }
        if start == filled {
            (start, filled) = (0, 0);
            if buf.len() > READ_BUFFER_KEEP_BYTES {
                // One huge request must not pin its memory for the connection's lifetime
                // (Redis shrinks idle query buffers in its cron for the same reason).
                buf = vec![0u8; READ_CHUNK_BYTES];
            }
        } else if (filled - start) as u64 > settings.client_query_buffer_limit {
            // Redis closes a client whose pending query exceeds client-query-buffer-limit.
            return Ok(());
        }
        session.info.qbuf.set(filled - start);
    }
}

/// The next read. A subscribed connection also sends its messages as they arrive while
/// the read is in flight, through a second handle on the socket (`writer`, made once).
async fn receive(
    session: &mut Session,
    socket: &mut Socket,
    writer: &mut Option<Socket>,
    buf: Vec<u8>,
    filled: usize,
) -> std::io::Result<(std::io::Result<usize>, Vec<u8>)> {
    let Some(mailbox) = session.subs.mailbox.clone() else {
        return Ok(socket.recv(buf, filled).await);
    };
    if writer.is_none() {
        *writer = Some(socket.writer()?);
    }
    let writer = writer.as_mut().expect("made above");
    let mut read = std::pin::pin!(socket.recv(buf, filled));
    loop {
        let pending = mailbox.take();
        if !pending.is_empty() {
            session.core.stats.borrow_mut().total_net_output_bytes += pending.len() as u64;
            let (result, _) = writer.send_all(pending).await;
            result?;
        }
        let arrived = std::pin::pin!(mailbox.signal.wait());
        match futures::future::select(read.as_mut(), arrived).await {
            futures::future::Either::Left((done, _)) => return Ok(done),
            futures::future::Either::Right(_) => continue,
        }
    }
}

/// Messages that arrived for a subscriber go out before the reply to its next command, in
/// the order the core saw them.
pub fn take_messages(session: &mut Session) {
    // With replies still pending on another core, messages would overtake them: they
    // wait for the next send instead.
    if session.run.is_some() {
        return;
    }
    if let Some(mailbox) = &session.subs.mailbox {
        let pending = mailbox.take();
        session.out.extend_from_slice(&pending);
    }
}

async fn flush(session: &mut Session, socket: &mut Socket) -> std::io::Result<()> {
    // Wait even with nothing to send (CLIENT REPLY OFF): the connection reads no more
    // until its writes are durable, which bounds the records in flight per connection.
    let dep = session.dep.replace(0);
    if !wait_durable(session, dep).await {
        session.close = true;
    }
    if session.out.is_empty() {
        return Ok(());
    }
    let (result, out) = socket.send_all(std::mem::take(&mut session.out)).await;
    session.out = out;
    result?;
    session.core.stats.borrow_mut().total_net_output_bytes += session.out.len() as u64;
    session.out.clear();
    if session.out.capacity() > REPLY_BUFFER_KEEP_BYTES {
        session.out.shrink_to(REPLY_FLUSH_BYTES);
    }
    Ok(())
}

/// Holds the replies until the LSN they depend on is durable (invariants 1 and 2). If the
/// log failed instead, they are replaced by one error and false is returned: the
/// connection closes, since the outcome of its writes is unknown.
async fn wait_durable(session: &mut Session, dep: u64) -> bool {
    let core = session.core.clone();
    let commit = &core.global.commit;
    if dep == 0 || dep <= commit.watermark() {
        return true;
    }
    match core.ring.wait(commit, core.id, dep).await {
        Ok(()) => true,
        Err(reason) => {
            session.out.clear();
            session.reply().error(&crate::commit::failure_text(&reason));
            false
        }
    }
}
