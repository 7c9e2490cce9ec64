//! Per-core counters: INFO commandstats, errorstats and stats, and the slow log; summed or
//! merged across cores when asked.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

#[derive(Clone, Copy, Debug, Default)]
pub struct CommandCounters {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

/// Redis's instantaneous metrics: a rate averaged over the last 16 cron samples.
#[derive(Clone, Debug, Default)]
pub struct RateSamples {
    samples: [f64; 16],
    index: usize,
    last_value: u64,
    last_ms: u64,
}

impl RateSamples {
    pub fn sample(&mut self, value: u64, now_ms: u64) {
        if self.last_ms != 0 && now_ms > self.last_ms {
            let rate = (value.saturating_sub(self.last_value)) as f64 * 1000.0
                / (now_ms - self.last_ms) as f64;
            self.samples[self.index] = rate;
            self.index = (self.index + 1) % self.samples.len();
        }
        self.last_value = value;
        self.last_ms = now_ms;
    }

    pub fn rate(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len() as f64
    }
}

#[derive(Clone, Debug)]
pub struct SlowEntry {
    pub id: u64,
    pub unix_s: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

#[derive(Clone, Debug, Default)]
pub struct CoreStats {
    /// Indexed by command table index.
    pub commands: Vec<CommandCounters>,
    /// Error replies by their code (ERR, WRONGTYPE, ...): INFO errorstats.
    pub errors: BTreeMap<String, u64>,
    pub total_connections_received: u64,
    pub rejected_connections: u64,
    pub total_commands_processed: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub total_error_replies: u64,
    pub total_reads_processed: u64,
    pub total_writes_processed: u64,
    pub ops: RateSamples,
    pub input: RateSamples,
    pub output: RateSamples,
    pub slowlog: VecDeque<SlowEntry>,
}

impl CoreStats {
    fn counters(&mut self, index: u16) -> &mut CommandCounters {
        let index = index as usize;
        if self.commands.len() <= index {
            self.commands.resize(index + 1, CommandCounters::default());
        }
        &mut self.commands[index]
    }

    /// A command that ran.
    pub fn record(&mut self, index: u16, took: Duration) {
        let counters = self.counters(index);
        counters.calls += 1;
        counters.usec += took.as_micros() as u64;
        self.total_commands_processed += 1;
    }

    /// A command that ran and replied with an error.
    pub fn failed(&mut self, index: u16, error: &str) {
        self.counters(index).failed_calls += 1;
        self.error(error);
    }

    /// A command refused before it ran (unknown, arity, ...).
    pub fn reject(&mut self, index: Option<u16>, error: &str) {
        if let Some(index) = index {
            self.counters(index).rejected_calls += 1;
        }
        self.error(error);
    }

    pub fn error(&mut self, error: &str) {
        self.total_error_replies += 1;
        let code = error.split(' ').next().unwrap_or("ERR");
        match self.errors.get_mut(code) {
            Some(count) => *count += 1,
            None => {
                self.errors.insert(code.to_string(), 1);
            }
        }
    }

    pub fn add(&mut self, other: &CoreStats) {
        if self.commands.len() < other.commands.len() {
            self.commands
                .resize(other.commands.len(), CommandCounters::default());
        }
        for (mine, theirs) in self.commands.iter_mut().zip(&other.commands) {
            mine.calls += theirs.calls;
            mine.usec += theirs.usec;
            mine.rejected_calls += theirs.rejected_calls;
            mine.failed_calls += theirs.failed_calls;
        }
        for (code, count) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += count;
        }
        self.total_connections_received += other.total_connections_received;
        self.rejected_connections += other.rejected_connections;
        self.total_commands_processed += other.total_commands_processed;
        self.total_net_input_bytes += other.total_net_input_bytes;
        self.total_net_output_bytes += other.total_net_output_bytes;
        self.total_error_replies += other.total_error_replies;
        self.total_reads_processed += other.total_reads_processed;
        self.total_writes_processed += other.total_writes_processed;
    }
}
