//! LATENCY DOCTOR: Redis's report (latency.c createLatencyReport), its statistics per
//! event and the advice its rules give, for the events Holdfast records (`command`,
//! `fast-command`, `expire-cycle`, `eviction-cycle`) and the one rule that looks at the
//! process instead (transparent huge pages). Holdfast never forks and its log is not an
//! AOF, so Redis's fork and AOF events never occur; its own `log-commit` (writes waiting
//! for their record to be durable) gets the disk advice Redis gives for an AOF write
//! waiting on fsync, less the ext4 `data=writeback` hint (the log writes with O_DIRECT).

use crate::core::latency::{Monitor, Series};

/// What the advice depends on besides the events.
pub struct Inputs {
    pub threshold_ms: u64,
    pub slowlog_log_slower_than_us: i64,
    pub hz: u64,
    /// Anonymous huge pages the process maps (Redis's THPGetAnonHugePagesSize).
    pub anon_huge_pages_bytes: u64,
    pub now_unix_s: u64,
}

/// The advice, in the order Redis prints it.
#[derive(Default)]
struct Advice {
    slowlog_enabled: bool,
    slowlog_tuning: bool,
    slowlog_inspect: bool,
    scheduler: bool,
    local_disk: bool,
    ssd: bool,
    disk_contention: bool,
    hz: bool,
    large_objects: bool,
    mass_eviction: bool,
    disable_thp: bool,
    /// Redis's `advices` counter: rules that fired, including ones whose advice a setting
    /// then leaves out (`hz` already 100 or more).
    count: u32,
}

pub fn report(monitor: &Monitor, inputs: &Inputs) -> String {
    if monitor.events.is_empty() && inputs.threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let mut report = String::new();
    let mut advice = Advice::default();
    let events = monitor
        .events
        .iter()
        .filter(|(_, series)| !series.samples.is_empty());
    for (number, (name, series)) in events.enumerate() {
        if number == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let stats = Stats::of(series, inputs.now_unix_s);
        report.push_str(&format!(
            "{}. {name}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.\n",
            number + 1,
            stats.samples,
            stats.avg,
            stats.mad,
            stats.period_s as f64 / stats.samples as f64,
            series.max_ms
        ));
        advice.for_event(name, inputs);
    }
    if inputs.anon_huge_pages_bytes > 0 {
        advice.disable_thp = true;
        advice.count += 1;
    }
    // Nothing written yet: no event had samples.
    if report.is_empty() && advice.count == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
    } else if advice.count == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
    } else {
        advice.write(&mut report, inputs);
    }
    report
}

/// Redis's analyzeLatencyForEvent: samples, their integer average, the mean absolute
/// deviation from it, and the seconds since the oldest sample (at least 1).
struct Stats {
    samples: u64,
    avg: u64,
    mad: u64,
    period_s: u64,
}

impl Stats {
    fn of(series: &Series, now_unix_s: u64) -> Stats {
        let samples = series.samples.len() as u64;
        let avg = series.samples.iter().map(|s| s.ms).sum::<u64>() / samples.max(1);
        let mad = series
            .samples
            .iter()
            .map(|s| s.ms.abs_diff(avg))
            .sum::<u64>()
            / samples.max(1);
        let oldest = series.samples.iter().map(|s| s.unix_s).min().unwrap_or(0);
        Stats {
            samples,
            avg,
            mad,
            period_s: now_unix_s.saturating_sub(oldest).max(1),
        }
    }
}

impl Advice {
    /// Redis's per-event rules.
    fn for_event(&mut self, event: &str, inputs: &Inputs) {
        match event {
            "command" => {
                if inputs.slowlog_log_slower_than_us < 0 {
                    self.slowlog_enabled = true;
                    self.count += 1;
                } else if inputs.slowlog_log_slower_than_us / 1000 > inputs.threshold_ms as i64 {
                    self.slowlog_tuning = true;
                    self.count += 1;
                }
                self.slowlog_inspect = true;
                self.large_objects = true;
                self.count += 2;
            }
            "fast-command" => {
                self.scheduler = true;
                self.count += 1;
            }
            "expire-cycle" => {
                self.hz = true;
                self.large_objects = true;
                self.count += 2;
            }
            "eviction-cycle" => {
                self.mass_eviction = true;
                self.count += 1;
            }
            // Redis's aof-write-pending-fsync rule.
            "log-commit" => {
                self.local_disk = true;
                self.ssd = true;
                self.disk_contention = true;
                self.count += 3;
            }
            _ => {}
        }
    }

    fn write(&self, report: &mut String, inputs: &Inputs) {
        let slowlog_us = inputs.threshold_ms * 1000;
        report.push_str("\nI have a few advices for you:\n\n");
        if self.slowlog_enabled {
            report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {slowlog_us}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n"));
        }
        if self.slowlog_tuning {
            report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {slowlog_us}'.\n"));
        }
        if self.slowlog_inspect {
            report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if self.scheduler {
            report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
        }
        if self.local_disk {
            report.push_str("- It is strongly advised to use local disks for persistence, especially if you are using AOF. Remote disks provided by platform-as-a-service providers are known to be slow.\n");
        }
        if self.ssd {
            report.push_str("- SSD disks are able to reduce fsync latency, and total time needed for snapshotting and AOF log rewriting (resulting in smaller memory usage and smaller final AOF rewrite buffer flushes). With extremely high write load SSD disks can be a good option. However Redis should perform reasonably with high load using normal disks. Use this advice as a last resort.\n");
        }
        if self.disk_contention {
            report.push_str("- Try to lower the disk contention. This is often caused by other disk intensive processes running in the same computer (including other Redis instances).\n");
        }
        if self.hz && inputs.hz < 100 {
            report.push_str("- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration parameter to 100 using 'CONFIG SET hz 100'.\n");
        }
        if self.large_objects {
            report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if self.mass_eviction {
            report.push_str("- Sudden changes to the 'maxmemory' setting via 'CONFIG SET', or allocation of large objects via sets or sorted sets intersections, STORE option of SORT, Redis Cluster large keys migrations (RESTORE command), may create sudden memory pressure forcing the server to block trying to evict keys. \n");
        }
        if self.disable_thp {
            report.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
        }
    }
}

/// The anonymous huge pages this process maps, from /proc (0 where it cannot be read).
pub fn anon_huge_pages_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/smaps_rollup") else {
        return 0;
    };
    text.lines()
        .filter_map(|line| line.strip_prefix("AnonHugePages:"))
        .filter_map(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .sum::<u64>()
        * 1024
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::latency::Sample;

    fn inputs() -> Inputs {
        Inputs {
            threshold_ms: 5,
            slowlog_log_slower_than_us: 10_000,
            hz: 10,
            anon_huge_pages_bytes: 0,
            now_unix_s: 1_000,
        }
    }

    fn monitor(events: &[(&'static str, &[(u64, u64)])]) -> Monitor {
        let mut monitor = Monitor::default();
        for &(name, samples) in events {
            for &(unix_s, ms) in samples {
                monitor.add(name, Sample { unix_s, ms });
            }
        }
        monitor
    }

    fn advice_lines(report: &str) -> Vec<String> {
        report
            .split("\nI have a few advices for you:\n\n")
            .nth(1)
            .unwrap_or("")
            .lines()
            .filter(|line| line.starts_with("- "))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn disabled_quiet_and_statistics_as_redis() {
        let off = Inputs {
            threshold_ms: 0,
            ..inputs()
        };
        assert!(report(&Monitor::default(), &off).starts_with("I'm sorry, Dave"));
        assert!(report(&Monitor::default(), &inputs()).starts_with("Dave, no latency spike"));
        // Samples 10, 20 and 60 ms, the oldest 400 s ago: average 30, deviation
        // (20 + 10 + 30) / 3, period 400 / 3.
        let events = monitor(&[("command", &[(600, 10), (700, 20), (800, 60)])]);
        let text = report(&events, &inputs());
        assert!(
            text.contains("1. command: 3 latency spikes (average 30ms, mean deviation 20ms, period 133.33 sec). Worst all time event 60ms.\n"),
            "{text}"
        );
    }

    #[test]
    fn slow_commands_point_at_the_slow_log() {
        let events = monitor(&[("command", &[(990, 50)])]);
        let lines = advice_lines(&report(&events, &inputs()));
        // slowlog-log-slower-than 10 ms is above the 5 ms threshold: tune it.
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains("'CONFIG SET slowlog-log-slower-than 5000'"));
        assert!(lines[0].starts_with("- Your current Slow Log configuration"));
        assert!(lines[1].starts_with("- Check your Slow Log"));
        assert!(lines[2].starts_with("- Deleting, expiring or evicting"));
        let disabled = Inputs {
            slowlog_log_slower_than_us: -1,
            ..inputs()
        };
        let lines = advice_lines(&report(&events, &disabled));
        assert!(lines[0].starts_with("- There are latency issues with potentially slow commands"));
        let low = Inputs {
            slowlog_log_slower_than_us: 1000,
            ..inputs()
        };
        assert_eq!(advice_lines(&report(&events, &low)).len(), 2);
    }

    #[test]
    fn cycles_and_fast_commands_have_their_own_advice() {
        let events = monitor(&[
            ("eviction-cycle", &[(990, 9)]),
            ("expire-cycle", &[(990, 9)]),
            ("fast-command", &[(990, 9)]),
        ]);
        let lines = advice_lines(&report(&events, &inputs()));
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("- The system is slow to execute Redis code paths"));
        assert!(lines[1].contains("'CONFIG SET hz 100'"));
        assert!(lines[2].starts_with("- Deleting, expiring or evicting"));
        assert!(lines[3].starts_with("- Sudden changes to the 'maxmemory' setting"));
        // With hz at 100 already, the rule still fires but its advice is left out.
        let fast = Inputs {
            hz: 100,
            ..inputs()
        };
        let events = monitor(&[("expire-cycle", &[(990, 9)])]);
        let text = report(&events, &fast);
        let lines = advice_lines(&text);
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].starts_with("- Deleting, expiring or evicting"));
    }

    #[test]
    fn slow_commits_point_at_the_disk() {
        let events = monitor(&[("log-commit", &[(990, 40)])]);
        let lines = advice_lines(&report(&events, &inputs()));
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("- It is strongly advised to use local disks"));
        assert!(lines[1].starts_with("- SSD disks are able to reduce fsync latency"));
        assert!(lines[2].starts_with("- Try to lower the disk contention"));
    }

    #[test]
    fn huge_pages_are_advised_against_even_without_events() {
        let thp = Inputs {
            anon_huge_pages_bytes: 2 << 20,
            ..inputs()
        };
        let text = report(&Monitor::default(), &thp);
        assert!(!text.contains("Dave, I have observed"), "{text}");
        let lines = advice_lines(&text);
        assert_eq!(lines.len(), 1, "{text}");
        assert!(lines[0].starts_with("- I detected a non zero amount of anonymous huge pages"));
    }

    #[test]
    fn an_unknown_event_has_no_easy_fix() {
        let events = monitor(&[("something-else", &[(990, 9)])]);
        let text = report(&events, &inputs());
        assert!(
            text.ends_with("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n"),
            "{text}"
        );
    }
}
