//! The server's data directory on its own ext4 inside a loop-device image, so the
//! nemesis can cut its power: freeze the server (SIGSTOP), copy the image without
//! syncing, SIGKILL the server, and restart it on the copy. What the copy holds is what
//! had reached the "device": the inner ext4's page cache and any write the server had
//! not fsynced are gone, and a torn tail shows up as zeros. The method is the one of
//! `log/scripts/power-loss.sh` and `../shared/LAB.md`.
//!
//! Needs root (losetup, mount) and mkfs.ext4; [`unavailable`] says why not when they
//! are missing, and the chaos run then skips only this fault.

use super::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The image's size: room for the log's preallocated segments (64 MiB each, with spares)
/// and a few restarts; the file is sparse, so only what is written takes space.
const IMAGE_BYTES: u64 = 1 << 30;
/// A SIGKILLed server's io_uring may hold its files a moment after it is reaped, so an
/// unmount is retried this often, this far apart.
const UNMOUNT_TRIES: u32 = 100;
const UNMOUNT_PAUSE: Duration = Duration::from_millis(100);

/// Why power loss cannot run here, or `None` when it can.
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (losetup and mount)".to_string());
    }
    for tool in ["losetup", "mkfs.ext4", "mount", "umount"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no /dev/loop-control: this kernel has no loop devices".to_string());
    }
    None
}

/// An ext4 image mounted through a loop device.
pub struct LoopDisk {
    image: PathBuf,
    mount_point: PathBuf,
    device: Option<String>,
}

impl LoopDisk {
    /// Makes an empty ext4 image in `dir` and mounts it at `dir/mnt`.
    pub fn create(dir: &Path) -> Result<LoopDisk, Error> {
        let image = dir.join("disk.img");
        let mount_point = dir.join("mnt");
        std::fs::create_dir_all(&mount_point)
            .map_err(Error::io(format!("creating {}", mount_point.display())))?;
        let file = std::fs::File::create(&image)
            .map_err(Error::io(format!("creating {}", image.display())))?;
        file.set_len(IMAGE_BYTES)
            .map_err(Error::io(format!("sizing {}", image.display())))?;
        run(Command::new("mkfs.ext4").args(["-q", "-F"]).arg(&image))?;
        let mut disk = LoopDisk {
            image,
            mount_point,
            device: None,
        };
        disk.mount()?;
        Ok(disk)
    }

    /// Where the server's files go.
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }

    fn mount(&mut self) -> Result<(), Error> {
        let device = run(Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&self.image))?;
        let device = device.trim().to_string();
        let mounted = run(Command::new("mount").arg(&device).arg(&self.mount_point));
        if let Err(e) = mounted {
            let _ = run(Command::new("losetup").args(["-d", &device]));
            return Err(e);
        }
        self.device = Some(device);
        Ok(())
    }

    fn unmount(&mut self) -> Result<(), Error> {
        let Some(device) = self.device.take() else {
            return Ok(());
        };
        let mut last = Ok(String::new());
        for _ in 0..UNMOUNT_TRIES {
            last = run(Command::new("umount").arg(&self.mount_point));
            if last.is_ok() {
                break;
            }
            std::thread::sleep(UNMOUNT_PAUSE);
        }
        let detached = run(Command::new("losetup").args(["-d", &device]));
        last.and(detached).map(drop)
    }

    /// Takes what is on the device now (the server frozen by the caller) as the image
    /// the disk will come back with: the copy is made before anything is synced.
    pub fn snapshot_device(&self) -> Result<PathBuf, Error> {
        let copy = self.image.with_extension("copy");
        run(Command::new("cp")
            .arg("--sparse=always")
            .arg(&self.image)
            .arg(&copy))?;
        Ok(copy)
    }

    /// Unmounts the disk (the server must be dead), replaces the image with `copy`, and
    /// mounts it again: the state after the power came back.
    pub fn come_back_as(&mut self, copy: &Path) -> Result<(), Error> {
        self.unmount()?;
        std::fs::rename(copy, &self.image)
            .map_err(Error::io(format!("replacing {}", self.image.display())))?;
        self.mount()
    }

    /// Unmounts and deletes the image (the server must be stopped).
    pub fn remove(mut self) -> Result<(), Error> {
        self.unmount()?;
        std::fs::remove_file(&self.image)
            .map_err(Error::io(format!("removing {}", self.image.display())))?;
        std::fs::remove_dir(&self.mount_point).map_err(Error::io(format!(
            "removing {}",
            self.mount_point.display()
        )))
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = self.unmount();
    }
}

/// Runs a system tool, returning its stdout, or an error with its stderr.
fn run(command: &mut Command) -> Result<String, Error> {
    let output = command
        .output()
        .map_err(Error::io(format!("running {command:?}")))?;
    if !output.status.success() {
        return Err(Error::Tool(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
