//! A network io_uring of our own, per core, beside glommio's executor.
//!
//! glommio does socket I/O with a direct `recv`/`send` syscall per call plus a poll re-arm
//! through its ring: at one request per round trip that is two syscalls per request, and
//! the kernel's entry/exit dominates (PERF-NOTES.md, bench/RESULTS.md). Here every
//! connection's receive, send and accept is an SQE on one ring per core, and a single
//! `io_uring_enter` submits all of them and reaps every completion, so system calls are
//! shared by all the connections that were busy in the same executor tick.
//!
//! ```text
//! connection tasks --push SQE (buffer moves into the op)--> ring.sq
//! driver task: enter(submit all, GETEVENTS) -> CQEs -> op results -> wake their tasks
//!              nothing done? wait on the eventfd the ring signals, via glommio
//! ```
//!
//! Buffers are owned by the operation while the kernel may touch them and handed back
//! with the result, so a dropped future can never let the kernel write into freed memory.
//! The ring is created with `SINGLE_ISSUER | COOP_TASKRUN`: one thread submits, and
//! completions wait for that thread's next kernel entry instead of interrupting it.

use io_uring::{opcode, squeue, types, IoUring};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// io_uring_enter flag: run completion work and post CQEs (the kernel ABI value).
const IORING_ENTER_GETEVENTS: u32 = 1;

/// Submission queue entries per ring: a bound on operations submitted in one enter.
const RING_ENTRIES: u32 = 1024;

/// One operation in flight: its result when it completes, the task waiting for it, and the
/// buffer the kernel may be using.
struct Op {
    result: Option<i32>,
    waker: Option<Waker>,
    buffer: Vec<u8>,
    /// The future was dropped: free the slot (and the buffer) when the completion arrives.
    abandoned: bool,
}

pub struct NetRing {
    ring: RefCell<IoUring>,
    eventfd: OwnedFd,
    ops: RefCell<Vec<Option<Op>>>,
    free: RefCell<Vec<usize>>,
    /// SQEs pushed but not yet submitted.
    unsubmitted: Cell<u32>,
    /// The driver is waiting on the eventfd: whoever pushes an SQE submits it.
    driver_idle: Cell<bool>,
}

impl NetRing {
    /// A ring for this thread, or the reason the kernel refused one (then the server uses
    /// glommio's sockets).
    pub fn new() -> io::Result<Rc<NetRing>> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_coop_taskrun()
            .build(RING_ENTRIES)?;
        // SAFETY: eventfd has no preconditions; a negative result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
        ring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        Ok(Rc::new(NetRing {
            ring: RefCell::new(ring),
            eventfd,
            ops: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            unsubmitted: Cell::new(0),
            driver_idle: Cell::new(false),
        }))
    }

    /// Receives into `buffer[at..]`; the buffer comes back with the result.
    pub fn recv(self: &Rc<Self>, fd: RawFd, mut buffer: Vec<u8>, at: usize) -> OpFuture {
        assert!(at < buffer.len());
        let (ptr, len) = (buffer[at..].as_mut_ptr(), (buffer.len() - at) as u32);
        let entry = opcode::Recv::new(types::Fd(fd), ptr, len).build();
        self.submit_op(entry, buffer)
    }

    /// Sends `buffer[at..]` (possibly partly: the result is the count sent).
    pub fn send(self: &Rc<Self>, fd: RawFd, buffer: Vec<u8>, at: usize) -> OpFuture {
        assert!(at < buffer.len());
        let (ptr, len) = (buffer[at..].as_ptr(), (buffer.len() - at) as u32);
        let entry = opcode::Send::new(types::Fd(fd), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        self.submit_op(entry, buffer)
    }

    /// Accepts one connection on a listening socket; the result is the new descriptor.
    pub fn accept(self: &Rc<Self>, fd: RawFd) -> OpFuture {
        let entry = opcode::Accept::new(types::Fd(fd), std::ptr::null_mut(), std::ptr::null_mut())
            .flags(libc::SOCK_CLOEXEC)
            .build();
        self.submit_op(entry, Vec::new())
    }

    fn submit_op(self: &Rc<Self>, entry: squeue::Entry, buffer: Vec<u8>) -> OpFuture {
        let slot = self.free.borrow_mut().pop().unwrap_or_else(|| {
            let mut ops = self.ops.borrow_mut();
            ops.push(None);
            ops.len() - 1
        });
        self.ops.borrow_mut()[slot] = Some(Op {
            result: None,
            waker: None,
            buffer,
            abandoned: false,
        });
        let entry = entry.user_data(slot as u64);
        let mut ring = self.ring.borrow_mut();
        // SAFETY: the buffer the entry points into is owned by the op in `slot`, which is
        // freed only after the completion for this entry has been reaped.
        while unsafe { ring.submission().push(&entry) }.is_err() {
            // The queue is full: submit what is there to make room.
            drop(ring);
            self.enter();
            ring = self.ring.borrow_mut();
        }
        drop(ring);
        self.unsubmitted.set(self.unsubmitted.get() + 1);
        if self.driver_idle.get() {
            // Nobody else will enter the kernel soon: submit now.
            self.enter();
        }
        OpFuture {
            ring: self.clone(),
            slot,
            done: false,
        }
    }

    /// Submits every pushed SQE and runs completion work, without waiting.
    fn enter(&self) {
        let to_submit = self.unsubmitted.replace(0);
        let ring = self.ring.borrow();
        // SAFETY: plain io_uring_enter on our own ring; no extra argument.
        let result = unsafe {
            ring.submitter()
                .enter::<libc::sigset_t>(to_submit, 0, IORING_ENTER_GETEVENTS, None)
        };
        if let Err(err) = result {
            // EINTR/EBUSY: the SQEs stay queued and go with the next enter.
            if !matches!(
                err.raw_os_error(),
                Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
            ) {
                panic!("io_uring_enter on the network ring failed: {err}");
            }
            self.unsubmitted.set(self.unsubmitted.get() + to_submit);
        }
    }

    /// Reaps completions into their ops and wakes their tasks; returns how many.
    fn reap(&self) -> usize {
        let mut ring = self.ring.borrow_mut();
        let mut ops = self.ops.borrow_mut();
        let mut count = 0;
        for cqe in ring.completion() {
            count += 1;
            let slot = cqe.user_data() as usize;
            let op = ops[slot].as_mut().expect("a completion for a free slot");
            if op.abandoned {
                ops[slot] = None;
                self.free.borrow_mut().push(slot);
                continue;
            }
            op.result = Some(cqe.result());
            if let Some(waker) = op.waker.take() {
                waker.wake();
            }
        }
        count
    }

    /// The driver: submits, reaps, and sleeps on the eventfd when there is nothing to do.
    pub async fn drive(self: Rc<Self>) {
        loop {
            self.enter();
            if self.reap() > 0 || self.unsubmitted.get() > 0 {
                // Let the woken connections run; they push their next SQEs, which the next
                // turn submits together.
                futures::future::poll_fn(yield_once()).await;
                continue;
            }
            self.driver_idle.set(true);
            let waited = glommio::io::wait_readable(self.eventfd.as_raw_fd()).await;
            self.driver_idle.set(false);
            if let Err(err) = waited {
                panic!("waiting on the network ring's eventfd failed: {err}");
            }
            let mut counter = [0u8; 8];
            // SAFETY: reads 8 bytes into a local buffer from our non-blocking eventfd.
            unsafe { libc::read(self.eventfd.as_raw_fd(), counter.as_mut_ptr().cast(), 8) };
        }
    }
}

/// A poll function that is pending once (after waking itself), then ready: the task goes
/// to the back of the run queue.
pub(crate) fn yield_once() -> impl FnMut(&mut Context<'_>) -> Poll<()> {
    let mut yielded = false;
    move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// The result of one operation: the kernel's return value (a count, a descriptor, or
/// -errno) and the buffer.
pub struct OpFuture {
    ring: Rc<NetRing>,
    slot: usize,
    done: bool,
}

impl Future for OpFuture {
    type Output = (io::Result<usize>, Vec<u8>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut ops = self.ring.ops.borrow_mut();
        let op = ops[self.slot].as_mut().expect("polled op has a slot");
        let Some(result) = op.result else {
            op.waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        let buffer = std::mem::take(&mut op.buffer);
        ops[self.slot] = None;
        drop(ops);
        self.ring.free.borrow_mut().push(self.slot);
        self.done = true;
        let result = if result < 0 {
            Err(io::Error::from_raw_os_error(-result))
        } else {
            Ok(result as usize)
        };
        Poll::Ready((result, buffer))
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut ops = self.ring.ops.borrow_mut();
        let Some(op) = ops[self.slot].as_mut() else {
            return;
        };
        if op.result.is_some() {
            ops[self.slot] = None;
            self.ring.free.borrow_mut().push(self.slot);
        } else {
            // The kernel may still use the buffer: keep it until the completion arrives.
            op.abandoned = true;
            op.waker = None;
        }
    }
}
