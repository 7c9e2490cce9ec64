//! The log under load: N appenders of fixed-size records on a fresh log, closed loop
//! (each keeps up to K records appended but not yet durable) or open loop (records
//! offered on a fixed schedule, whatever the log does), with time-to-durable per record.
//!
//! The clock is read once per appender wake-up, not per record: at millions of records
//! per second the harness's own `clock_gettime` calls were a fifth of the CPU the log
//! shares with it, and records appended in one wake-up reach the log at the same moment.

use super::latency::Latencies;
use crate::storage::dma::DmaStorage;
use crate::{Durable, Epoch, Log, LogConfig, Result};
use futures::future::LocalBoxFuture;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// How appenders offer records.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    /// Each appender keeps up to this many records appended but not yet durable (1: an
    /// appender waits for each record; a server core pipelining many clients keeps many).
    Closed { in_flight: usize },
    /// All appenders together offer this many records per second, each on its own evenly
    /// spaced schedule, staggered; time-to-durable counts from the append.
    Open { records_per_sec: f64 },
}

/// An open-loop appender wakes once per tick and appends every record that fell due
/// meanwhile: a timer per record (or per appender) would cost more CPU than the log.
const OPEN_LOOP_TICK: Duration = Duration::from_millis(1);

/// Open-loop appenders wake in this many staggered groups per tick, so records reach the
/// log every 20 µs, well below one fdatasync (70-100 µs here): with arrivals in bursts
/// one sync apart (8 groups, 125 µs) the device idled between bursts and the log looked
/// 30 points slower against the raw replay than it is.
const OPEN_LOOP_GROUPS: usize = 50;

/// What one run measured.
#[derive(Debug)]
pub struct LogRun {
    pub appenders: usize,
    pub records: u64,
    /// From the first append until every record was durable.
    pub elapsed: Duration,
    pub batches: u64,
    pub bytes_written: u64,
    /// (batch bytes, count), as [`Log::batch_sizes`].
    pub batch_sizes: Vec<(u64, u64)>,
    pub time_to_durable: Latencies,
    /// Open loop: records that fell due but were not appended when the run ended (the
    /// log pushed back, or the harness could not keep its schedule).
    pub behind_schedule: u64,
}

/// Runs a fresh log in `dir/run-N` for `duration`; removes it afterwards.
pub async fn log_run(
    dir: &Path,
    appenders: usize,
    load: Load,
    record_bytes: usize,
    duration: Duration,
) -> Result<LogRun> {
    let run_dir: PathBuf = dir.join(format!("run-{appenders}"));
    let _ = std::fs::remove_dir_all(&run_dir);
    let storage = DmaStorage::open(&run_dir)
        .await
        .map_err(|e| crate::Error::io("create", run_dir.display().to_string(), e))?;
    let log = Log::open(storage, LogConfig::default()).await?;
    let flusher = glommio::spawn_local({
        let log = log.clone();
        async move { log.flusher().await }
    });
    let payload = Rc::new(vec![0x5a; record_bytes]);
    let start = Instant::now();
    let (time_to_durable, behind_schedule) = match load {
        Load::Closed { in_flight } => {
            let lat = closed_loop(&log, appenders, in_flight, &payload, start + duration).await?;
            (lat, 0)
        }
        Load::Open { records_per_sec } => {
            open_loop(&log, appenders, records_per_sec, &payload, start, duration).await?
        }
    };
    let elapsed = start.elapsed();
    log.close();
    flusher.await?;
    let stats = log.stats();
    let batch_sizes = log.batch_sizes();
    let _ = std::fs::remove_dir_all(&run_dir);
    Ok(LogRun {
        appenders,
        records: time_to_durable.len() as u64,
        elapsed,
        batches: stats.batches,
        bytes_written: stats.bytes_written,
        batch_sizes,
        time_to_durable,
        behind_schedule,
    })
}

async fn closed_loop(
    log: &Log<DmaStorage>,
    appenders: usize,
    in_flight: usize,
    payload: &Rc<Vec<u8>>,
    deadline: Instant,
) -> Result<Latencies> {
    assert!(in_flight > 0, "an appender needs room for one record");
    let lat = Rc::new(RefCell::new(Latencies::default()));
    let tasks: Vec<_> = (0..appenders)
        .map(|_| {
            let (log, lat, payload) = (log.clone(), lat.clone(), payload.clone());
            glommio::spawn_local(closed_appender(log, lat, payload, in_flight, deadline))
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    Ok(Rc::try_unwrap(lat).expect("appenders done").into_inner())
}

/// Keeps `in_flight` records appended; waits for the oldest, then counts every record
/// that became durable with it.
async fn closed_appender(
    log: Log<DmaStorage>,
    lat: Rc<RefCell<Latencies>>,
    payload: Rc<Vec<u8>>,
    in_flight: usize,
    deadline: Instant,
) -> Result<()> {
    let mut pending: VecDeque<(Instant, Durable<DmaStorage>)> = VecDeque::with_capacity(in_flight);
    let mut now = Instant::now();
    while now < deadline {
        while pending.len() < in_flight {
            pending.push_back((now, log.append(Epoch(1), 1, 0, &payload).await?));
        }
        let (appended, oldest) = pending.pop_front().expect("one in flight");
        oldest.await?;
        now = Instant::now();
        lat.borrow_mut().push(now - appended);
        collect_durable(&log, &mut pending, now, &lat);
    }
    for (appended, durable) in pending {
        durable.await?;
        lat.borrow_mut().push(appended.elapsed());
    }
    Ok(())
}

/// Pops the records at the front of `pending` that are durable, charging them `now`.
fn collect_durable(
    log: &Log<DmaStorage>,
    pending: &mut VecDeque<(Instant, Durable<DmaStorage>)>,
    now: Instant,
    lat: &RefCell<Latencies>,
) {
    let durable = log.watermark().get();
    let mut lat = lat.borrow_mut();
    while let Some((appended, _)) = pending.front().filter(|(_, d)| d.lsn() <= durable) {
        lat.push(now - *appended);
        pending.pop_front();
    }
}

/// Every record appended, in LSN order, waiting to be charged its time-to-durable.
type Appended = Rc<RefCell<VecDeque<(Instant, Durable<DmaStorage>)>>>;

async fn open_loop(
    log: &Log<DmaStorage>,
    appenders: usize,
    records_per_sec: f64,
    payload: &Rc<Vec<u8>>,
    start: Instant,
    duration: Duration,
) -> Result<(Latencies, u64)> {
    assert!(records_per_sec > 0.0, "an open loop needs a rate");
    let appended: Appended = Rc::default();
    let running = Rc::new(Cell::new(appenders));
    let pacer = Rc::new(Pacer::default());
    let collector = glommio::spawn_local(collect(log.clone(), appended.clone(), running.clone()));
    let ticks = glommio::spawn_local(pace(pacer.clone(), running.clone()));
    let period = Duration::from_secs_f64(appenders as f64 / records_per_sec);
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let schedule = Schedule {
                first: start + period.mul_f64(a as f64 / appenders as f64),
                period,
                end: start + duration,
            };
            let (log, appended, payload) = (log.clone(), appended.clone(), payload.clone());
            let (pacer, running) = (pacer.clone(), running.clone());
            glommio::spawn_local(async move {
                let wait = pacer.wait_for(a % OPEN_LOOP_GROUPS);
                let behind = open_appender(log, appended, payload, schedule, wait).await;
                running.set(running.get() - 1);
                behind
            })
        })
        .collect();
    let mut behind = 0;
    for t in tasks {
        behind += t.await?;
    }
    ticks.await;
    Ok((collector.await?, behind))
}

/// One timer for all open-loop appenders: every `OPEN_LOOP_TICK / OPEN_LOOP_GROUPS` it
/// wakes the appenders of the next group.
struct Pacer {
    /// Per group: ticks so far, and the wakers of the appenders waiting for the next.
    groups: RefCell<Vec<(u64, Vec<Waker>)>>,
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer {
            groups: RefCell::new((0..OPEN_LOOP_GROUPS).map(|_| (0, Vec::new())).collect()),
        }
    }
}

impl Pacer {
    /// A function returning the future of group `group`'s next tick.
    fn wait_for(self: &Rc<Self>, group: usize) -> impl Fn() -> LocalBoxFuture<'static, ()> {
        let pacer = self.clone();
        move || {
            let pacer = pacer.clone();
            let seen = pacer.groups.borrow()[group].0;
            Box::pin(poll_fn(move |cx| {
                let mut groups = pacer.groups.borrow_mut();
                let (ticks, wakers) = &mut groups[group];
                if *ticks > seen {
                    return Poll::Ready(());
                }
                wakers.push(cx.waker().clone());
                Poll::Pending
            }))
        }
    }

    fn tick(&self, group: usize) {
        let wakers = {
            let mut groups = self.groups.borrow_mut();
            groups[group].0 += 1;
            std::mem::take(&mut groups[group].1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

async fn pace(pacer: Rc<Pacer>, running: Rc<Cell<usize>>) {
    let step = OPEN_LOOP_TICK / OPEN_LOOP_GROUPS as u32;
    for group in (0..OPEN_LOOP_GROUPS).cycle() {
        if running.get() == 0 {
            return;
        }
        glommio::timer::sleep(step).await;
        pacer.tick(group);
    }
}

/// When one open-loop appender's records fall due: `first`, then every `period`.
#[derive(Clone, Copy, Debug)]
struct Schedule {
    first: Instant,
    period: Duration,
    end: Instant,
}

impl Schedule {
    /// Records due by `now`.
    fn due(&self, now: Instant) -> u64 {
        if now < self.first {
            return 0;
        }
        let due = ((now - self.first).as_nanos() / self.period.as_nanos().max(1)) as u64 + 1;
        due.min(self.due_by_end())
    }

    fn due_by_end(&self) -> u64 {
        self.end.checked_duration_since(self.first).map_or(0, |d| {
            (d.as_nanos() / self.period.as_nanos().max(1)) as u64 + 1
        })
    }
}

/// Appends every record that fell due at each wake-up (one per tick of its group);
/// returns how many were due but not appended by the end.
async fn open_appender(
    log: Log<DmaStorage>,
    appended: Appended,
    payload: Rc<Vec<u8>>,
    schedule: Schedule,
    next_tick: impl Fn() -> LocalBoxFuture<'static, ()>,
) -> Result<u64> {
    let mut sent = 0u64;
    loop {
        let now = Instant::now();
        if now >= schedule.end {
            return Ok(schedule.due_by_end() - sent);
        }
        let due = schedule.due(now);
        while sent < due {
            let durable = log.append(Epoch(1), 1, 0, &payload).await?;
            appended.borrow_mut().push_back((now, durable));
            sent += 1;
        }
        next_tick().await;
    }
}

/// Waits for the oldest appended record, then charges every record durable with it.
async fn collect(
    log: Log<DmaStorage>,
    appended: Appended,
    running: Rc<Cell<usize>>,
) -> Result<Latencies> {
    let lat = RefCell::new(Latencies::default());
    loop {
        let oldest = appended.borrow_mut().pop_front();
        let Some((at, durable)) = oldest else {
            if running.get() == 0 {
                return Ok(lat.into_inner());
            }
            glommio::timer::sleep(OPEN_LOOP_TICK / 10).await;
            continue;
        };
        durable.await?;
        let now = Instant::now();
        lat.borrow_mut().push(now - at);
        collect_durable(&log, &mut appended.borrow_mut(), now, &lat);
    }
}
