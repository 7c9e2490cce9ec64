//! What the benchmarks read from Linux's /proc: a process's CPU time (`/proc/PID/stat`),
//! its resident memory (`/proc/PID/status`), and the machine description for reports.

use std::fs;
use std::io;

/// CPU time a process has used, in clock ticks (`sysconf(_SC_CLK_TCK)` per second),
/// summed over all its threads, live and exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

impl CpuTicks {
    pub fn total(self) -> u64 {
        self.user + self.system
    }

    /// Ticks used since `earlier`; saturates at zero rather than wrapping if the
    /// samples come from two different processes by mistake.
    pub fn since(self, earlier: CpuTicks) -> u64 {
        self.total().saturating_sub(earlier.total())
    }
}

/// Parses `utime` and `stime` (fields 14 and 15) from the text of `/proc/PID/stat`.
///
/// Field 2 is the command name in parentheses and may itself contain spaces and ')',
/// so the fields are counted from the *last* ')'.
pub fn parse_stat(text: &str) -> Result<CpuTicks, String> {
    let after_name = text
        .rfind(')')
        .map(|end| &text[end + 1..])
        .ok_or_else(|| format!("no ')' closing the command name in /proc stat: {text:?}"))?;
    // After the name come field 3 (state), 4, ...; utime is field 14, so index 11 here.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |index: usize, name: &str| -> Result<u64, String> {
        let raw = fields
            .get(index)
            .ok_or_else(|| format!("/proc stat has no {name} field: {text:?}"))?;
        raw.parse()
            .map_err(|_| format!("/proc stat {name} is not a number: {raw:?}"))
    };
    Ok(CpuTicks {
        user: field(11, "utime")?,
        system: field(12, "stime")?,
    })
}

pub fn read_stat(pid: u32) -> io::Result<CpuTicks> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The `VmRSS` line of `/proc/PID/status`, in bytes (the kernel reports kB).
pub fn parse_vm_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(kib * 1024),
        _ => None,
    }
}

pub fn read_rss_bytes(pid: u32) -> io::Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss_bytes(&status).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/status has no VmRSS line in kB"),
        )
    })
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // 100 is what Linux has reported on every architecture for decades; it only stands in
    // if sysconf fails, which it does not for _SC_CLK_TCK.
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// The machine a report was measured on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// CPUs this process may run on (what `nproc` prints).
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
}

/// The first `model name` in `/proc/cpuinfo`.
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == "model name")
        .map(|(_, value)| value.trim().to_string())
}

pub fn machine() -> Machine {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| parse_cpu_model(&text))
        .unwrap_or_else(|| "unknown (no model name in /proc/cpuinfo)".to_string());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    Machine {
        cpus,
        cpu_model,
        kernel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_the_command_name() {
        let text = "4242 (redis-server) S 1 4242 4242 0 -1 4194560 1093 0 0 0 \
                    731 245 0 0 20 0 5 0 123456 12345678 3000 18446744073709551615";
        assert_eq!(
            parse_stat(text).unwrap(),
            CpuTicks {
                user: 731,
                system: 245
            }
        );
    }

    #[test]
    fn stat_command_name_with_spaces_and_parentheses() {
        let text = "77 (a b) c)) R 1 77 77 0 -1 0 0 0 0 0 12 34 0 0 20 0 1 0 5 6 7";
        let ticks = parse_stat(text).unwrap();
        assert_eq!((ticks.user, ticks.system), (12, 34));
        assert_eq!(ticks.total(), 46);
    }

    #[test]
    fn stat_truncated_or_garbled_is_an_error() {
        assert!(parse_stat("1 (x) S 1 2 3").is_err());
        assert!(parse_stat("no parenthesis at all").is_err());
        assert!(parse_stat("1 (x) S 1 1 1 0 -1 0 0 0 0 0 ab 3 0").is_err());
    }

    #[test]
    fn stat_of_this_process_parses() {
        let ticks = read_stat(std::process::id()).unwrap();
        assert!(ticks.total() < u64::MAX);
    }

    #[test]
    fn ticks_since_saturates() {
        let early = CpuTicks {
            user: 10,
            system: 5,
        };
        let late = CpuTicks {
            user: 30,
            system: 9,
        };
        assert_eq!(late.since(early), 24);
        assert_eq!(early.since(late), 0);
    }

    #[test]
    fn vm_rss_in_bytes() {
        let status = "Name:\tredis-server\nVmPeak:\t  99 kB\nVmRSS:\t   12328 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss_bytes(status), Some(12328 * 1024));
        assert_eq!(parse_vm_rss_bytes("Name:\tx\n"), None);
        assert_eq!(parse_vm_rss_bytes("VmRSS:\t12 MB\n"), None);
    }

    #[test]
    fn cpu_model_is_the_first_model_name() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\n\
                       model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n\n\
                       processor\t: 1\nmodel name\t: Other\n";
        assert_eq!(
            parse_cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) Processor")
        );
        assert_eq!(parse_cpu_model("processor\t: 0\n"), None);
    }
}
