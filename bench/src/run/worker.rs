//! One generator thread: its connections, driven by poll(2) over non-blocking sockets.
//!
//! Each pass queues what every connection may send, writes, waits for readiness (at most
//! until the next paced send, and never long enough to miss a phase change), then reads
//! and records replies. Counters for the live progress line are published once per pass,
//! with relaxed atomics that only this thread writes.
//!
//! The clock is read per connection, right before its requests are queued and written
//! and right before its replies are read, as redis-benchmark and memtier_benchmark time
//! each client. One timestamp per pass would give every request of a pass the same
//! latency, and would count the time spent writing and reading the other connections
//! (a few microseconds each, so up to half a millisecond with 100 connections) against
//! this one's requests and replies.

use super::connection::Connection;
use super::record::Record;
use super::{Phase, Plan};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest one poll waits, so a phase change is seen within this time.
const POLL_WAIT_MAX: Duration = Duration::from_millis(5);

/// What the progress line reads while the thread runs.
#[derive(Debug, Default)]
pub struct Counters {
    pub ops: AtomicU64,
    pub latency_sum_us: AtomicU64,
    pub finished: AtomicBool,
}

/// A finished thread's measurements.
#[derive(Debug)]
pub struct Outcome {
    /// Per template, in the plan's order.
    pub records: Vec<Record>,
    /// This thread's CPU time during the measured phase.
    pub cpu: Duration,
    /// How long this thread spent in the measured phase.
    pub wall: Duration,
    /// When the thread saw its last reply (or the stop).
    pub end: Instant,
}

pub fn run(
    plan: &Plan,
    phase: &super::PhaseCell,
    counters: &Counters,
    mut connections: Vec<Connection>,
) -> io::Result<Outcome> {
    let mut records = vec![Record::new(); plan.mix.templates.len()];
    let mut pollfds: Vec<libc::pollfd> = Vec::with_capacity(connections.len());
    let mut measure_from: Option<(Instant, Duration)> = None;
    loop {
        let current = phase.get();
        if current == Phase::Stop {
            break;
        }
        let measuring = current == Phase::Measure;
        if measuring && measure_from.is_none() {
            measure_from = Some((Instant::now(), thread_cpu()));
        }
        if measuring && connections.iter().all(Connection::is_done) {
            break;
        }
        for connection in &mut connections {
            connection.fill(plan, Instant::now(), measuring);
            connection.flush()?;
        }
        wait(plan, &connections, &mut pollfds, Instant::now())?;
        let (mut ops, mut latency_sum_us) = (0, 0);
        let mut at = 0;
        for connection in &mut connections {
            let links = connection.links();
            let ready = &pollfds[at..at + links];
            at += links;
            if ready.iter().all(|p| p.revents == 0) {
                continue;
            }
            let (o, l) = connection.ready(ready, Instant::now(), &mut records)?;
            ops += o;
            latency_sum_us += l;
        }
        counters.ops.fetch_add(ops, Ordering::Relaxed);
        counters
            .latency_sum_us
            .fetch_add(latency_sum_us, Ordering::Relaxed);
    }
    let end = Instant::now();
    counters.finished.store(true, Ordering::Release);
    let (start, cpu_start) = measure_from.unwrap_or((end, thread_cpu()));
    Ok(Outcome {
        records,
        cpu: thread_cpu().saturating_sub(cpu_start),
        wall: end - start,
        end,
    })
}

/// Polls every connection's links (one pollfd each, in order) for replies (and for room to write where output is pending)
/// until one is ready or the next paced send is due.
fn wait(
    plan: &Plan,
    connections: &[Connection],
    pollfds: &mut Vec<libc::pollfd>,
    now: Instant,
) -> io::Result<()> {
    pollfds.clear();
    let mut deadline = now + POLL_WAIT_MAX;
    for connection in connections {
        connection.poll_entries(pollfds);
        if let Some(next) = connection.next_send(plan) {
            deadline = deadline.min(next);
        }
    }
    let timeout = deadline.saturating_duration_since(now);
    let timespec = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `pollfds` is a valid, initialised array of `len` pollfd structs that
    // outlives the call, and `timespec` is a valid timeout; no signal mask is passed.
    let ready = unsafe {
        libc::ppoll(
            pollfds.as_mut_ptr(),
            pollfds.len() as libc::nfds_t,
            &timespec,
            std::ptr::null(),
        )
    };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
        pollfds.iter_mut().for_each(|p| p.revents = 0);
    }
    Ok(())
}

/// CPU time this thread has used: how busy the generator itself was.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_THREAD_CPUTIME_ID always exists
    // on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
