//! The log on the real disk: glommio DMA files with O_DIRECT, rolling across segments,
//! then recovery and reading back after a reopen.

use glommio::LocalExecutorBuilder;
use holdfast_log::storage::dma::DmaStorage;
use holdfast_log::{Epoch, Log, LogConfig, Lsn};
use std::path::PathBuf;

fn config() -> LogConfig {
    LogConfig {
        segment_size_bytes: 1024 * 1024,
        batch_size_bytes_max: 272 * 1024,
    }
}

#[test]
fn appends_survive_a_reopen_on_the_real_disk() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("holdfast-log-dma-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ex = LocalExecutorBuilder::default().make().expect("glommio");
    let d = dir.clone();
    ex.run(async move {
        let log = Log::open(DmaStorage::open(&d).await.unwrap(), config())
            .await
            .unwrap();
        let flusher = glommio::spawn_local({
            let log = log.clone();
            async move { log.flusher().await }
        });
        let tasks: Vec<_> = (0..16u64)
            .map(|t| {
                let log = log.clone();
                glommio::spawn_local(async move {
                    for i in 0..40u64 {
                        let payload = vec![(t * 40 + i) as u8; 1000 + (i as usize * 37) % 3000];
                        log.append(Epoch(1), 1, 0, &payload)
                            .await
                            .unwrap()
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        assert_eq!(log.watermark().get(), Lsn(640));
        log.close();
        flusher.await.unwrap();
        assert!(
            log.stats().batches < 640,
            "group commit batched: {:?}",
            log.stats()
        );
        drop(log);

        let log = Log::open(DmaStorage::open(&d).await.unwrap(), config())
            .await
            .unwrap();
        assert_eq!(log.next_lsn(), Lsn(641));
        let mut reader = log.reader(Lsn(1)).unwrap();
        let mut n = 0;
        while let Some(rec) = reader.next().await.unwrap() {
            n += 1;
            assert_eq!(rec.lsn, Lsn(n));
        }
        assert_eq!(n, 640);
    });
    let segments = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert!(segments >= 2, "the log rolled: {segments} segments");
    std::fs::remove_dir_all(&dir).unwrap();
}
