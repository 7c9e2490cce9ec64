//! Crash simulation: random concurrent appends on the seeded simulated disk, a crash at a
//! random point (unsynced writes lost, kept, torn or zero-filled), recovery, repeat.
//!
//! Invariant after every recovery: the log is exactly a prefix of what was appended, and
//! holds every record whose durability future resolved. Every failure names its seed;
//! `HOLDFAST_LOG_SEED=N cargo test -p holdfast-log --test crash_sim one_seed` replays it.

use futures::executor::{block_on, LocalPool};
use futures::task::LocalSpawnExt;
use holdfast_log::storage::sim::{Rng, SimDisk};
use holdfast_log::{Epoch, Error, Log, LogConfig, Lsn};
use std::cell::RefCell;
use std::rc::Rc;

const SEEDS: u64 = 200;
const CRASHES_PER_SEED: u64 = 4;

fn config() -> LogConfig {
    // Small segments and batches so rolling, size-sealing and spare reuse happen often.
    LogConfig {
        segment_size_bytes: 1024 * 1024,
        batch_size_bytes_max: 272 * 1024,
    }
}

/// What the test knows: every appended payload in LSN order (index = LSN - 1), and the
/// highest LSN whose durability future resolved.
#[derive(Default)]
struct Model {
    appended: Vec<Vec<u8>>,
    acked: u64,
}

fn payload(rng: &mut Rng, lsn: u64) -> Vec<u8> {
    let len = match rng.below(20) {
        0 => 0,
        1 => 4096 + rng.below(20_000) as usize,
        _ => rng.below(300) as usize,
    };
    let mut p = lsn.to_le_bytes().to_vec();
    p.resize(8 + len, lsn as u8);
    p
}

/// One life of the log: appenders run until the disk freezes, then the power goes out.
fn run_until_crash(
    disk: &SimDisk,
    rng: &mut Rng,
    model: &Rc<RefCell<Model>>,
    seed: u64,
) -> Result<(), String> {
    let log =
        block_on(Log::open(disk.clone(), config())).map_err(|e| format!("open failed: {e}"))?;
    check_recovered(&log, &model.borrow())?;
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    let flusher = log.clone();
    spawner
        .spawn_local(async move { drop(flusher.flusher().await) })
        .expect("spawn");
    let appenders = 1 + rng.below(12);
    for a in 0..appenders {
        let log = log.clone();
        let model = model.clone();
        let mut rng = Rng::new(seed ^ ((a + 1) * 0x1234_5678) ^ rng.next_u64());
        spawner
            .spawn_local(async move { appender(log, model, &mut rng).await })
            .expect("spawn");
    }
    if rng.chance(20) {
        let log = log.clone();
        let upto = model.borrow().acked / 2;
        spawner
            .spawn_local(async move { drop(log.trim_below(Lsn(upto)).await) })
            .expect("spawn");
    }
    // The power cut: after a random number of disk operations the disk stops answering;
    // everything runs until it can make no more progress, then the unsynced state is lost.
    disk.freeze_after(rng.below(300));
    pool.run_until_stalled();
    drop(pool);
    disk.crash();
    Ok(())
}

async fn appender(log: Log<SimDisk>, model: Rc<RefCell<Model>>, rng: &mut Rng) {
    for _ in 0..rng.below(100) {
        let lsn = log.next_lsn().0;
        let p = payload(rng, lsn);
        let Ok(durable) = log.append(Epoch(1), 1, 7, &p).await else {
            return;
        };
        {
            let mut m = model.borrow_mut();
            assert_eq!(
                durable.lsn().0,
                m.appended.len() as u64 + 1,
                "LSNs are assigned densely"
            );
            m.appended.push(p);
        }
        if rng.chance(50) {
            let lsn = durable.await.expect("no fault was injected");
            let mut m = model.borrow_mut();
            m.acked = m.acked.max(lsn.0);
        }
    }
}

/// The recovered log must be a prefix of the appended records that holds every ack.
fn check_recovered(log: &Log<SimDisk>, model: &Model) -> Result<(), String> {
    let next = log.next_lsn().0;
    if next - 1 < model.acked {
        return Err(format!(
            "lost acknowledged records: log ends at {}, acked up to {}",
            next - 1,
            model.acked
        ));
    }
    if next - 1 > model.appended.len() as u64 {
        return Err(format!(
            "log ends at {} but only {} records were appended",
            next - 1,
            model.appended.len()
        ));
    }
    let mut reader = log.reader(log.first_lsn()).map_err(|e| e.to_string())?;
    let mut expected = log.first_lsn().0;
    while let Some(rec) = block_on(reader.next()).map_err(|e| format!("read failed: {e}"))? {
        if rec.lsn.0 != expected || rec.payload != model.appended[expected as usize - 1] {
            return Err(format!(
                "record at LSN {} differs from what was appended",
                rec.lsn.0
            ));
        }
        expected += 1;
    }
    if expected != next {
        return Err(format!(
            "reader stopped at {expected}, log ends at {}",
            next - 1
        ));
    }
    Ok(())
}

/// What a seed exercised, so the test can check it covered the interesting cases.
#[derive(Default)]
struct Coverage {
    /// Recoveries that dropped appended but unacknowledged records.
    truncations: u64,
    /// Recoveries that found more than one segment.
    multi_segment: u64,
}

fn run_seed(seed: u64) -> Result<Coverage, String> {
    let disk = SimDisk::new(seed);
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let model = Rc::new(RefCell::new(Model::default()));
    let mut coverage = Coverage::default();
    for _ in 0..CRASHES_PER_SEED {
        run_until_crash(&disk, &mut rng, &model, seed)?;
        // What recovery dropped was never acknowledged: forget it, so the next life's
        // LSNs line up with the model again.
        let log = block_on(Log::open(disk.clone(), config()))
            .map_err(|e| format!("reopen failed: {e}"))?;
        check_recovered(&log, &model.borrow())?;
        let end = log.next_lsn().0 - 1;
        if std::env::var("CRASH_SIM_DEBUG").is_ok() {
            eprintln!(
                "seed {seed}: appended {} acked {} recovered {end}",
                model.borrow().appended.len(),
                model.borrow().acked
            );
        }
        coverage.truncations += u64::from(end < model.borrow().appended.len() as u64);
        coverage.multi_segment += u64::from(log.first_lsn() > Lsn(1) || segments(&disk) > 1);
        model.borrow_mut().appended.truncate(end as usize);
        model.borrow_mut().acked = end;
    }
    Ok(coverage)
}

fn segments(disk: &SimDisk) -> usize {
    use holdfast_log::storage::Storage;
    block_on(disk.list())
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".seg"))
        .count()
}

#[test]
fn crash_simulation_over_many_seeds() {
    let mut failures = Vec::new();
    let mut total = Coverage::default();
    for seed in 0..SEEDS {
        match run_seed(seed) {
            Ok(c) => {
                total.truncations += c.truncations;
                total.multi_segment += c.multi_segment;
            }
            Err(e) => failures.push(format!("seed {seed}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let recoveries = SEEDS * CRASHES_PER_SEED;
    assert!(
        total.truncations > recoveries / 10,
        "only {} of {recoveries} recoveries truncated",
        total.truncations
    );
    assert!(
        total.multi_segment > recoveries / 10,
        "only {} recoveries saw several segments",
        total.multi_segment
    );
}

#[test]
fn one_seed() {
    // Pinned seed; set HOLDFAST_LOG_SEED to replay a failure from the test above.
    let seed = std::env::var("HOLDFAST_LOG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4242);
    if let Err(e) = run_seed(seed).map(drop) {
        panic!("seed {seed}: {e}");
    }
}

#[test]
fn a_failed_fsync_poisons_the_log() {
    let disk = SimDisk::new(9);
    let mut pool = LocalPool::new();
    let log = pool.run_until(Log::open(disk.clone(), config())).unwrap();
    let flusher = log.clone();
    let handle = pool
        .spawner()
        .spawn_local_with_handle(async move { flusher.flusher().await })
        .unwrap();
    let first = pool.run_until(log.append(Epoch(1), 1, 0, b"a")).unwrap();
    pool.run_until(first).unwrap();
    disk.fail_syncs(true);
    let second = pool.run_until(log.append(Epoch(1), 1, 0, b"b")).unwrap();
    assert!(matches!(pool.run_until(second), Err(Error::Poisoned)));
    assert!(matches!(
        pool.run_until(handle),
        Err(Error::Io {
            op: "fdatasync",
            ..
        })
    ));
    disk.fail_syncs(false);
    let third = pool.run_until(log.append(Epoch(1), 1, 0, b"c"));
    assert!(matches!(third, Err(Error::Poisoned)), "no retry after EIO");
    assert!(log.is_poisoned());
}
