//! A seeded simulated disk for tests: only fsynced data survives a crash.
//!
//! Every file keeps its durable image (as of its last `sync_data`) and the writes since.
//! [`SimDisk::crash`] rebuilds each file from its durable image and, for each unsynced
//! write, randomly loses it, keeps it, or tears it at a 512-byte sector boundary (the lost
//! sectors keep their old bytes or read back as zeros). Directory changes survive only if
//! `sync_dir` ran after them. Operations randomly yield to the executor, so concurrent
//! appenders interleave differently for every seed.

use super::{Storage, StorageFile};
use crate::config::SECTOR_SIZE_BYTES;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// splitmix64: small, seeded, good enough to pick faults; no dependency needed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    unsynced: Vec<(u64, Vec<u8>)>,
}

#[derive(Debug)]
struct State {
    rng: Rng,
    inodes: HashMap<u64, Inode>,
    dir: BTreeMap<String, u64>,
    dir_durable: BTreeMap<String, u64>,
    next_inode: u64,
    fail_syncs: bool,
    yield_percent: u64,
    syncs: u64,
    /// Operations left before the disk freezes (the moment of the power cut).
    ops_left: Option<u64>,
    read_chunk_bytes: u64,
}

/// Handle on the simulated disk; clones share it.
#[derive(Clone, Debug)]
pub struct SimDisk {
    state: Rc<RefCell<State>>,
}

impl SimDisk {
    pub fn new(seed: u64) -> SimDisk {
        let state = State {
            rng: Rng::new(seed),
            inodes: HashMap::new(),
            dir: BTreeMap::new(),
            dir_durable: BTreeMap::new(),
            next_inode: 1,
            fail_syncs: false,
            yield_percent: 30,
            syncs: 0,
            ops_left: None,
            // Small reads for most seeds, so records straddle the chunks that recovery
            // and readers verify one by one.
            read_chunk_bytes: [4096, 12 * 1024, 64 * 1024, 1 << 20][seed as usize % 4],
        };
        SimDisk {
            state: Rc::new(RefCell::new(state)),
        }
    }

    /// Power loss: unsynced writes are lost, kept or torn; unsynced names are forgotten.
    /// Old handles must not be used afterwards.
    pub fn crash(&self) {
        let mut st = self.state.borrow_mut();
        let st = &mut *st;
        st.ops_left = None;
        st.dir = st.dir_durable.clone();
        let live: Vec<u64> = st.dir.values().copied().collect();
        st.inodes.retain(|ino, _| live.contains(ino));
        for inode in st.inodes.values_mut() {
            let mut image = std::mem::take(&mut inode.durable);
            for (offset, data) in std::mem::take(&mut inode.unsynced) {
                apply_after_crash(&mut st.rng, &mut image, offset, &data);
            }
            inode.current = image.clone();
            inode.durable = image;
        }
    }

    /// Flips one bit of a file, in its durable image too (media corruption).
    pub fn flip_bit(&self, name: &str, offset: u64, bit: u8) {
        let mut st = self.state.borrow_mut();
        let ino = st.dir[name];
        let inode = st.inodes.get_mut(&ino).expect("inode");
        inode.current[offset as usize] ^= 1 << bit;
        inode.durable[offset as usize] ^= 1 << bit;
    }

    /// Makes every later `sync_data` fail (an EIO from fdatasync).
    pub fn fail_syncs(&self, fail: bool) {
        self.state.borrow_mut().fail_syncs = fail;
    }

    /// After `ops` more operations, every operation hangs forever: the instant of a power
    /// cut. Run the executor until it stalls, then [`SimDisk::crash`].
    pub fn freeze_after(&self, ops: u64) {
        self.state.borrow_mut().ops_left = Some(ops);
    }

    /// Percentage of operations that yield to the executor before completing.
    pub fn set_yield_percent(&self, percent: u64) {
        self.state.borrow_mut().yield_percent = percent;
    }

    /// Number of successful `sync_data` calls so far.
    pub fn syncs(&self) -> u64 {
        self.state.borrow().syncs
    }

    /// Durable length of a file (tests).
    pub fn file_len(&self, name: &str) -> Option<u64> {
        let st = self.state.borrow();
        st.dir
            .get(name)
            .map(|ino| st.inodes[ino].current.len() as u64)
    }

    fn maybe_yield(&self) -> YieldNow {
        let mut st = self.state.borrow_mut();
        match st.ops_left {
            Some(0) => return YieldNow::Never,
            Some(n) => st.ops_left = Some(n - 1),
            None => {}
        }
        let percent = st.yield_percent;
        if st.rng.chance(percent) {
            YieldNow::Once
        } else {
            YieldNow::No
        }
    }

    fn inode_of(&self, name: &str) -> io::Result<u64> {
        self.state
            .borrow()
            .dir
            .get(name)
            .copied()
            .ok_or_else(|| not_found(name))
    }
}

fn not_found(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{name}: no such simulated file"),
    )
}

/// Applies one unsynced write to a crash image: lost, whole, or torn at a sector boundary
/// with the rest either left as it was or zero-filled.
fn apply_after_crash(rng: &mut Rng, image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let sectors = (data.len() as u64).div_ceil(SECTOR_SIZE_BYTES);
    let kept = match rng.below(3) {
        0 => 0,
        1 => sectors,
        _ => rng.below(sectors + 1),
    };
    let kept_bytes = ((kept * SECTOR_SIZE_BYTES) as usize).min(data.len());
    let zero_rest = rng.chance(50);
    let end = offset as usize + if zero_rest { data.len() } else { kept_bytes };
    if image.len() < end {
        image.resize(end, 0);
    }
    let at = offset as usize;
    image[at..at + kept_bytes].copy_from_slice(&data[..kept_bytes]);
    if zero_rest {
        image[at + kept_bytes..at + data.len()].fill(0);
    }
}

/// Copies `data` into `image` at `offset`, growing it (with zeros for any gap).
fn write_into(image: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let at = offset as usize;
    if image.len() < at {
        image.resize(at, 0);
    }
    let overlap = (image.len() - at).min(data.len());
    image[at..at + overlap].copy_from_slice(&data[..overlap]);
    image.extend_from_slice(&data[overlap..]);
}

/// Returns `Pending` once (waking itself) to let other tasks run, or forever once the
/// disk is frozen.
enum YieldNow {
    No,
    Once,
    Never,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match *self {
            YieldNow::No => Poll::Ready(()),
            YieldNow::Once => {
                *self = YieldNow::No;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            YieldNow::Never => Poll::Pending,
        }
    }
}

impl Storage for SimDisk {
    type File = SimFile;

    async fn list(&self) -> io::Result<Vec<String>> {
        self.maybe_yield().await;
        Ok(self.state.borrow().dir.keys().cloned().collect())
    }

    async fn create(&self, name: &str) -> io::Result<SimFile> {
        self.maybe_yield().await;
        let mut st = self.state.borrow_mut();
        if st.dir.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                name.to_string(),
            ));
        }
        let ino = st.next_inode;
        st.next_inode += 1;
        st.inodes.insert(ino, Inode::default());
        st.dir.insert(name.to_string(), ino);
        Ok(SimFile {
            disk: self.clone(),
            ino,
        })
    }

    async fn open(&self, name: &str) -> io::Result<SimFile> {
        self.maybe_yield().await;
        Ok(SimFile {
            disk: self.clone(),
            ino: self.inode_of(name)?,
        })
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.maybe_yield().await;
        let mut st = self.state.borrow_mut();
        let ino = st.dir.remove(from).ok_or_else(|| not_found(from))?;
        st.dir.insert(to.to_string(), ino);
        Ok(())
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        self.maybe_yield().await;
        self.state
            .borrow_mut()
            .dir
            .remove(name)
            .ok_or_else(|| not_found(name))?;
        Ok(())
    }

    async fn sync_dir(&self) -> io::Result<()> {
        self.maybe_yield().await;
        let mut st = self.state.borrow_mut();
        st.dir_durable = st.dir.clone();
        Ok(())
    }

    fn read_chunk_bytes(&self) -> u64 {
        self.state.borrow().read_chunk_bytes
    }
}

/// A handle on one simulated file (by inode, so it survives renames like a real fd).
#[derive(Debug)]
pub struct SimFile {
    disk: SimDisk,
    ino: u64,
}

impl SimFile {
    fn with<T>(&self, f: impl FnOnce(&mut Inode) -> T) -> io::Result<T> {
        let mut st = self.disk.state.borrow_mut();
        let inode = st
            .inodes
            .get_mut(&self.ino)
            .ok_or_else(|| io::Error::other("simulated file handle is stale"))?;
        Ok(f(inode))
    }
}

impl StorageFile for SimFile {
    type Buf = Vec<u8>;

    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        assert_eq!(offset % SECTOR_SIZE_BYTES, 0, "unaligned write offset");
        assert_eq!(
            data.len() as u64 % SECTOR_SIZE_BYTES,
            0,
            "unaligned write length"
        );
        self.disk.maybe_yield().await;
        self.with(|inode| {
            write_into(&mut inode.current, offset, data);
            inode.unsynced.push((offset, data.to_vec()));
        })
    }

    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.disk.maybe_yield().await;
        self.with(|inode| {
            let start = (offset as usize).min(inode.current.len());
            let end = (start + len).min(inode.current.len());
            inode.current[start..end].to_vec()
        })
    }

    async fn sync_data(&self) -> io::Result<()> {
        self.disk.maybe_yield().await;
        if self.disk.state.borrow().fail_syncs {
            return Err(io::Error::other("simulated fdatasync failure (EIO)"));
        }
        self.with(|inode| {
            // Replay the unsynced writes onto the durable image rather than copying the
            // whole file: syncs are frequent and segments are large.
            for (offset, data) in std::mem::take(&mut inode.unsynced) {
                write_into(&mut inode.durable, offset, &data);
            }
            inode.durable.resize(inode.current.len(), 0);
        })?;
        self.disk.state.borrow_mut().syncs += 1;
        Ok(())
    }

    async fn size(&self) -> io::Result<u64> {
        self.with(|inode| inode.current.len() as u64)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.disk.maybe_yield().await;
        self.with(|inode| {
            inode.current.resize(len as usize, 0);
            // A size change is metadata that fdatasync commits; model it as a write.
            inode.unsynced.push((0, Vec::new()));
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn only_synced_data_and_names_survive_a_crash() {
        let disk = SimDisk::new(1);
        block_on(async {
            let f = disk.create("a").await.unwrap();
            f.write_at(0, &[1; 512]).await.unwrap();
            f.sync_data().await.unwrap();
            disk.sync_dir().await.unwrap();
            let g = disk.create("b").await.unwrap();
            g.write_at(0, &[2; 512]).await.unwrap();
            g.sync_data().await.unwrap();
        });
        disk.crash();
        block_on(async {
            assert_eq!(disk.list().await.unwrap(), vec!["a".to_string()]);
            let f = disk.open("a").await.unwrap();
            assert_eq!(f.read_at(0, 4096).await.unwrap(), vec![1; 512]);
        });
    }

    #[test]
    fn unsynced_writes_are_lost_kept_or_torn_on_sector_boundaries() {
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let disk = SimDisk::new(seed);
            disk.set_yield_percent(0);
            block_on(async {
                let f = disk.create("a").await.unwrap();
                disk.sync_dir().await.unwrap();
                f.write_at(0, &[7; 2048]).await.unwrap();
            });
            disk.crash();
            let bytes = block_on(async {
                disk.open("a")
                    .await
                    .unwrap()
                    .read_at(0, 4096)
                    .await
                    .unwrap()
            });
            let sevens = bytes.iter().take_while(|&&b| b == 7).count();
            assert_eq!(sevens % 512, 0, "seed {seed}: tear inside a sector");
            assert!(bytes[sevens..].iter().all(|&b| b == 0), "seed {seed}");
            outcomes.insert(sevens);
        }
        assert_eq!(
            outcomes.len(),
            5,
            "every tear point 0..=4 sectors occurs: {outcomes:?}"
        );
    }

    #[test]
    fn failed_sync_keeps_nothing() {
        let disk = SimDisk::new(2);
        block_on(async {
            let f = disk.create("a").await.unwrap();
            disk.sync_dir().await.unwrap();
            f.write_at(0, &[1; 512]).await.unwrap();
            disk.fail_syncs(true);
            assert!(f.sync_data().await.is_err());
        });
        assert_eq!(disk.syncs(), 0);
    }
}
