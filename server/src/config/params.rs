//! Every configuration parameter Redis 7.0.15 has, and what Holdfast does with it: the
//! name and alias, the default as `CONFIG GET` shows it, the type (how a value is parsed,
//! shown and written back to a file), whether `CONFIG SET` may change it, and its effect.
//!
//! The list, the defaults, the bounds, the enum names and the error texts were taken from a
//! running redis-server 7.0.15 (`CONFIG GET *`, then `CONFIG SET` of each parameter with bad
//! and good values); `docs/config.md` is generated from this table (see the tests).
//!
//! Holdfast departs from Redis on purpose in three places, each marked in the table:
//! `bind` defaults to 127.0.0.1, and `port`, `bind` and `dir` cannot change at run time
//! (the listeners and the log's data directory are fixed while the server runs).

use std::path::{Path, PathBuf};

/// `CONFIG SET` refuses the parameter ("can't set immutable config").
pub const IMMUTABLE: u8 = 1 << 0;
/// `CONFIG SET` needs `enable-protected-configs` ("can't set protected config").
pub const PROTECTED: u8 = 1 << 1;
/// `CONFIG GET` with a glob pattern skips it; only its exact name shows it.
pub const HIDDEN: u8 = 1 << 2;

/// What Holdfast does with a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The value takes effect; the text says where.
    Applied(&'static str),
    /// Stored and shown, but it changes nothing in Holdfast; the text says why.
    Ignored(&'static str),
    /// Only the default is accepted: any other value asks for something Holdfast does not
    /// do, and accepting it silently would mislead (the text is the error, saying what to do).
    DefaultOnly(&'static str),
}

/// A value check beyond the type; the error is Redis's text.
pub type Check = fn(&str) -> Result<(), &'static str>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumFormat {
    /// A plain integer ("argument couldn't be parsed into an integer").
    Integer,
    /// Bytes with optional units: 1k = 1000, 1kb = 1024, m, mb, g, gb.
    Memory,
    /// Bytes, or a percentage stored negated (`maxmemory-clients 10%`).
    MemoryOrPercent,
    /// Octal digits (`unixsocketperm 700`).
    Octal,
}

/// A numeric parameter: its bounds, how it is written, and the C type Redis keeps it in
/// (unsigned types compare their bounds as unsigned, so "-1" is out of range, not negative).
#[derive(Clone, Copy, Debug)]
pub struct Num {
    pub min: i128,
    pub max: i128,
    pub format: NumFormat,
    pub unsigned: bool,
    /// Redis accepts any value in bounds but keeps it within these (`hz` 1..500).
    pub clamp: Option<(i128, i128)>,
}

#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// yes / no.
    Bool,
    Num(Num),
    /// Names and the value each stands for; several names may share a value, and the
    /// first of them is the one shown.
    Enum(&'static [(&'static str, u32)]),
    /// A string; `empty_is_null` strings are "unset" when empty (and absent from a
    /// rewritten file).
    Str {
        empty_is_null: bool,
        check: Option<Check>,
    },
    /// `save 3600 1 300 100`: pairs of seconds and changes.
    Save,
    /// `client-output-buffer-limit normal 0 0 0 replica 256mb 64mb 60 ...`.
    OutputBufferLimit,
    /// `notify-keyspace-events KEA`: one flag per character.
    KeyspaceEvents,
    /// `bind 127.0.0.1 -::1`: up to 16 addresses.
    Bind,
    /// `replicaof <host> <port>` or `no one`.
    ReplicaOf,
    /// `oom-score-adj-values 0 200 800`.
    OomScoreAdjValues,
    /// `latency-tracking-info-percentiles 50 99 99.9`.
    Percentiles,
    /// `dir`: an existing directory, shown as its absolute path.
    Dir,
    /// `shutdown-on-sigterm nosave now`: flags from a fixed set, `default` when none.
    ShutdownFlags,
}

pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    /// The value `CONFIG GET` shows when nothing set it (for `dir`: the working directory).
    pub default: &'static str,
    pub kind: Kind,
    pub flags: u8,
    pub effect: Effect,
}

/// A parsed value, in the form Redis keeps it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Num(i128),
    Enum(u32),
    Str(Option<String>),
    Save(Vec<(i64, i32)>),
    OutputBufferLimit([OutputLimit; 3]),
    KeyspaceEvents(u32),
    Bind(Vec<String>),
    ReplicaOf(Option<(String, u16)>),
    OomScoreAdjValues([i32; 3]),
    Percentiles(Vec<f64>),
    Dir(PathBuf),
    ShutdownFlags(u32),
}

/// One client class's output buffer limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: i64,
}

/// The client classes of `client-output-buffer-limit`, in the order Redis shows them.
pub const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

impl Param {
    /// Whether `CONFIG SET` splits the value at spaces and a file line may carry several
    /// arguments.
    pub fn multi_arg(&self) -> bool {
        matches!(
            self.kind,
            Kind::Save
                | Kind::OutputBufferLimit
                | Kind::Bind
                | Kind::ReplicaOf
                | Kind::OomScoreAdjValues
                | Kind::Percentiles
                | Kind::ShutdownFlags
        )
    }

    /// Parses the arguments of a `CONFIG SET` or a file line over the parameter's current
    /// value: a relative `dir` is resolved from the current one (Redis chdirs there), and
    /// `client-output-buffer-limit` changes only the classes it names.
    pub fn parse(&self, args: &[&str], current: Option<&Value>) -> Result<Value, String> {
        let one = || args.first().copied().unwrap_or("");
        match self.kind {
            Kind::Bool => match one() {
                v if v.eq_ignore_ascii_case("yes") => Ok(Value::Bool(true)),
                v if v.eq_ignore_ascii_case("no") => Ok(Value::Bool(false)),
                _ => Err("argument must be 'yes' or 'no'".into()),
            },
            Kind::Num(num) => parse_num(&num, one()).map(Value::Num),
            Kind::Enum(names) => enum_value(names, one())
                .map(Value::Enum)
                .ok_or_else(|| enum_error(names)),
            Kind::Str {
                empty_is_null,
                check,
            } => {
                let text = one();
                if let Some(check) = check {
                    check(text)?;
                }
                let unset = empty_is_null && text.is_empty();
                Ok(Value::Str((!unset).then(|| text.to_string())))
            }
            Kind::Save => parse_save(args).map(Value::Save),
            Kind::OutputBufferLimit => {
                let current = match current {
                    Some(Value::OutputBufferLimit(limits)) => *limits,
                    _ => default_output_limits(),
                };
                parse_output_limits(args, &current).map(Value::OutputBufferLimit)
            }
            Kind::KeyspaceEvents => keyspace_events(one())
                .map(Value::KeyspaceEvents)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
            Kind::Bind => parse_bind(args).map(Value::Bind),
            Kind::ReplicaOf => parse_replicaof(args).map(Value::ReplicaOf),
            Kind::OomScoreAdjValues => parse_oom_values(args).map(Value::OomScoreAdjValues),
            Kind::Percentiles => parse_percentiles(args).map(Value::Percentiles),
            Kind::Dir => {
                let base = match current {
                    Some(Value::Dir(path)) => path.clone(),
                    _ => std::env::current_dir().map_err(|e| os_error_text(&e))?,
                };
                resolve_dir(&base, one()).map(Value::Dir)
            }
            Kind::ShutdownFlags => parse_shutdown(args).map(Value::ShutdownFlags),
        }
    }

    /// The value the parameter has when nothing set it.
    pub fn default_value(&self) -> Value {
        match self.kind {
            // Redis's default `dir` is the directory it was started in.
            Kind::Dir => {
                let cwd = std::env::current_dir().and_then(std::fs::canonicalize);
                Value::Dir(cwd.unwrap_or_else(|_| PathBuf::from("/")))
            }
            // Shown as "", but "" is not something `replicaof` accepts.
            Kind::ReplicaOf => Value::ReplicaOf(None),
            _ => {
                let args: Vec<&str> = match (self.multi_arg(), self.default) {
                    (true, "") => Vec::new(),
                    (true, default) => default.split(' ').collect(),
                    (false, default) => vec![default],
                };
                self.parse(&args, None)
                    .unwrap_or_else(|e| panic!("default of {} does not parse: {e}", self.name))
            }
        }
    }

    /// The value as `CONFIG GET` shows it.
    pub fn render(&self, value: &Value) -> String {
        match (self.kind, value) {
            (_, Value::Bool(b)) => yes_no(*b).into(),
            (Kind::Num(num), Value::Num(n)) => render_num(&num, *n),
            (Kind::Enum(names), Value::Enum(v)) => enum_name(names, *v).into(),
            (_, Value::Str(s)) => s.clone().unwrap_or_default(),
            (_, Value::Save(pairs)) => join(pairs.iter().map(|(s, c)| format!("{s} {c}"))),
            (_, Value::OutputBufferLimit(limits)) => {
                join(OUTPUT_CLASSES.iter().zip(limits).map(|(class, l)| {
                    format!(
                        "{class} {} {} {}",
                        l.hard_bytes, l.soft_bytes, l.soft_seconds
                    )
                }))
            }
            (_, Value::KeyspaceEvents(flags)) => keyspace_events_text(*flags),
            (_, Value::Bind(addrs)) => addrs.join(" "),
            (_, Value::ReplicaOf(primary)) => primary
                .as_ref()
                .map_or_else(String::new, |(host, port)| format!("{host} {port}")),
            (_, Value::OomScoreAdjValues(v)) => join(v.iter().map(i32::to_string)),
            (_, Value::Percentiles(p)) => join(p.iter().map(|v| format_percentile(*v))),
            (_, Value::Dir(path)) => path.display().to_string(),
            (_, Value::ShutdownFlags(flags)) => shutdown_text(*flags),
            (kind, value) => unreachable!("{kind:?} parameter holding {value:?}"),
        }
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------------------

fn parse_num(num: &Num, text: &str) -> Result<i128, String> {
    let ll = parse_num_text(num.format, text)?;
    check_bounds(num, ll)?;
    let stored = if num.unsigned {
        ll as u64 as i128
    } else {
        ll as i128
    };
    Ok(match num.clamp {
        Some((lo, hi)) => stored.clamp(lo, hi),
        None => stored,
    })
}

/// The number as Redis reads it into a `long long` (memory sizes wrap to negative when
/// above `LLONG_MAX`, as the C cast does; the bounds check then rejects them).
fn parse_num_text(format: NumFormat, text: &str) -> Result<i64, String> {
    match format {
        NumFormat::Integer => crate::shard::value::parse_i64_strict(text.as_bytes())
            .ok_or_else(|| "argument couldn't be parsed into an integer".into()),
        NumFormat::Memory => memory_bytes(text)
            .map(|n| n as i64)
            .ok_or_else(|| "argument must be a memory value".into()),
        NumFormat::MemoryOrPercent => memory_bytes(text)
            .map(|n| n as i64)
            .or_else(|| percent(text).map(|p| -p))
            .ok_or_else(|| "argument must be a memory or percent value".into()),
        NumFormat::Octal => c_strtoll(text, 8)
            .ok_or_else(|| "argument couldn't be parsed as an octal number".into()),
    }
}

fn percent(text: &str) -> Option<i64> {
    let digits = text.strip_suffix('%').filter(|d| !d.is_empty())?;
    crate::shard::value::parse_i64_strict(digits.as_bytes()).filter(|p| *p >= 0)
}

fn check_bounds(num: &Num, ll: i64) -> Result<(), String> {
    let between = |min: i128, max: i128| {
        if num.format == NumFormat::Octal {
            format!("argument must be between {min:o} and {max:o} inclusive")
        } else {
            format!("argument must be between {min} and {max} inclusive")
        }
    };
    if num.unsigned {
        let value = ll as u64 as i128;
        if value < num.min || value > num.max {
            return Err(between(num.min, num.max));
        }
    } else if num.format == NumFormat::MemoryOrPercent && ll < 0 {
        if (ll as i128) < num.min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                -num.min
            ));
        }
    } else if (ll as i128) < num.min || (ll as i128) > num.max {
        return Err(between(num.min, num.max));
    }
    Ok(())
}

fn render_num(num: &Num, n: i128) -> String {
    match num.format {
        NumFormat::MemoryOrPercent if n < 0 => format!("{}%", -n),
        NumFormat::Octal => format!("{n:o}"),
        _ => n.to_string(),
    }
}

/// A size in bytes as Redis's `memtoull` reads it: digits then an optional unit (b, k, kb,
/// m, mb, g, gb, any case); no sign, no spaces; an empty number is 0 and a number too large
/// for 64 bits saturates, as `strtoull` does.
pub fn memory_bytes(text: &str) -> Option<u64> {
    let digits_end = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    let value = digits.bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    value.checked_mul(multiplier)
}

/// Writes a byte count the way CONFIG REWRITE does: in gb, mb or kb when it divides evenly.
pub fn format_memory(bytes: i128) -> String {
    const KB: i128 = 1024;
    match bytes {
        0 => "0".into(),
        b if b % (KB * KB * KB) == 0 => format!("{}gb", b / (KB * KB * KB)),
        b if b % (KB * KB) == 0 => format!("{}mb", b / (KB * KB)),
        b if b % KB == 0 => format!("{}kb", b / KB),
        b => b.to_string(),
    }
}

/// C's `strtoll` with the whole text consumed: leading spaces and a sign allowed, an empty
/// text is 0, overflow saturates. `None` when characters are left over.
pub fn c_strtoll(text: &str, radix: u32) -> Option<i64> {
    let body = text.trim_start_matches(|c: char| " \t\n\x0b\x0c\r".contains(c));
    let (negative, digits) = match body.as_bytes().first() {
        Some(b'-') => (true, &body[1..]),
        Some(b'+') => (false, &body[1..]),
        _ => (false, body),
    };
    if digits.is_empty() {
        // No digits: nothing was converted and the end pointer stays at the start.
        return text.is_empty().then_some(0);
    }
    let mut value: i128 = 0;
    for c in digits.chars() {
        value = (value * radix as i128 + c.to_digit(radix)? as i128).min(i64::MAX as i128 + 1);
    }
    let value = if negative { -value } else { value };
    Some(value.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

// ---------------------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------------------

fn enum_value(names: &[(&str, u32)], text: &str) -> Option<u32> {
    names
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, v)| *v)
}

pub fn enum_name(names: &[(&'static str, u32)], value: u32) -> &'static str {
    names
        .iter()
        .find(|(_, v)| *v == value)
        .map_or("unknown", |(name, _)| name)
}

fn enum_error(names: &[(&str, u32)]) -> String {
    let list: Vec<&str> = names.iter().map(|(name, _)| *name).collect();
    format!(
        "argument(s) must be one of the following: {}",
        list.join(", ")
    )
}

const SHUTDOWN_FLAGS: &[(&str, u32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];

fn parse_shutdown(args: &[&str]) -> Result<u32, String> {
    if args.is_empty() {
        return Err(enum_error(SHUTDOWN_FLAGS));
    }
    let mut flags = 0;
    for arg in args {
        flags |= enum_value(SHUTDOWN_FLAGS, arg).ok_or_else(|| enum_error(SHUTDOWN_FLAGS))?;
    }
    if flags & 3 == 3 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    Ok(flags)
}

fn shutdown_text(flags: u32) -> String {
    if flags == 0 {
        return "default".into();
    }
    let names = SHUTDOWN_FLAGS
        .iter()
        .filter(|(_, bit)| *bit != 0 && flags & bit != 0)
        .map(|(name, _)| *name);
    names.collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// Special parameters
// ---------------------------------------------------------------------------------------

fn parse_save(args: &[&str]) -> Result<Vec<(i64, i32)>, String> {
    let args = if args == [""] { &[][..] } else { args };
    let invalid = || String::from("Invalid save parameters");
    if args.len() % 2 == 1 {
        return Err(invalid());
    }
    let mut pairs = Vec::new();
    for pair in args.chunks(2) {
        let seconds = c_strtoll(pair[0], 10)
            .filter(|s| *s >= 1)
            .ok_or_else(invalid)?;
        let changes = c_strtoll(pair[1], 10)
            .filter(|c| *c >= 0)
            .ok_or_else(invalid)?;
        // Redis keeps the count of changes in an int.
        pairs.push((seconds, changes as i32));
    }
    Ok(pairs)
}

pub fn default_output_limits() -> [OutputLimit; 3] {
    let limit = |hard_bytes, soft_bytes, soft_seconds| OutputLimit {
        hard_bytes,
        soft_bytes,
        soft_seconds,
    };
    [
        limit(0, 0, 0),
        limit(256 << 20, 64 << 20, 60),
        limit(32 << 20, 8 << 20, 60),
    ]
}

/// Class names as Redis's `getClientTypeByName` knows them; `master` has no limits.
fn output_class(name: &str) -> Option<usize> {
    match name.to_ascii_lowercase().as_str() {
        "normal" => Some(0),
        "slave" | "replica" => Some(1),
        "pubsub" => Some(2),
        _ => None,
    }
}

fn parse_output_limits(
    args: &[&str],
    current: &[OutputLimit; 3],
) -> Result<[OutputLimit; 3], String> {
    if args.len() % 4 != 0 {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits = *current;
    for group in args.chunks(4) {
        let class = output_class(group[0]).ok_or_else(|| {
            String::from("Invalid client class specified in buffer limit configuration.")
        })?;
        let hard = memory_bytes(group[1]);
        let soft = memory_bytes(group[2]);
        // Redis keeps the seconds in an int.
        let seconds = c_strtoll(group[3], 10).map(|s| s as i32);
        match (hard, soft, seconds) {
            (Some(hard_bytes), Some(soft_bytes), Some(s)) if s >= 0 => {
                limits[class] = OutputLimit {
                    hard_bytes,
                    soft_bytes,
                    soft_seconds: i64::from(s),
                }
            }
            _ => {
                return Err(
                    "Error in hard, soft or soft_seconds setting in buffer limit \
                            configuration."
                        .into(),
                )
            }
        }
    }
    Ok(limits)
}

const EVENT_FLAGS: &[(char, u32)] = &[
    ('g', 1 << 2),
    ('$', 1 << 3),
    ('l', 1 << 4),
    ('s', 1 << 5),
    ('h', 1 << 6),
    ('z', 1 << 7),
    ('x', 1 << 8),
    ('e', 1 << 9),
    ('t', 1 << 10),
    ('d', 1 << 13),
    ('n', 1 << 14),
];
const EVENTS_KEYSPACE: u32 = 1;
const EVENTS_KEYEVENT: u32 = 1 << 1;
const EVENTS_KEY_MISS: u32 = 1 << 11;
/// 'A': every class (g$lshzxetd) but key misses (m) and new keys (n).
const EVENTS_ALL: u32 = (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 13);

fn keyspace_events(text: &str) -> Option<u32> {
    text.chars().try_fold(0, |flags, c| {
        let flag = match c {
            'A' => EVENTS_ALL,
            'K' => EVENTS_KEYSPACE,
            'E' => EVENTS_KEYEVENT,
            'm' => EVENTS_KEY_MISS,
            c => EVENT_FLAGS.iter().find(|(f, _)| *f == c)?.1,
        };
        Some(flags | flag)
    })
}

/// Redis's order: A (or each class, then n), K, E, m.
fn keyspace_events_text(flags: u32) -> String {
    let mut text = String::new();
    if flags & EVENTS_ALL == EVENTS_ALL {
        text.push('A');
    } else {
        text.extend(
            EVENT_FLAGS
                .iter()
                .filter(|(_, f)| flags & f != 0)
                .map(|(c, _)| *c),
        );
    }
    for (flag, c) in [
        (EVENTS_KEYSPACE, 'K'),
        (EVENTS_KEYEVENT, 'E'),
        (EVENTS_KEY_MISS, 'm'),
    ] {
        if flags & flag != 0 {
            text.push(c);
        }
    }
    text
}

fn parse_bind(args: &[&str]) -> Result<Vec<String>, String> {
    if args.len() > 16 {
        return Err("Too many bind addresses specified.".into());
    }
    if args == [""] {
        return Ok(Vec::new());
    }
    Ok(args.iter().map(|a| a.to_string()).collect())
}

fn parse_replicaof(args: &[&str]) -> Result<Option<(String, u16)>, String> {
    let [host, port] = args else {
        return Err("wrong number of arguments".into());
    };
    if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") {
        return Ok(None);
    }
    let port = c_strtoll(port, 10)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("Invalid master port")?;
    Ok(Some((host.to_string(), port)))
}

fn parse_oom_values(args: &[&str]) -> Result<[i32; 3], String> {
    if args.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut values = [0; 3];
    for (slot, arg) in values.iter_mut().zip(args) {
        *slot = c_strtoll(arg, 10)
            .filter(|v| (-2000..=2000).contains(v))
            .ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?
            as i32;
    }
    Ok(values)
}

fn parse_percentiles(args: &[&str]) -> Result<Vec<f64>, String> {
    if args == [""] {
        return Ok(Vec::new());
    }
    args.iter()
        .map(|arg| {
            let p = string_to_double(arg)
                .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&p) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .into(),
                );
            }
            Ok(p)
        })
        .collect()
}

/// Redis's `string2d`: C's `strtod` over the whole text, no leading space, no NaN, no
/// overflow or underflow.
fn string_to_double(text: &str) -> Option<f64> {
    if text.is_empty() || text.as_bytes()[0].is_ascii_whitespace() || text.contains('\0') {
        return None;
    }
    let c_text = std::ffi::CString::new(text).ok()?;
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `c_text` is NUL-terminated and outlives the call; strtod only writes `end`
    // and errno, which belongs to this thread.
    let (value, errno) = unsafe {
        *libc::__errno_location() = 0;
        let value = libc::strtod(c_text.as_ptr(), &mut end);
        (value, *libc::__errno_location())
    };
    let consumed = end as usize - c_text.as_ptr() as usize;
    let range_error = errno == libc::ERANGE && (value.is_infinite() || value == 0.0);
    (consumed == text.len() && !range_error && !value.is_nan()).then_some(value)
}

/// `%f` with trailing zeros (and a trailing dot) removed, as Redis shows percentiles.
pub fn format_percentile(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0');
    text.trim_end_matches('.').to_string()
}

/// Resolves `dir` as Redis's chdir would from the current data directory: the directory
/// must exist, and is shown as its absolute, symlink-free path (Redis shows `getcwd()`).
fn resolve_dir(current: &Path, text: &str) -> Result<PathBuf, String> {
    let path = current.join(text);
    let resolved = std::fs::canonicalize(&path).map_err(|e| os_error_text(&e))?;
    if !resolved.is_dir() {
        return Err(os_error_text(&std::io::Error::from_raw_os_error(
            libc::ENOTDIR,
        )));
    }
    Ok(resolved)
}

/// The `strerror` text of an I/O error, as Redis puts it in its replies.
pub fn os_error_text(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------
// String checks (Redis's texts)
// ---------------------------------------------------------------------------------------

fn is_base_name(path: &str) -> bool {
    !path.contains('/') && !path.contains('\\')
}

fn check_dbfilename(v: &str) -> Result<(), &'static str> {
    if is_base_name(v) {
        Ok(())
    } else {
        Err("dbfilename can't be a path, just a filename")
    }
}

fn check_appendfilename(v: &str) -> Result<(), &'static str> {
    match v {
        "" => Err("appendfilename can't be empty"),
        v if !is_base_name(v) => Err("appendfilename can't be a path, just a filename"),
        _ => Ok(()),
    }
}

fn check_appenddirname(v: &str) -> Result<(), &'static str> {
    match v {
        "" => Err("appenddirname can't be empty"),
        v if !is_base_name(v) => Err("appenddirname can't be a path, just a dirname"),
        _ => Ok(()),
    }
}

fn check_hostname(v: &str) -> Result<(), &'static str> {
    if v.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if !v
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots");
    }
    Ok(())
}

/// A process title template must expand (known `{variables}`, balanced braces, `{{` for a
/// brace) to something non-empty even with an empty title, as Redis checks it.
fn check_proc_title(v: &str) -> Result<(), &'static str> {
    const INVALID: &str = "template format is invalid or contains unknown variables";
    let mut expanded = 0usize;
    let mut rest = v;
    while let Some(open) = rest.find('{') {
        expanded += open;
        let after = &rest[open + 1..];
        if after.is_empty() {
            return Err(INVALID);
        }
        if let Some(quoted) = after.strip_prefix('{') {
            expanded += 1;
            rest = quoted;
            continue;
        }
        let close = after.find('}').ok_or(INVALID)?;
        expanded += match &after[..close] {
            // Values that may be empty: Holdfast has no title, server mode or unix socket.
            "title" | "server-mode" | "unixsocket" | "config-file" => 0,
            "listen-addr" | "port" | "tls-port" => 1,
            _ => return Err(INVALID),
        };
        rest = &after[close + 1..];
    }
    if expanded + rest.len() == 0 {
        return Err(INVALID);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

const INT_MIN: i128 = i32::MIN as i128;
const INT_MAX: i128 = i32::MAX as i128;
const UINT_MAX: i128 = u32::MAX as i128;
const LONG_MAX: i128 = i64::MAX as i128;
const ULLONG_MAX: i128 = u64::MAX as i128;

const fn num(min: i128, max: i128, format: NumFormat, unsigned: bool) -> Kind {
    Kind::Num(Num {
        min,
        max,
        format,
        unsigned,
        clamp: None,
    })
}
/// A signed integer (C int, long, long long).
const fn int(min: i128, max: i128) -> Kind {
    num(min, max, NumFormat::Integer, false)
}
/// An unsigned integer (C unsigned int, size_t).
const fn uint(min: i128, max: i128) -> Kind {
    num(min, max, NumFormat::Integer, true)
}
/// A signed byte count (long long, off_t).
const fn mem(min: i128, max: i128) -> Kind {
    num(min, max, NumFormat::Memory, false)
}
/// An unsigned byte count (size_t, unsigned long long).
const fn umem(min: i128, max: i128) -> Kind {
    num(min, max, NumFormat::Memory, true)
}
const fn string(empty_is_null: bool) -> Kind {
    Kind::Str {
        empty_is_null,
        check: None,
    }
}
const fn checked(empty_is_null: bool, check: Check) -> Kind {
    Kind::Str {
        empty_is_null,
        check: Some(check),
    }
}
/// An empty string means "unset".
const NULLABLE: Kind = string(true);

const fn param(name: &'static str, default: &'static str, kind: Kind, effect: Effect) -> Param {
    Param {
        name,
        alias: None,
        default,
        kind,
        flags: 0,
        effect,
    }
}

impl Param {
    const fn alias(mut self, alias: &'static str) -> Self {
        self.alias = Some(alias);
        self
    }
    const fn flags(mut self, flags: u8) -> Self {
        self.flags |= flags;
        self
    }
}

const LISTENER: Effect =
    Effect::Applied("the address and port every core's listener binds at start");
const PROTOCOL: Effect =
    Effect::Applied("requests past it are refused (read per request by every connection)");
const SLOWLOG: Effect = Effect::Applied("SLOWLOG: which commands are logged and how many are kept");
const ENCODING: Effect =
    Effect::Applied("typed in `Settings` for the data types' compact encodings (listpack, intset)");
const PERSISTENCE: Effect = Effect::Ignored(
    "Holdfast makes every write durable through its own log (--durability), not RDB \
     snapshots or an append-only file",
);
const REPLICATION: Effect =
    Effect::Ignored("Holdfast replicas follow the quorum log (DESIGN.md), not Redis replication");
const CLUSTER: Effect = Effect::Ignored("cluster mode is not available yet");
const TLS: Effect = Effect::Ignored("Holdfast has no TLS listener yet");
const EVICTION: Effect = Effect::Applied(
    "past `maxmemory`, writes evict keys as the policy says or get -OOM (shard/evict.rs)",
);
const LATENCY: Effect = Effect::Applied(
    "LATENCY's events and per-command histograms, INFO latencystats (core/latency.rs)",
);
const CLIENT_EVICTION: Effect =
    Effect::Ignored("Holdfast does not evict clients (only keys, see maxmemory-policy)");
const PROCESS: Effect =
    Effect::Ignored("Holdfast runs in the foreground, logs to stderr and handles signals itself");
const THREADS: Effect = Effect::Ignored(
    "Holdfast runs one pinned executor per core (--threads, --cpus); its cron follows `hz`",
);
const ALLOCATOR: Effect = Effect::Ignored(
    "Holdfast runs jemalloc with its defaults and does not defragment, fork, or free values \
     in the background",
);
const SOCKETS: Effect =
    Effect::Ignored("Holdfast's listeners do not expose this socket option (only port and bind)");
const ACL: Effect = Effect::Ignored("ACL users are not available yet");
const NOT_YET: Effect = Effect::Ignored("the feature it tunes is not available yet");
const EXPIRY: Effect = Effect::Ignored(
    "Holdfast's active expiry and table resizing use the fixed limits of limits.rs",
);

const PROTECTED_ACTION: &[(&str, u32)] = &[("no", 0), ("yes", 1), ("local", 2)];

/// Every parameter of Redis 7.0.15, in alphabetical order of the primary name.
pub static PARAMS: &[Param] = &[
    param(
        "acl-pubsub-default",
        "resetchannels",
        Kind::Enum(&[("allchannels", 1), ("resetchannels", 0)]),
        ACL,
    ),
    param(
        "aclfile",
        "",
        string(false),
        Effect::DefaultOnly(
            "Holdfast has no ACL users yet: leave aclfile empty and restrict access with bind",
        ),
    )
    .flags(IMMUTABLE),
    param("acllog-max-len", "128", int(0, LONG_MAX), ACL),
    param("active-defrag-cycle-max", "25", int(1, 99), ALLOCATOR),
    param("active-defrag-cycle-min", "1", int(1, 99), ALLOCATOR),
    param(
        "active-defrag-ignore-bytes",
        "104857600",
        umem(1, LONG_MAX),
        ALLOCATOR,
    ),
    param(
        "active-defrag-max-scan-fields",
        "1000",
        int(1, LONG_MAX),
        ALLOCATOR,
    ),
    param(
        "active-defrag-threshold-lower",
        "10",
        int(0, 1000),
        ALLOCATOR,
    ),
    param(
        "active-defrag-threshold-upper",
        "100",
        int(0, 1000),
        ALLOCATOR,
    ),
    param("active-expire-effort", "1", int(1, 10), EXPIRY),
    param("activedefrag", "no", Kind::Bool, ALLOCATOR),
    param("activerehashing", "yes", Kind::Bool, EXPIRY),
    param("always-show-logo", "no", Kind::Bool, PROCESS).flags(IMMUTABLE),
    param("aof-disable-auto-gc", "no", Kind::Bool, PERSISTENCE),
    param("aof-load-truncated", "yes", Kind::Bool, PERSISTENCE),
    param(
        "aof-rewrite-incremental-fsync",
        "yes",
        Kind::Bool,
        PERSISTENCE,
    ),
    param("aof-timestamp-enabled", "no", Kind::Bool, PERSISTENCE),
    param("aof-use-rdb-preamble", "yes", Kind::Bool, PERSISTENCE),
    param("aof_rewrite_cpulist", "", NULLABLE, THREADS).flags(IMMUTABLE),
    param(
        "appenddirname",
        "appendonlydir",
        checked(false, check_appenddirname),
        PERSISTENCE,
    )
    .flags(IMMUTABLE),
    param(
        "appendfilename",
        "appendonly.aof",
        checked(false, check_appendfilename),
        PERSISTENCE,
    )
    .flags(IMMUTABLE),
    param(
        "appendfsync",
        "everysec",
        Kind::Enum(&[("everysec", 1), ("always", 2), ("no", 0)]),
        PERSISTENCE,
    ),
    param("appendonly", "no", Kind::Bool, PERSISTENCE),
    param(
        "auto-aof-rewrite-min-size",
        "67108864",
        mem(0, LONG_MAX),
        PERSISTENCE,
    ),
    param(
        "auto-aof-rewrite-percentage",
        "100",
        int(0, INT_MAX),
        PERSISTENCE,
    ),
    param("bgsave_cpulist", "", NULLABLE, THREADS).flags(IMMUTABLE),
    // Holdfast: loopback by default (DESIGN.md), and fixed while the server runs.
    param("bind", "127.0.0.1", Kind::Bind, LISTENER).flags(IMMUTABLE),
    param("bind-source-addr", "", NULLABLE, REPLICATION),
    param("bio_cpulist", "", NULLABLE, THREADS).flags(IMMUTABLE),
    param(
        "busy-reply-threshold",
        "5000",
        int(0, LONG_MAX),
        Effect::Applied("past it, while a script runs, other clients get -BUSY"),
    )
    .alias("lua-time-limit"),
    param(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Kind::OutputBufferLimit,
        Effect::Applied("the pubsub class: a subscriber whose unsent messages pass it is disconnected (read at each SUBSCRIBE); the normal class: a MONITOR client likewise (core/monitor.rs); the slave class is not enforced yet"),
    ),
    param(
        "client-query-buffer-limit",
        "1073741824",
        umem(1 << 20, LONG_MAX),
        Effect::Applied("a client whose pending request grows past it is disconnected"),
    ),
    param(
        "cluster-allow-pubsubshard-when-down",
        "yes",
        Kind::Bool,
        CLUSTER,
    ),
    param("cluster-allow-reads-when-down", "no", Kind::Bool, CLUSTER),
    param(
        "cluster-allow-replica-migration",
        "yes",
        Kind::Bool,
        CLUSTER,
    ),
    param("cluster-announce-bus-port", "0", int(0, 65535), CLUSTER),
    param(
        "cluster-announce-hostname",
        "",
        checked(true, check_hostname),
        CLUSTER,
    ),
    param("cluster-announce-ip", "", NULLABLE, CLUSTER),
    param("cluster-announce-port", "0", int(0, 65535), CLUSTER),
    param("cluster-announce-tls-port", "0", int(0, 65535), CLUSTER),
    param("cluster-config-file", "nodes.conf", string(false), CLUSTER).flags(IMMUTABLE),
    param(
        "cluster-enabled",
        "no",
        Kind::Bool,
        Effect::DefaultOnly(
            "cluster mode is not available yet: run without it (a single endpoint serving all \
         16384 slots)",
        ),
    )
    .flags(IMMUTABLE),
    param(
        "cluster-link-sendbuf-limit",
        "0",
        umem(0, ULLONG_MAX),
        CLUSTER,
    ),
    param("cluster-migration-barrier", "1", int(0, INT_MAX), CLUSTER),
    param("cluster-node-timeout", "15000", int(0, LONG_MAX), CLUSTER),
    param("cluster-port", "0", int(0, 65535), CLUSTER).flags(IMMUTABLE),
    param(
        "cluster-preferred-endpoint-type",
        "ip",
        Kind::Enum(&[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)]),
        CLUSTER,
    ),
    param("cluster-replica-no-failover", "no", Kind::Bool, CLUSTER)
        .alias("cluster-slave-no-failover"),
    param(
        "cluster-replica-validity-factor",
        "10",
        int(0, INT_MAX),
        CLUSTER,
    )
    .alias("cluster-slave-validity-factor"),
    param("cluster-require-full-coverage", "yes", Kind::Bool, CLUSTER),
    param("crash-log-enabled", "yes", Kind::Bool, PROCESS),
    param("crash-memcheck-enabled", "yes", Kind::Bool, PROCESS),
    param("daemonize", "no", Kind::Bool, PROCESS).flags(IMMUTABLE),
    param(
        "databases",
        "16",
        int(1, INT_MAX),
        Effect::DefaultOnly(
            "Holdfast serves exactly 16 databases (SELECT 0 to 15): set databases 16",
        ),
    )
    .flags(IMMUTABLE),
    param(
        "dbfilename",
        "dump.rdb",
        checked(false, check_dbfilename),
        PERSISTENCE,
    )
    .flags(PROTECTED),
    // Holdfast: the log's data directory cannot move under a running server.
    param(
        "dir",
        "",
        Kind::Dir,
        Effect::Applied("the data directory of the durable log (`ConfigStore::dir`)"),
    )
    .flags(IMMUTABLE | PROTECTED),
    param("disable-thp", "yes", Kind::Bool, ALLOCATOR).flags(IMMUTABLE),
    param("dynamic-hz", "yes", Kind::Bool, THREADS),
    param(
        "enable-debug-command",
        "no",
        Kind::Enum(PROTECTED_ACTION),
        NOT_YET,
    )
    .flags(IMMUTABLE),
    param(
        "enable-module-command",
        "no",
        Kind::Enum(PROTECTED_ACTION),
        NOT_YET,
    )
    .flags(IMMUTABLE),
    param(
        "enable-protected-configs",
        "no",
        Kind::Enum(PROTECTED_ACTION),
        Effect::Applied("whether CONFIG SET may change protected parameters"),
    )
    .flags(IMMUTABLE),
    param(
        "hash-max-listpack-entries",
        "512",
        uint(0, LONG_MAX),
        ENCODING,
    )
    .alias("hash-max-ziplist-entries"),
    param("hash-max-listpack-value", "64", umem(0, LONG_MAX), ENCODING)
        .alias("hash-max-ziplist-value"),
    param("hll-sparse-max-bytes", "3000", umem(0, LONG_MAX), ENCODING),
    param(
        "hz",
        "10",
        Kind::Num(Num {
            min: 0,
            max: INT_MAX,
            format: NumFormat::Integer,
            unsigned: false,
            clamp: Some((1, 500)),
        }),
        Effect::Applied(
            "each core's cron runs this many times a second: active expiry (its per-second \
             budget spread over the cycles), the eviction timer, idle clients",
        ),
    ),
    param("ignore-warnings", "", string(false), PROCESS),
    param("io-threads", "1", int(1, 128), THREADS).flags(IMMUTABLE),
    param("io-threads-do-reads", "no", Kind::Bool, THREADS).flags(IMMUTABLE),
    param("jemalloc-bg-thread", "yes", Kind::Bool, ALLOCATOR),
    param("key-load-delay", "0", int(INT_MIN, INT_MAX), PERSISTENCE).flags(HIDDEN),
    param("latency-monitor-threshold", "0", int(0, LONG_MAX), LATENCY),
    param("latency-tracking", "yes", Kind::Bool, LATENCY),
    param(
        "latency-tracking-info-percentiles",
        "50 99 99.9",
        Kind::Percentiles,
        LATENCY,
    ),
    param("lazyfree-lazy-eviction", "no", Kind::Bool, ALLOCATOR),
    param("lazyfree-lazy-expire", "no", Kind::Bool, ALLOCATOR),
    param("lazyfree-lazy-server-del", "no", Kind::Bool, ALLOCATOR),
    param("lazyfree-lazy-user-del", "no", Kind::Bool, ALLOCATOR),
    param("lazyfree-lazy-user-flush", "no", Kind::Bool, ALLOCATOR),
    param("lfu-decay-time", "1", int(0, INT_MAX), EVICTION),
    param("lfu-log-factor", "10", int(0, INT_MAX), EVICTION),
    param("list-compress-depth", "0", int(0, INT_MAX), ENCODING),
    param(
        "list-max-listpack-size",
        "-2",
        int(INT_MIN, INT_MAX),
        ENCODING,
    )
    .alias("list-max-ziplist-size"),
    param(
        "loading-process-events-interval-bytes",
        "2097152",
        int(1024, INT_MAX),
        PERSISTENCE,
    )
    .flags(HIDDEN),
    param("logfile", "", string(false), PROCESS).flags(IMMUTABLE),
    param(
        "loglevel",
        "notice",
        Kind::Enum(&[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)]),
        PROCESS,
    ),
    param("masterauth", "", NULLABLE, REPLICATION),
    param("masteruser", "", NULLABLE, REPLICATION),
    param(
        "maxclients",
        "10000",
        uint(1, UINT_MAX),
        Effect::Applied(
            "connections past it are refused with \"ERR max number of clients reached\"",
        ),
    ),
    param("maxmemory", "0", umem(0, ULLONG_MAX), EVICTION),
    param(
        "maxmemory-clients",
        "0",
        num(-100, LONG_MAX, NumFormat::MemoryOrPercent, false),
        CLIENT_EVICTION,
    ),
    param("maxmemory-eviction-tenacity", "10", int(0, 100), EVICTION),
    param(
        "maxmemory-policy",
        "noeviction",
        Kind::Enum(&[
            ("volatile-lru", 0),
            ("volatile-lfu", 1),
            ("volatile-random", 2),
            ("volatile-ttl", 3),
            ("allkeys-lru", 4),
            ("allkeys-lfu", 5),
            ("allkeys-random", 6),
            ("noeviction", 7),
        ]),
        EVICTION,
    ),
    param("maxmemory-samples", "5", int(1, INT_MAX), EVICTION),
    param("min-replicas-max-lag", "10", int(0, INT_MAX), REPLICATION).alias("min-slaves-max-lag"),
    param("min-replicas-to-write", "0", int(0, INT_MAX), REPLICATION).alias("min-slaves-to-write"),
    param("no-appendfsync-on-rewrite", "no", Kind::Bool, PERSISTENCE),
    param(
        "notify-keyspace-events",
        "",
        Kind::KeyspaceEvents,
        Effect::Applied("keyspace events are published by every core (shard/notify.rs)"),
    ),
    param(
        "oom-score-adj",
        "no",
        Kind::Enum(&[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)]),
        PROCESS,
    ),
    param(
        "oom-score-adj-values",
        "0 200 800",
        Kind::OomScoreAdjValues,
        PROCESS,
    ),
    param("pidfile", "", NULLABLE, PROCESS).flags(IMMUTABLE),
    // Holdfast: the listeners are bound once at start.
    param("port", "6379", int(0, 65535), LISTENER).flags(IMMUTABLE),
    param(
        "proc-title-template",
        "{title} {listen-addr} {server-mode}",
        checked(false, check_proc_title),
        PROCESS,
    ),
    param(
        "propagation-error-behavior",
        "ignore",
        Kind::Enum(&[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)]),
        REPLICATION,
    ),
    param("protected-mode", "yes", Kind::Bool, SOCKETS),
    param(
        "proto-max-bulk-len",
        "536870912",
        mem(1 << 20, LONG_MAX),
        PROTOCOL,
    ),
    param("rdb-del-sync-files", "no", Kind::Bool, PERSISTENCE),
    param(
        "rdb-key-save-delay",
        "0",
        int(INT_MIN, INT_MAX),
        PERSISTENCE,
    )
    .flags(HIDDEN),
    param("rdb-save-incremental-fsync", "yes", Kind::Bool, PERSISTENCE),
    param("rdbchecksum", "yes", Kind::Bool, PERSISTENCE).flags(IMMUTABLE),
    param("rdbcompression", "yes", Kind::Bool, PERSISTENCE),
    param(
        "repl-backlog-size",
        "1048576",
        mem(1, LONG_MAX),
        REPLICATION,
    ),
    param("repl-backlog-ttl", "3600", int(0, LONG_MAX), REPLICATION),
    param("repl-disable-tcp-nodelay", "no", Kind::Bool, REPLICATION),
    param(
        "repl-diskless-load",
        "disabled",
        Kind::Enum(&[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)]),
        REPLICATION,
    ),
    param("repl-diskless-sync", "yes", Kind::Bool, REPLICATION),
    param(
        "repl-diskless-sync-delay",
        "5",
        int(0, INT_MAX),
        REPLICATION,
    ),
    param(
        "repl-diskless-sync-max-replicas",
        "0",
        int(0, INT_MAX),
        REPLICATION,
    ),
    param(
        "repl-ping-replica-period",
        "10",
        int(1, INT_MAX),
        REPLICATION,
    )
    .alias("repl-ping-slave-period"),
    param("repl-timeout", "60", int(1, INT_MAX), REPLICATION),
    param("replica-announce-ip", "", NULLABLE, REPLICATION).alias("slave-announce-ip"),
    param("replica-announce-port", "0", int(0, 65535), REPLICATION).alias("slave-announce-port"),
    param("replica-announced", "yes", Kind::Bool, REPLICATION),
    param(
        "replica-ignore-disk-write-errors",
        "no",
        Kind::Bool,
        REPLICATION,
    ),
    param("replica-ignore-maxmemory", "yes", Kind::Bool, REPLICATION)
        .alias("slave-ignore-maxmemory"),
    param("replica-lazy-flush", "no", Kind::Bool, REPLICATION).alias("slave-lazy-flush"),
    param("replica-priority", "100", int(0, INT_MAX), REPLICATION).alias("slave-priority"),
    param("replica-read-only", "yes", Kind::Bool, REPLICATION).alias("slave-read-only"),
    param("replica-serve-stale-data", "yes", Kind::Bool, REPLICATION)
        .alias("slave-serve-stale-data"),
    param(
        "replicaof",
        "",
        Kind::ReplicaOf,
        Effect::DefaultOnly(
            "Holdfast replicas follow the quorum log, not a Redis primary: remove replicaof",
        ),
    )
    .alias("slaveof")
    .flags(IMMUTABLE),
    param(
        "requirepass",
        "",
        NULLABLE,
        Effect::DefaultOnly(
            "Holdfast does not check passwords yet: leave requirepass empty and restrict \
         access with bind",
        ),
    ),
    param(
        "sanitize-dump-payload",
        "no",
        Kind::Enum(&[("no", 0), ("yes", 1), ("clients", 2)]),
        NOT_YET,
    ),
    // Holdfast never writes RDB files (durability is the log's), so it reports no save
    // points, as a Redis started with `--save ""` does; tools that read it see the truth.
    param("save", "", Kind::Save, PERSISTENCE),
    param("server_cpulist", "", NULLABLE, THREADS).flags(IMMUTABLE),
    param("set-max-intset-entries", "512", uint(0, LONG_MAX), ENCODING),
    param("set-proc-title", "yes", Kind::Bool, PROCESS).flags(IMMUTABLE),
    param(
        "shutdown-on-sigint",
        "default",
        Kind::ShutdownFlags,
        PROCESS,
    ),
    param(
        "shutdown-on-sigterm",
        "default",
        Kind::ShutdownFlags,
        PROCESS,
    ),
    param("shutdown-timeout", "10", int(0, INT_MAX), PROCESS),
    param(
        "slowlog-log-slower-than",
        "10000",
        int(-1, LONG_MAX),
        SLOWLOG,
    ),
    param("slowlog-max-len", "128", int(0, LONG_MAX), SLOWLOG),
    param("socket-mark-id", "0", uint(0, UINT_MAX), SOCKETS).flags(IMMUTABLE),
    param(
        "stop-writes-on-bgsave-error",
        "yes",
        Kind::Bool,
        PERSISTENCE,
    ),
    param("stream-node-max-bytes", "4096", umem(0, LONG_MAX), ENCODING),
    param("stream-node-max-entries", "100", int(0, LONG_MAX), ENCODING),
    param(
        "supervised",
        "no",
        Kind::Enum(&[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)]),
        PROCESS,
    )
    .flags(IMMUTABLE),
    param("syslog-enabled", "no", Kind::Bool, PROCESS).flags(IMMUTABLE),
    param(
        "syslog-facility",
        "local0",
        Kind::Enum(&[
            ("user", 8),
            ("local0", 128),
            ("local1", 136),
            ("local2", 144),
            ("local3", 152),
            ("local4", 160),
            ("local5", 168),
            ("local6", 176),
            ("local7", 184),
        ]),
        PROCESS,
    )
    .flags(IMMUTABLE),
    param("syslog-ident", "redis", string(false), PROCESS).flags(IMMUTABLE),
    param("tcp-backlog", "511", int(0, INT_MAX), SOCKETS).flags(IMMUTABLE),
    param("tcp-keepalive", "300", int(0, INT_MAX), SOCKETS),
    param(
        "timeout",
        "0",
        int(0, INT_MAX),
        Effect::Applied(
            "each core's cron closes connections idle for longer (checked `hz` times a second)",
        ),
    ),
    param(
        "tls-auth-clients",
        "yes",
        Kind::Enum(&[("no", 0), ("yes", 1), ("optional", 2)]),
        TLS,
    ),
    param("tls-ca-cert-dir", "", NULLABLE, TLS),
    param("tls-ca-cert-file", "", NULLABLE, TLS),
    param("tls-cert-file", "", NULLABLE, TLS),
    param("tls-ciphers", "", NULLABLE, TLS),
    param("tls-ciphersuites", "", NULLABLE, TLS),
    param("tls-client-cert-file", "", NULLABLE, TLS),
    param("tls-client-key-file", "", NULLABLE, TLS),
    param("tls-client-key-file-pass", "", NULLABLE, TLS),
    param("tls-cluster", "no", Kind::Bool, TLS),
    param("tls-dh-params-file", "", NULLABLE, TLS),
    param("tls-key-file", "", NULLABLE, TLS),
    param("tls-key-file-pass", "", NULLABLE, TLS),
    param(
        "tls-port",
        "0",
        int(0, 65535),
        Effect::DefaultOnly(
            "Holdfast has no TLS listener yet: leave tls-port 0 and terminate TLS in a proxy",
        ),
    ),
    param("tls-prefer-server-ciphers", "no", Kind::Bool, TLS),
    param("tls-protocols", "", NULLABLE, TLS),
    param("tls-replication", "no", Kind::Bool, TLS),
    param("tls-session-cache-size", "20480", int(0, INT_MAX), TLS),
    param("tls-session-cache-timeout", "300", int(0, INT_MAX), TLS),
    param("tls-session-caching", "yes", Kind::Bool, TLS),
    param(
        "tracking-table-max-keys",
        "1000000",
        uint(0, LONG_MAX),
        Effect::Applied(
            "CLIENT TRACKING: past it, remembered keys are dropped with an invalidation",
        ),
    ),
    param("unixsocket", "", NULLABLE, SOCKETS).flags(IMMUTABLE),
    param(
        "unixsocketperm",
        "0",
        num(0, 0o777, NumFormat::Octal, true),
        SOCKETS,
    )
    .flags(IMMUTABLE),
    param("use-exit-on-panic", "no", Kind::Bool, PROCESS).flags(HIDDEN),
    param("watchdog-period", "0", int(0, INT_MAX), PROCESS).flags(HIDDEN),
    param(
        "zset-max-listpack-entries",
        "128",
        uint(0, LONG_MAX),
        ENCODING,
    )
    .alias("zset-max-ziplist-entries"),
    param("zset-max-listpack-value", "64", umem(0, LONG_MAX), ENCODING)
        .alias("zset-max-ziplist-value"),
];

/// Index of a parameter by its name or alias in any case, and whether the alias was used.
pub fn lookup(name: &str) -> Option<(usize, bool)> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static BY_NAME: OnceLock<HashMap<String, (usize, bool)>> = OnceLock::new();
    let by_name = BY_NAME.get_or_init(|| {
        let mut map = HashMap::new();
        for (index, param) in PARAMS.iter().enumerate() {
            map.insert(param.name.to_string(), (index, false));
            if let Some(alias) = param.alias {
                map.insert(alias.to_string(), (index, true));
            }
        }
        map
    });
    by_name.get(&name.to_ascii_lowercase()).copied()
}

/// Index of a parameter by its primary name (for code that reads a known parameter).
pub fn index_of(name: &str) -> usize {
    PARAMS
        .iter()
        .position(|p| p.name == name)
        .unwrap_or_else(|| panic!("no configuration parameter named {name}"))
}

/// Redis's deprecated directives, still accepted (and ignored) in files with one argument.
pub const DEPRECATED: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, args: &[&str]) -> Result<String, String> {
        let param = &PARAMS[lookup(name).unwrap().0];
        param.parse(args, None).map(|v| param.render(&v))
    }

    #[test]
    fn table_is_sorted_unique_and_defaults_parse_to_themselves() {
        let names: Vec<&str> = PARAMS.iter().map(|p| p.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "PARAMS must stay sorted and unique");
        for param in PARAMS.iter().filter(|p| !matches!(p.kind, Kind::Dir)) {
            let value = param.default_value();
            assert_eq!(param.render(&value), param.default, "{}", param.name);
        }
    }

    /// The names Redis 7.0.15 returns for `CONFIG GET *` (aliases included, hidden
    /// parameters excluded), captured from a running redis-server 7.0.15.
    const REDIS_7_0_15_NAMES: &str = "acl-pubsub-default aclfile acllog-max-len \
        active-defrag-cycle-max active-defrag-cycle-min active-defrag-ignore-bytes \
        active-defrag-max-scan-fields active-defrag-threshold-lower \
        active-defrag-threshold-upper active-expire-effort activedefrag activerehashing \
        always-show-logo aof-disable-auto-gc aof-load-truncated \
        aof-rewrite-incremental-fsync aof-timestamp-enabled aof-use-rdb-preamble \
        aof_rewrite_cpulist appenddirname appendfilename appendfsync appendonly \
        auto-aof-rewrite-min-size auto-aof-rewrite-percentage bgsave_cpulist bind \
        bind-source-addr bio_cpulist busy-reply-threshold client-output-buffer-limit \
        client-query-buffer-limit cluster-allow-pubsubshard-when-down \
        cluster-allow-reads-when-down cluster-allow-replica-migration \
        cluster-announce-bus-port cluster-announce-hostname cluster-announce-ip \
        cluster-announce-port cluster-announce-tls-port cluster-config-file \
        cluster-enabled cluster-link-sendbuf-limit cluster-migration-barrier \
        cluster-node-timeout cluster-port cluster-preferred-endpoint-type \
        cluster-replica-no-failover cluster-replica-validity-factor \
        cluster-require-full-coverage cluster-slave-no-failover \
        cluster-slave-validity-factor crash-log-enabled crash-memcheck-enabled daemonize \
        databases dbfilename dir disable-thp dynamic-hz enable-debug-command \
        enable-module-command enable-protected-configs hash-max-listpack-entries \
        hash-max-listpack-value hash-max-ziplist-entries hash-max-ziplist-value \
        hll-sparse-max-bytes hz ignore-warnings io-threads io-threads-do-reads \
        jemalloc-bg-thread latency-monitor-threshold latency-tracking \
        latency-tracking-info-percentiles lazyfree-lazy-eviction lazyfree-lazy-expire \
        lazyfree-lazy-server-del lazyfree-lazy-user-del lazyfree-lazy-user-flush \
        lfu-decay-time lfu-log-factor list-compress-depth list-max-listpack-size \
        list-max-ziplist-size logfile loglevel lua-time-limit masterauth masteruser \
        maxclients maxmemory maxmemory-clients maxmemory-eviction-tenacity \
        maxmemory-policy maxmemory-samples min-replicas-max-lag min-replicas-to-write \
        min-slaves-max-lag min-slaves-to-write no-appendfsync-on-rewrite \
        notify-keyspace-events oom-score-adj oom-score-adj-values pidfile port \
        proc-title-template propagation-error-behavior protected-mode proto-max-bulk-len \
        rdb-del-sync-files rdb-save-incremental-fsync rdbchecksum rdbcompression \
        repl-backlog-size repl-backlog-ttl repl-disable-tcp-nodelay repl-diskless-load \
        repl-diskless-sync repl-diskless-sync-delay repl-diskless-sync-max-replicas \
        repl-ping-replica-period repl-ping-slave-period repl-timeout replica-announce-ip \
        replica-announce-port replica-announced replica-ignore-disk-write-errors \
        replica-ignore-maxmemory replica-lazy-flush replica-priority replica-read-only \
        replica-serve-stale-data replicaof requirepass sanitize-dump-payload save \
        server_cpulist set-max-intset-entries set-proc-title shutdown-on-sigint \
        shutdown-on-sigterm shutdown-timeout slave-announce-ip slave-announce-port \
        slave-ignore-maxmemory slave-lazy-flush slave-priority slave-read-only \
        slave-serve-stale-data slaveof slowlog-log-slower-than slowlog-max-len \
        socket-mark-id stop-writes-on-bgsave-error stream-node-max-bytes \
        stream-node-max-entries supervised syslog-enabled syslog-facility syslog-ident \
        tcp-backlog tcp-keepalive timeout tls-auth-clients tls-ca-cert-dir \
        tls-ca-cert-file tls-cert-file tls-ciphers tls-ciphersuites tls-client-cert-file \
        tls-client-key-file tls-client-key-file-pass tls-cluster tls-dh-params-file \
        tls-key-file tls-key-file-pass tls-port tls-prefer-server-ciphers tls-protocols \
        tls-replication tls-session-cache-size tls-session-cache-timeout \
        tls-session-caching tracking-table-max-keys unixsocket unixsocketperm \
        zset-max-listpack-entries zset-max-listpack-value zset-max-ziplist-entries \
        zset-max-ziplist-value";

    #[test]
    fn same_parameters_as_redis_7_0_15() {
        let mut ours: Vec<&str> = PARAMS
            .iter()
            .filter(|p| p.flags & HIDDEN == 0)
            .flat_map(|p| std::iter::once(p.name).chain(p.alias))
            .collect();
        ours.sort_unstable();
        let mut redis: Vec<&str> = REDIS_7_0_15_NAMES.split_whitespace().collect();
        redis.sort_unstable();
        assert_eq!(ours, redis);
        assert_eq!(redis.len(), 192);
    }

    #[test]
    fn numbers_like_redis() {
        let bad_int = "argument couldn't be parsed into an integer";
        for text in ["+5", " 5", "05", "0x10", "5.0", "-0", ""] {
            assert_eq!(parse("maxmemory-samples", &[text]), Err(bad_int.into()));
        }
        assert_eq!(
            parse("maxclients", &["0"]),
            Err("argument must be between 1 and 4294967295 inclusive".into())
        );
        assert_eq!(
            parse("maxclients", &["-1"]),
            Err("argument must be between 1 and 4294967295 inclusive".into())
        );
        assert_eq!(
            parse("slowlog-log-slower-than", &["-2"]),
            Err("argument must be between -1 and 9223372036854775807 inclusive".into())
        );
        assert_eq!(parse("hz", &["1000000"]), Ok("500".into()));
        assert_eq!(parse("hz", &["0"]), Ok("1".into()));
    }

    #[test]
    fn memory_sizes_like_redis() {
        assert_eq!(parse("maxmemory", &["1GB"]), Ok("1073741824".into()));
        assert_eq!(parse("maxmemory", &["1g"]), Ok("1000000000".into()));
        assert_eq!(parse("maxmemory", &["2k"]), Ok("2000".into()));
        assert_eq!(parse("maxmemory", &["kb"]), Ok("0".into()));
        assert_eq!(parse("maxmemory", &[""]), Ok("0".into()));
        assert_eq!(
            parse("maxmemory", &["99999999999999999999"]),
            Ok("18446744073709551615".into())
        );
        for bad in ["-5", "+5", "1.5mb", " 1mb", "1x"] {
            assert_eq!(
                parse("maxmemory", &[bad]),
                Err("argument must be a memory value".into())
            );
        }
        assert_eq!(
            parse("proto-max-bulk-len", &["1"]),
            Err("argument must be between 1048576 and 9223372036854775807 inclusive".into())
        );
        // Above LLONG_MAX the C cast wraps negative, and the bounds reject it.
        assert!(parse("proto-max-bulk-len", &["18446744073709551615"]).is_err());
        assert_eq!(parse("maxmemory-clients", &["10%"]), Ok("10%".into()));
        assert_eq!(parse("maxmemory-clients", &["0%"]), Ok("0".into()));
        assert_eq!(
            parse("maxmemory-clients", &["200%"]),
            Err("percentage argument must be less or equal to 100".into())
        );
        assert_eq!(
            parse("maxmemory-clients", &["-1"]),
            Err("argument must be a memory or percent value".into())
        );
        assert_eq!(format_memory(1 << 30), "1gb");
        assert_eq!(format_memory(3 << 20), "3mb");
        assert_eq!(format_memory(2048), "2kb");
        assert_eq!(format_memory(1000), "1000");
    }

    #[test]
    fn enums_and_bools_like_redis() {
        assert_eq!(parse("activerehashing", &["YES"]), Ok("yes".into()));
        assert_eq!(
            parse("activerehashing", &["1"]),
            Err("argument must be 'yes' or 'no'".into())
        );
        assert_eq!(
            parse("maxmemory-policy", &["NoEviction"]),
            Ok("noeviction".into())
        );
        assert_eq!(parse("oom-score-adj", &["relative"]), Ok("yes".into()));
        assert_eq!(
            parse("oom-score-adj", &["x"]),
            Err("argument(s) must be one of the following: no, yes, relative, absolute".into())
        );
        assert_eq!(parse("unixsocketperm", &["755"]), Ok("755".into()));
        assert_eq!(
            parse("unixsocketperm", &["999"]),
            Err("argument couldn't be parsed as an octal number".into())
        );
    }

    #[test]
    fn special_parameters_like_redis() {
        assert_eq!(
            parse("save", &["10", "1", "20", "2"]),
            Ok("10 1 20 2".into())
        );
        assert_eq!(parse("save", &[""]), Ok("".into()));
        for bad in [
            &["1"][..],
            &["0", "1"],
            &["10", "-1"],
            &["abc", "1"],
            &["", "1"],
        ] {
            assert_eq!(parse("save", bad), Err("Invalid save parameters".into()));
        }
        assert_eq!(
            parse("client-output-buffer-limit", &["normal", "1mb", "2k", "3"]),
            Ok(
                "normal 1048576 2000 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
                    .into()
            )
        );
        assert_eq!(
            parse("client-output-buffer-limit", &["master", "1", "1", "1"]),
            Err("Invalid client class specified in buffer limit configuration.".into())
        );
        assert_eq!(
            parse("client-output-buffer-limit", &["normal", "1", "1", "-1"]),
            Err(
                "Error in hard, soft or soft_seconds setting in buffer limit configuration.".into()
            )
        );
        assert_eq!(parse("notify-keyspace-events", &["KEA"]), Ok("AKE".into()));
        assert_eq!(
            parse("notify-keyspace-events", &["Kg$lshzxetmd"]),
            Ok("AKm".into())
        );
        assert_eq!(parse("notify-keyspace-events", &["Exn"]), Ok("xnE".into()));
        assert_eq!(parse("notify-keyspace-events", &["An"]), Ok("A".into()));
        assert_eq!(parse("notify-keyspace-events", &["Kn"]), Ok("nK".into()));
        assert!(parse("notify-keyspace-events", &["Z"]).is_err());
        assert_eq!(
            parse("oom-score-adj-values", &["1", "2"]),
            Err("wrong number of arguments".into())
        );
        assert_eq!(
            parse(
                "latency-tracking-info-percentiles",
                &["50", "99.90", "12.3456789"]
            ),
            Ok("50 99.9 12.345679".into())
        );
        assert_eq!(
            parse("latency-tracking-info-percentiles", &["1e1", "0x10"]),
            Ok("10 16".into())
        );
        assert_eq!(
            parse("latency-tracking-info-percentiles", &["inf"]),
            Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into()
            )
        );
        assert_eq!(
            parse("shutdown-on-sigint", &["now", "force", "save"]),
            Ok("save now force".into())
        );
        assert_eq!(
            parse("shutdown-on-sigint", &["default", "now"]),
            Ok("now".into())
        );
        assert!(parse("shutdown-on-sigint", &["save", "nosave"]).is_err());
        assert_eq!(parse("replicaof", &["no", "one"]), Ok("".into()));
        assert_eq!(
            parse("slaveof", &["h", "70000"]),
            Err("Invalid master port".into())
        );
    }

    #[test]
    fn string_checks_like_redis() {
        assert!(parse("dbfilename", &["a/b"]).is_err());
        assert_eq!(
            parse("proc-title-template", &["{title}"]).map(|_| ()),
            Err("template format is invalid or contains unknown variables".into())
        );
        for ok in [
            "x",
            "{{",
            "}",
            "{port}",
            "a{{b}}",
            "{server-mode}{listen-addr}",
        ] {
            assert!(parse("proc-title-template", &[ok]).is_ok(), "{ok}");
        }
        for bad in ["", "{title", "{unixsocket}", "{nope}"] {
            assert!(parse("proc-title-template", &[bad]).is_err(), "{bad}");
        }
        assert!(parse("cluster-announce-hostname", &["a_b"]).is_err());
        assert!(parse("cluster-announce-hostname", &["a.b-c"]).is_ok());
    }

    #[test]
    fn dir_must_exist_and_is_shown_absolute() {
        let tmp = std::env::temp_dir().canonicalize().unwrap();
        let param = &PARAMS[index_of("dir")];
        let current = Value::Dir(tmp.clone());
        let value = param.parse(&["."], Some(&current)).unwrap();
        assert_eq!(param.render(&value), tmp.display().to_string());
        assert_eq!(
            param.parse(&["no-such-dir-here"], Some(&current)),
            Err("No such file or directory".into())
        );
    }
}

/// `docs/config.md` is generated from `PARAMS`, so the documentation cannot drift from the
/// table: the test fails when they differ, and `HOLDFAST_BLESS_DOCS=1 cargo test -p
/// holdfast-server --lib docs_are_generated_from_the_table` rewrites it.
#[cfg(test)]
mod docs {
    use super::*;

    const INTRO: &str = "\
# Configuration parameters

<!-- Generated from server/src/config/params.rs by the test
     `docs_are_generated_from_the_table`; edit the table, not this file. -->

Holdfast knows every configuration parameter of Redis 7.0.15, by the same names and
aliases, with the same defaults, bounds, units and error texts. They come from:

- a redis.conf-style file, given as `holdfast-server FILE` or `--config FILE` (same
  syntax as Redis: quoting, several `save` lines, `include`, errors naming the line);
- command-line flags, which win over the file (`--port`, `--bind`, `--dir`);
- `CONFIG SET` at run time, several pairs at once, all or nothing;
- `CONFIG REWRITE` writes the current values back into the file the server started
  with, keeping its comments and layout, as Redis does.

Each parameter is in one of three groups:

- **Applied**: the value takes effect.
- **Accepted only at the default**: any other value asks for something Holdfast does
  not do, and silently ignoring it would mislead (a password nobody checks, a TLS port
  nobody listens on); the server refuses it and says what to do instead.
- **Accepted, not applicable**: stored, shown by `CONFIG GET` and rewritten, but it
  changes nothing in Holdfast, for the reason given.

Where Holdfast differs from Redis on purpose:

- `bind` defaults to `127.0.0.1` (Redis: `* -::*`).
- `port`, `bind` and `dir` cannot change at run time (\"can't set immutable config\"):
  the listeners are bound once, and the log's data directory cannot move under a
  running server. Set them in the file or with flags.
- `CONFIG REWRITE` writes no ACL `user` lines (Holdfast has no ACL users), and appends
  new lines in this table's order (Redis: its hash table's order).
- Directives Holdfast cannot honour (`rename-command`, `user`, `loadmodule`, module
  parameters) stop the server at startup with an error naming the line, rather than being
  ignored.
- `CONFIG SET repl-backlog-size` below 16kb is not raised to 16kb as Redis does (the
  replication backlog does not exist in Holdfast).

In the tables, *run time* says whether `CONFIG SET` may change the parameter: `yes`,
`no` (immutable) or `protected` (only with `enable-protected-configs yes`, or `local` for
clients on 127.0.0.1 or ::1). Hidden parameters answer `CONFIG GET` of their exact name
only, never a pattern.
";

    fn kind_text(kind: &Kind) -> String {
        let range = |num: &Num| {
            let show = |v: i128| match v {
                v if v == i64::MAX as i128 => "2^63-1".to_string(),
                v if v == u64::MAX as i128 => "2^64-1".to_string(),
                v if v == u32::MAX as i128 => "2^32-1".to_string(),
                v if v == i32::MAX as i128 => "2^31-1".to_string(),
                v if v == i32::MIN as i128 => "-2^31".to_string(),
                v => v.to_string(),
            };
            format!("{}..{}", show(num.min), show(num.max))
        };
        match kind {
            Kind::Bool => "yes/no".into(),
            Kind::Num(num) => match num.format {
                NumFormat::Integer => format!("integer {}", range(num)),
                NumFormat::Memory => format!("bytes {} (k, kb, m, mb, g, gb)", range(num)),
                NumFormat::MemoryOrPercent => "bytes, or a percentage up to 100%".into(),
                NumFormat::Octal => format!("octal {:o}..{:o}", num.min, num.max),
            },
            Kind::Enum(names) => {
                let names: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                names.join(", ")
            }
            Kind::Str { .. } => "string".into(),
            Kind::Save => "pairs of seconds and changes".into(),
            Kind::OutputBufferLimit => "class hard soft seconds, ...".into(),
            Kind::KeyspaceEvents => "event classes (Ag$lshzxeKEtmdn)".into(),
            Kind::Bind => "up to 16 addresses".into(),
            Kind::ReplicaOf => "host port, or no one".into(),
            Kind::OomScoreAdjValues => "three integers -2000..2000".into(),
            Kind::Percentiles => "percentiles 0..100".into(),
            Kind::Dir => "an existing directory".into(),
            Kind::ShutdownFlags => "default, or save/nosave, now, force".into(),
        }
    }

    fn row(param: &Param, effect: &str) -> String {
        let run_time = match param.flags {
            f if f & IMMUTABLE != 0 => "no",
            f if f & PROTECTED != 0 => "protected",
            _ => "yes",
        };
        let mut name = format!("`{}`", param.name);
        if let Some(alias) = param.alias {
            name.push_str(&format!(" (alias `{alias}`)"));
        }
        if param.flags & HIDDEN != 0 {
            name.push_str(" (hidden)");
        }
        let default = match param.kind {
            Kind::Dir => "the working directory".to_string(),
            _ if param.default.is_empty() => "\"\"".to_string(),
            _ => format!("`{}`", param.default.replace('|', "\\|")),
        };
        let kind = kind_text(&param.kind).replace('|', "\\|");
        if effect.is_empty() {
            format!("| {name} | {default} | {kind} | {run_time} |\n")
        } else {
            format!("| {name} | {default} | {kind} | {run_time} | {effect} |\n")
        }
    }

    const HEADER: &str = "| parameter | default | value | run time |\n|---|---|---|---|\n";

    fn markdown() -> String {
        let mut out = String::from(INTRO);
        out.push_str("\n## Applied\n\n");
        out.push_str(
            "| parameter | default | value | run time | effect |\n|---|---|---|---|---|\n",
        );
        for param in PARAMS {
            if let Effect::Applied(how) = param.effect {
                out.push_str(&row(param, how));
            }
        }
        out.push_str("\n## Accepted only at the default\n\n");
        for param in PARAMS {
            if let Effect::DefaultOnly(why) = param.effect {
                out.push_str(&format!(
                    "- `{}` (default {}): {why}.\n",
                    param.name,
                    row_default(param)
                ));
            }
        }
        out.push_str("\n## Accepted, not applicable\n");
        let mut reasons: Vec<&str> = Vec::new();
        for param in PARAMS {
            if let Effect::Ignored(why) = param.effect {
                if !reasons.contains(&why) {
                    reasons.push(why);
                }
            }
        }
        for why in reasons {
            out.push_str(&format!("\n### Because {why}\n\n"));
            out.push_str(HEADER);
            for param in PARAMS.iter().filter(|p| p.effect == Effect::Ignored(why)) {
                out.push_str(&row(param, ""));
            }
        }
        out
    }

    fn row_default(param: &Param) -> String {
        if param.default.is_empty() {
            "\"\"".into()
        } else {
            format!("`{}`", param.default)
        }
    }

    #[test]
    fn docs_are_generated_from_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md");
        let expected = markdown();
        if std::env::var_os("HOLDFAST_BLESS_DOCS").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            actual == expected,
            "docs/config.md is out of date: run HOLDFAST_BLESS_DOCS=1 cargo test -p \
             holdfast-server --lib docs_are_generated_from_the_table"
        );
    }
}
