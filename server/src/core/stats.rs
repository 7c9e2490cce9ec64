//! Per-core counters: INFO commandstats and stats, summed across cores when asked.

use std::time::Duration;

#[derive(Clone, Copy, Debug, Default)]
pub struct CommandCounters {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
}

#[derive(Clone, Debug, Default)]
pub struct CoreStats {
    /// Indexed by command table index.
    pub commands: Vec<CommandCounters>,
    pub total_connections_received: u64,
    pub rejected_connections: u64,
    pub total_commands_processed: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
}

impl CoreStats {
    pub fn record(&mut self, index: u16, took: Duration, failed: bool) {
        let index = index as usize;
        if self.commands.len() <= index {
            self.commands.resize(index + 1, CommandCounters::default());
        }
        let counters = &mut self.commands[index];
        counters.calls += 1;
        counters.usec += took.as_micros() as u64;
        self.total_commands_processed += 1;
        if failed {
            counters.failed_calls += 1;
            self.total_error_replies += 1;
        }
    }

    /// A command refused before it ran (arity, unknown subcommand, ...).
    pub fn reject(&mut self, index: Option<u16>) {
        self.total_error_replies += 1;
        if let Some(index) = index {
            let index = index as usize;
            if self.commands.len() <= index {
                self.commands.resize(index + 1, CommandCounters::default());
            }
            self.commands[index].rejected_calls += 1;
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
        self.total_connections_received += other.total_connections_received;
        self.rejected_connections += other.rejected_connections;
        self.total_commands_processed += other.total_commands_processed;
        self.total_net_input_bytes += other.total_net_input_bytes;
        self.total_net_output_bytes += other.total_net_output_bytes;
        self.total_error_replies += other.total_error_replies;
        self.unexpected_error_replies += other.unexpected_error_replies;
    }
}
