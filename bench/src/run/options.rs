//! The flags of `holdfast-bench run`: memtier_benchmark's names and defaults, so its
//! users' command lines carry over, plus `--rate`, `--warmup-secs`, `--prefill`, `--seed`
//! and `--csv-out-file`.

use super::keys::{KeySpace, Pattern};
use super::workload::{DataSize, Mix, Template};
use super::{Error, Plan, Protocol, Stop};
use std::path::PathBuf;
use std::time::Duration;

/// memtier's defaults when neither --test-time nor --requests is given.
const REQUESTS_DEFAULT: u64 = 10_000;

/// Load generator with memtier_benchmark's flags; adds open-loop pacing (--rate) whose
/// latencies count from each request's intended send time.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Server address.
    #[arg(short = 's', long, default_value = "localhost")]
    pub server: String,

    /// Server port.
    #[arg(short = 'p', long, default_value_t = 6379)]
    pub port: u16,

    /// Generator threads.
    #[arg(short = 't', long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,

    /// Connections per thread.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub clients: u32,

    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub pipeline: u32,

    /// SET:GET weights (ignored when --command is given).
    #[arg(long, default_value = "1:10", value_name = "SET:GET")]
    pub ratio: String,

    /// Value bytes.
    #[arg(short = 'd', long, default_value_t = 32)]
    pub data_size: usize,

    /// Value bytes drawn uniformly from MIN-MAX (instead of --data-size).
    #[arg(long, value_name = "MIN-MAX")]
    pub data_size_range: Option<String>,

    /// Value bytes drawn from SIZE:WEIGHT,... (instead of --data-size).
    #[arg(long, value_name = "SIZE:WEIGHT,...")]
    pub data_size_list: Option<String>,

    /// SET:GET key patterns: R random, S sequential, G gaussian, Z zipf, P parallel.
    #[arg(long, default_value = "R:R", value_name = "SET:GET")]
    pub key_pattern: String,

    /// Lowest key number.
    #[arg(long, default_value_t = 0)]
    pub key_minimum: u64,

    /// Highest key number.
    #[arg(long, default_value_t = 10_000_000)]
    pub key_maximum: u64,

    /// Prefix of every key.
    #[arg(long, default_value = "memtier-")]
    pub key_prefix: String,

    /// Gaussian pattern's standard deviation [default: a sixth of the key range].
    #[arg(long)]
    pub key_stddev: Option<f64>,

    /// Gaussian pattern's centre [default: the middle of the key range].
    #[arg(long)]
    pub key_median: Option<f64>,

    /// Zipf pattern's exponent.
    #[arg(long, default_value_t = 1.0)]
    pub key_zipf_exp: f64,

    /// Seconds to measure (instead of --requests).
    #[arg(long, value_name = "SECS")]
    pub test_time: Option<u64>,

    /// Requests per connection [default: 10000 when --test-time is not given].
    #[arg(short = 'n', long, conflicts_with = "test_time")]
    pub requests: Option<u64>,

    /// Open loop: requests per second over all connections, each sent at its scheduled
    /// time; latency counts from that time, so queueing behind a slow reply shows.
    #[arg(long, value_name = "OPS")]
    pub rate: Option<f64>,

    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 0.0, value_name = "SECS")]
    pub warmup_secs: f64,

    /// SET every key of the range once before the run (not measured).
    #[arg(long)]
    pub prefill: bool,

    /// Protocol; resp3 sends HELLO 3 on every connection.
    #[arg(long, value_enum, default_value = "resp2")]
    pub protocol: Protocol,

    /// Redis Cluster: route each key to the node owning its slot, learning the slot map
    /// from -MOVED replies (and following -ASK once, after ASKING).
    #[arg(long)]
    pub cluster_mode: bool,

    /// A command to send, with __key__ and __data__ placeholders; repeatable. Each takes
    /// the --command-ratio and --command-key-pattern that follow it. Several commands
    /// separated by a lone `;` (`"MULTI ; INCR __key__ ; EXEC"`) are one request, timed
    /// to its last reply (not with --cluster-mode).
    #[arg(long, value_name = "TEXT")]
    pub command: Vec<String>,

    /// Weight of the --command before it [default: 1].
    #[arg(long, value_name = "N")]
    pub command_ratio: Vec<u32>,

    /// Key pattern of the --command before it [default: R].
    #[arg(long, value_name = "R|S|G|Z|P")]
    pub command_key_pattern: Vec<String>,

    /// For each --command, its index among the --command-ratio and
    /// --command-key-pattern values, filled in by `bind_command_options`.
    #[arg(skip)]
    pub command_bindings: Vec<(Option<usize>, Option<usize>)>,

    /// Write the results as JSON.
    #[arg(long, value_name = "FILE")]
    pub json_out_file: Option<PathBuf>,

    /// Write the results as CSV, one row per command type.
    #[arg(long, value_name = "FILE")]
    pub csv_out_file: Option<PathBuf>,

    /// Write HdrHistogram percentile distributions to PREFIX_FULL_RUN_1[_TYPE].hgrm.
    #[arg(long, value_name = "PREFIX")]
    pub hdr_file_prefix: Option<PathBuf>,

    /// Percentiles in the table, JSON and CSV.
    #[arg(long, default_value = "50,99,99.9", value_delimiter = ',')]
    pub print_percentiles: Vec<f64>,

    /// A name for this run in JSON and plots [default: the server and workload].
    #[arg(long)]
    pub run_label: Option<String>,

    /// The server's durability mode as labelled in the output [default: read from INFO:
    /// holdfast_durability, or for Redis whether aof_enabled].
    #[arg(long, value_name = "TEXT")]
    pub durability_label: Option<String>,

    /// Seed for keys, values and command choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl RunArgs {
    /// memtier binds --command-ratio and --command-key-pattern to the --command before
    /// them; clap's derive loses that order, so read it from the matches' indices.
    pub fn bind_command_options(&mut self, matches: &clap::ArgMatches) {
        let indices = |id: &str| -> Vec<usize> {
            matches
                .indices_of(id)
                .map(|i| i.collect())
                .unwrap_or_default()
        };
        let commands = indices("command");
        let ratios = indices("command_ratio");
        let patterns = indices("command_key_pattern");
        self.command_bindings = commands
            .iter()
            .enumerate()
            .map(|(k, &at)| {
                let until = commands.get(k + 1).copied().unwrap_or(usize::MAX);
                let owned = |list: &[usize]| list.iter().rposition(|&i| i > at && i < until);
                (owned(&ratios), owned(&patterns))
            })
            .collect();
    }

    pub fn plan(&self) -> Result<Plan, Error> {
        let bad = Error::Options;
        if self.key_minimum > self.key_maximum {
            return Err(bad("--key-minimum is above --key-maximum".to_string()));
        }
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(bad(
                    "--rate must be a positive number of requests per second".to_string(),
                ));
            }
        }
        let data_size = self.data_size().map_err(bad)?;
        let mix = Mix::new(self.templates().map_err(bad)?).map_err(bad)?;
        Ok(Plan {
            host: self.server.clone(),
            port: self.port,
            protocol: self.protocol,
            threads: self.threads as usize,
            clients: self.clients as usize,
            pipeline: self.pipeline as usize,
            mix,
            keys: KeySpace::new(
                self.key_minimum,
                self.key_maximum,
                self.key_median,
                self.key_stddev,
                self.key_zipf_exp,
            ),
            key_prefix: self.key_prefix.as_bytes().to_vec(),
            data: Plan::make_data(data_size.max(), self.seed),
            data_size,
            stop: match (self.test_time, self.requests) {
                (Some(secs), _) => Stop::After(Duration::from_secs(secs)),
                (None, n) => Stop::Requests(n.unwrap_or(REQUESTS_DEFAULT)),
            },
            rate: self.rate,
            warmup: Duration::from_secs_f64(self.warmup_secs.max(0.0)),
            prefill: self.prefill,
            seed: self.seed,
            cluster: self.cluster_mode,
        })
    }

    fn data_size(&self) -> Result<DataSize, String> {
        match (&self.data_size_range, &self.data_size_list) {
            (Some(_), Some(_)) => {
                Err("give --data-size-range or --data-size-list, not both".to_string())
            }
            (Some(range), None) => DataSize::parse_range(range),
            (None, Some(list)) => DataSize::parse_list(list),
            (None, None) => Ok(DataSize::Fixed(self.data_size)),
        }
    }

    fn templates(&self) -> Result<Vec<Template>, String> {
        if self.command.is_empty() {
            let (sets, gets) = pair(&self.ratio, "--ratio")?;
            let sets = sets.parse().map_err(|_| bad_pair("--ratio", &self.ratio))?;
            let gets = gets.parse().map_err(|_| bad_pair("--ratio", &self.ratio))?;
            let (set_pattern, get_pattern) = pair(&self.key_pattern, "--key-pattern")?;
            let patterns = (Pattern::parse(set_pattern)?, Pattern::parse(get_pattern)?);
            return Ok(Template::ratio(sets, gets, patterns));
        }
        self.command
            .iter()
            .enumerate()
            .map(|(k, text)| {
                let (ratio, pattern) = self
                    .command_bindings
                    .get(k)
                    .copied()
                    .unwrap_or((None, None));
                let weight = ratio.map_or(1, |i| self.command_ratio[i]);
                let pattern = match pattern {
                    Some(i) => Pattern::parse(&self.command_key_pattern[i])?,
                    None => Pattern::Random,
                };
                let template = Template::parse(text, weight, pattern)?;
                if self.cluster_mode && template.replies() > 1 {
                    // A redirected command in the middle could not be followed.
                    return Err(format!(
                        "--command {text:?}: several commands per request do not work with --cluster-mode"
                    ));
                }
                Ok(template)
            })
            .collect()
    }
}

fn pair<'a>(text: &'a str, flag: &str) -> Result<(&'a str, &'a str), String> {
    text.split_once(':').ok_or_else(|| bad_pair(flag, text))
}

fn bad_pair(flag: &str, text: &str) -> String {
    format!("invalid {flag} {text:?}: expected SET:GET")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunArgs {
        let matches =
            Cli::command().get_matches_from(std::iter::once("run").chain(args.iter().copied()));
        let mut run = Cli::from_arg_matches(&matches).unwrap().run;
        run.bind_command_options(&matches);
        run
    }

    #[test]
    fn ratio_and_key_pattern_make_sets_and_gets() {
        let plan = parse(&["--ratio", "1:4", "--key-pattern", "S:Z"])
            .plan()
            .unwrap();
        let t = &plan.mix.templates;
        assert_eq!(
            (t[0].name.as_str(), t[0].weight, t[0].pattern),
            ("Sets", 1, Pattern::Sequential)
        );
        assert_eq!(
            (t[1].name.as_str(), t[1].weight, t[1].pattern),
            ("Gets", 4, Pattern::Zipf)
        );
        assert_eq!(plan.stop, Stop::Requests(10_000));
    }

    #[test]
    fn command_options_bind_to_the_command_before_them() {
        let args = parse(&[
            "--command",
            "SET __key__ __data__",
            "--command-ratio",
            "3",
            "--command",
            "PING",
            "--command",
            "GET __key__",
            "--command-key-pattern",
            "G",
            "--command-ratio",
            "2",
        ]);
        let plan = args.plan().unwrap();
        let t = &plan.mix.templates;
        assert_eq!(
            t.iter()
                .map(|t| (t.name.as_str(), t.weight, t.pattern))
                .collect::<Vec<_>>(),
            [
                ("SET", 3, Pattern::Random),
                ("PING", 1, Pattern::Random),
                ("GET", 2, Pattern::Gaussian)
            ]
        );
    }

    #[test]
    fn rejects_inconsistent_options() {
        assert!(parse(&["--key-minimum", "5", "--key-maximum", "4"])
            .plan()
            .is_err());
        assert!(parse(&["--ratio", "1-2"]).plan().is_err());
        assert!(parse(&["--ratio", "0:0"]).plan().is_err());
        assert!(parse(&["--key-pattern", "R:Q"]).plan().is_err());
        assert!(parse(&["--rate", "0"]).plan().is_err());
    }
}
