//! Log behaviour on the simulated disk: group commit, reading, trimming and reuse, and
//! corruption inside the acknowledged prefix.

use futures::executor::LocalPool;
use futures::future::join_all;
use futures::task::LocalSpawnExt;
use holdfast_log::storage::sim::SimDisk;
use holdfast_log::{Epoch, Error, Log, LogConfig, Lsn};

fn config() -> LogConfig {
    LogConfig {
        segment_size_bytes: 1024 * 1024,
        batch_size_bytes_max: 272 * 1024,
    }
}

/// Opens a log on `disk` and spawns its flusher on `pool`.
fn start(pool: &mut LocalPool, disk: &SimDisk) -> Log<SimDisk> {
    let log = pool
        .run_until(Log::open(disk.clone(), config()))
        .expect("open");
    let flusher = log.clone();
    // A flusher error poisons the log; the tests observe that through the log itself.
    pool.spawner()
        .spawn_local(async move { drop(flusher.flusher().await) })
        .unwrap();
    log
}

/// Appends `n` records of `size` bytes from `n` concurrent tasks and waits for all.
fn append_concurrently(pool: &mut LocalPool, log: &Log<SimDisk>, n: u64, size: usize) {
    let appends = (0..n).map(|i| {
        let log = log.clone();
        async move {
            log.append(Epoch(1), 1, 0, &vec![i as u8; size])
                .await
                .unwrap()
                .await
                .unwrap()
        }
    });
    pool.run_until(join_all(appends));
}

#[test]
fn concurrent_appenders_share_one_write_and_fdatasync() {
    let disk = SimDisk::new(1);
    disk.set_yield_percent(0);
    let mut pool = LocalPool::new();
    let log = start(&mut pool, &disk);
    let before = disk.syncs();
    append_concurrently(&mut pool, &log, 256, 100);
    let syncs = disk.syncs() - before;
    // All 256 appends land while the flusher is idle-waiting: the first batch holds
    // everything appended before the flusher runs.
    assert!(syncs <= 2, "256 appenders took {syncs} fdatasyncs");
    assert_eq!(log.watermark().get(), Lsn(256));
}

#[test]
fn a_lone_appender_never_waits_for_a_timer_or_company() {
    let disk = SimDisk::new(2);
    let mut pool = LocalPool::new();
    let log = start(&mut pool, &disk);
    for i in 1..=5u64 {
        let durable = pool.run_until(log.append(Epoch(1), 1, 0, b"x")).unwrap();
        assert_eq!(pool.run_until(durable).unwrap(), Lsn(i));
        assert_eq!(log.watermark().get(), Lsn(i));
    }
}

#[test]
fn size_bound_seals_batches_and_readers_start_anywhere() {
    let disk = SimDisk::new(3);
    let mut pool = LocalPool::new();
    let log = start(&mut pool, &disk);
    // 400 × ~10 KB = ~4 MB: many size-sealed batches and several segment rolls.
    append_concurrently(&mut pool, &log, 400, 10_000);
    for from in [1, 2, 137, 400] {
        let mut reader = log.reader(Lsn(from)).unwrap();
        let mut expected = from;
        while let Some(rec) = pool.run_until(reader.next()).unwrap() {
            assert_eq!(rec.lsn, Lsn(expected));
            assert_eq!(rec.payload.len(), 10_000);
            expected += 1;
        }
        assert_eq!(expected, 401, "reader from {from}");
    }
}

#[test]
fn a_caught_up_reader_keeps_its_place_and_sees_later_appends() {
    // Seed 5 reads in 12 KiB chunks: records straddle chunks, and the reader's
    // read-ahead must restart from where the durable bytes ended.
    let disk = SimDisk::new(5);
    let mut pool = LocalPool::new();
    let log = start(&mut pool, &disk);
    let mut reader = log.reader(Lsn(1)).unwrap();
    assert_eq!(pool.run_until(reader.next()).unwrap(), None, "nothing yet");
    let mut expected = 1u64;
    // Rounds of 1, 30 and 150 records of 3000 bytes: ~2.7 MB in all, so the reader
    // crosses segment rolls while tailing the active segment.
    for round in 0..6 {
        let n = [1, 30, 150][round % 3];
        append_concurrently(&mut pool, &log, n, 3000);
        while let Some(rec) = pool.run_until(reader.next()).unwrap() {
            assert_eq!(rec.lsn, Lsn(expected));
            assert_eq!(rec.payload.len(), 3000);
            expected += 1;
        }
        assert_eq!(Lsn(expected - 1), log.watermark().get(), "round {round}");
    }
    assert!(log.first_lsn() == Lsn(1) && expected > 300);
}

#[test]
fn trim_drops_whole_segments_and_reuses_them() {
    let disk = SimDisk::new(4);
    let mut pool = LocalPool::new();
    let log = start(&mut pool, &disk);
    append_concurrently(&mut pool, &log, 400, 10_000);
    let dropped = pool.run_until(log.trim_below(Lsn(300))).unwrap();
    assert!(dropped >= 2, "dropped {dropped}");
    assert!(log.first_lsn() <= Lsn(300) && log.first_lsn() > Lsn(1));
    assert!(matches!(
        log.reader(Lsn(1)),
        Err(Error::Trimmed { lsn: 1, .. })
    ));
    let spares_before = pool.run_until(spares(&disk));
    assert!(spares_before > 0);
    append_concurrently(&mut pool, &log, 200, 10_000);
    assert!(
        pool.run_until(spares(&disk)) < spares_before,
        "rolling took a spare"
    );
    // And the reused segment recovers cleanly despite its stale records.
    drop(pool);
    let mut pool = LocalPool::new();
    let log = start(&mut pool, &disk);
    assert_eq!(log.next_lsn(), Lsn(601));
}

async fn spares(disk: &SimDisk) -> usize {
    use holdfast_log::storage::Storage;
    disk.list()
        .await
        .unwrap()
        .iter()
        .filter(|n| n.starts_with("spare-"))
        .count()
}

#[test]
fn corruption_inside_the_acknowledged_prefix_is_refused_never_truncated() {
    let disk = SimDisk::new(5);
    disk.set_yield_percent(0);
    let mut pool = LocalPool::new();
    let log = start(&mut pool, &disk);
    for _ in 0..3 {
        append_concurrently(&mut pool, &log, 10, 100);
    }
    drop((pool, log));
    disk.crash();
    // Record 3 of the first batch: 2 records of 132 bytes before it; flip a payload bit.
    let name = "00000000000000000001.seg";
    disk.flip_bit(name, 2 * 132 + 40, 3);
    let err = futures::executor::block_on(Log::open(disk.clone(), config()))
        .err()
        .expect("must refuse");
    let Error::Corrupt { file, offset, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((file.as_str(), *offset), (name, 264));
    assert!(
        err.to_string()
            .contains("00000000000000000001.seg at offset 264"),
        "{err}"
    );
}

#[test]
fn a_torn_last_batch_is_truncated() {
    // The last batch is the only one that can be torn; recovery drops it and appends
    // continue after the last verified record.
    for seed in 0..20 {
        let disk = SimDisk::new(100 + seed);
        let mut pool = LocalPool::new();
        let log = start(&mut pool, &disk);
        append_concurrently(&mut pool, &log, 5, 3000);
        // The last batch is written but its fdatasync fails: on the crash it is lost,
        // kept, or torn at any sector.
        disk.fail_syncs(true);
        let unacked: Vec<_> = (0..5)
            .map(|_| {
                pool.run_until(log.append(Epoch(1), 1, 0, &[9; 3000]))
                    .unwrap()
            })
            .collect();
        pool.run_until_stalled();
        drop(unacked);
        drop((pool, log));
        disk.crash();
        disk.fail_syncs(false);
        let mut pool = LocalPool::new();
        let log = start(&mut pool, &disk);
        assert!(
            (6..=11).contains(&log.next_lsn().0),
            "seed {seed}: {:?}",
            log.next_lsn()
        );
        append_concurrently(&mut pool, &log, 3, 100);
    }
}
